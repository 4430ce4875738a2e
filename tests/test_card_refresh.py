"""``python -m genrecls refresh-card``: the card's speed and saliency, measured again."""

from __future__ import annotations

import copy
import hashlib
import shutil

import numpy as np
import pytest
import soundfile as sf

from genrecls.card_refresh import COMMAND, refresh_card
from genrecls.exceptions import ParameterError
from genrecls.model_card import render_markdown


def _card_for(path) -> dict:
    return {
        "model": {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
        "candidates": {},
        "timing": {"text": "old timing, measured on a busy day"},
        "saliency": {"text": "old saliency checks"},
        "kept": [1, 2, 3],
    }


@pytest.fixture
def song(tmp_path, rng):
    """32 s of noisy chords at 22.05 kHz stereo (the speed is timed on 30 s)."""
    sr = 22050
    t = np.arange(32 * sr) / sr
    y = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 4
    y = y + 0.05 * rng.standard_normal(len(t))
    path = tmp_path / "song.wav"
    sf.write(path, np.stack([y, 0.8 * y], axis=1).astype(np.float32), sr)
    return path


def test_refresh_card_measures_timing_and_saliency_again(tiny_model_path, tmp_path, song):
    models = tmp_path / "models"
    models.mkdir()
    path = shutil.copy(tiny_model_path, models / "genre_model.pt")
    card = _card_for(path)
    before = copy.deepcopy(card)
    out = refresh_card(card, models_dir=models, song=song, repeats=1, steps=2)
    assert card == before  # the input is not modified
    assert out["kept"] == [1, 2, 3] and out["model"] == card["model"]
    timing = out["timing"]["models"]["genre_model.pt"]
    assert 0 < timing["verdict_s_median"] < 30
    assert 0 < timing["verdict_and_gradcam_s_median"] < 30
    assert COMMAND in out["timing"]["text"] and "song.wav" in out["timing"]["text"]
    assert out["saliency"]["text"].startswith(f"Measured by `{COMMAND}`")
    assert out["saliency"]["rows"]  # the maps were checked again
    assert out["refreshed"]["sections"] == ["timing", "saliency"]
    assert f"## Speed\n\n{out['timing']['text']}" in render_markdown_speed(out)


def render_markdown_speed(card: dict) -> str:
    """render_markdown of the bundled card with ``card``'s timing in it."""
    from genrecls.config import bundled_models_dir
    from genrecls.model_card import load_card

    bundled = load_card(bundled_models_dir() / "model_card.json")
    return render_markdown({**bundled, "timing": card["timing"]})


def test_refresh_card_refuses_a_card_of_another_model(tiny_model_path, tmp_path, song):
    models = tmp_path / "models"
    models.mkdir()
    path = shutil.copy(tiny_model_path, models / "genre_model.pt")
    card = _card_for(path)
    card["model"]["sha256"] = "0" * 64
    with pytest.raises(ParameterError, match="not the model the card describes"):
        refresh_card(card, models_dir=models, song=song, repeats=1, steps=2)
    card["model"]["file"] = "missing.pt"
    with pytest.raises(ParameterError, match="missing"):
        refresh_card(card, models_dir=models, song=song, repeats=1, steps=2)
