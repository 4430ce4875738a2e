# genrecls — the two commands a person needs:
#   make app    set up (venv, Python packages, Debian ffmpeg) and start the app on :8501
#   make test   set up (dev packages, Debian chromium + ffmpeg) and run lint + the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: app test lint model card student musicnn assets system-app system-test system-model clean help

help:
	@echo "make app   - set up and start the Streamlit app on http://localhost:$(PORT)"
	@echo "make test  - set up and run lint + the whole test suite"
	@echo "make model - retrain the bundled model and rewrite its model card (slow)"

$(VENV)/.stamp-runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

system-app:
	@bash scripts/ensure_system_packages.sh ffmpeg

system-test:
	@bash scripts/ensure_system_packages.sh ffmpeg chromium espeak-ng fonts-noto-color-emoji fluidsynth timgm6mb-soundfont

# FluidSynth + the FluidR3 General MIDI soundfont render the shared MIDI for training.
system-model:
	@bash scripts/ensure_system_packages.sh ffmpeg fluidsynth fluid-soundfont-gm

app: system-app $(VENV)/.stamp-runtime
	OMP_WAIT_POLICY=PASSIVE $(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true

lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: system-test lint
	$(PY) -m pytest

# Rebuild models/: the feature-table baseline, the bundled model, its fast and lite variants, the card.
# Reads ../shared/data (or $$GENRECLS_DATA_DIR); caches under .cache/ (about 30-60 min on 2 cores).
model: system-model $(VENV)/.stamp-runtime
	$(PY) scripts/feature_baseline.py
	OMP_WAIT_POLICY=PASSIVE $(PY) -m genrecls train-bundled --no-measure
	OMP_WAIT_POLICY=PASSIVE $(PY) -m genrecls compress
	OMP_WAIT_POLICY=PASSIVE $(PY) -m genrecls prune
	$(MAKE) card

# Measure the card's speed (bundled, fast and lite models) and saliency sections again; no retraining.
card: $(VENV)/.stamp-runtime
	OMP_WAIT_POLICY=PASSIVE $(PY) -m genrecls refresh-card

# Distil the fast student (models/genre_model_student.pt) from the bundled model; after make model.
student: system-model $(VENV)/.stamp-runtime
	nice -n 10 $(PY) -m genrecls distill

# Re-convert the pretrained musicnn weights from the PyPI wheel (musicnn==0.1.0, ISC).
musicnn: $(VENV)/.stamp-runtime
	$(PY) scripts/convert_musicnn.py

assets: $(VENV)/.stamp-runtime
	$(PY) scripts/make_assets.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
