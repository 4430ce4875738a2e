"""Switching pages on a clip recomputes nothing: decoding, features and model are cached.

Counts the real work (decoding, the model's forward passes, Grad-CAM, Explore's
features) while one session goes Classify → Explore → Classify → Explore on one clip.
"""

import io
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

import pages._common
from genrecls import explain, features
from genrecls.model_store import bundled_model_path
from genrecls.predict import GenrePredictor
from genrecls.synth import drum_loop, piano_melody
from pages._common import Clip

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 300

pytestmark = pytest.mark.skipif(
    not bundled_model_path().is_file(), reason="bundled model missing (run make model)"
)


@pytest.fixture
def work(monkeypatch) -> Counter:
    """Count decodes of the test clip (by rate), forward passes, Grad-CAMs, features."""
    calls: Counter = Counter()
    # the background warm-up of Explore's features (started after a verdict) computes
    # features too: let a running one finish, and start none while counting
    for thread in threading.enumerate():
        if thread.name == "genrecls-warm-features":
            thread.join()
    monkeypatch.setattr(pages._common, "warm_up_features", lambda: None)

    def counting(name, real, key=None):
        def wrapper(*args, **kwargs):
            calls[key(*args, **kwargs) if key else name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        pages._common,
        "load_audio",
        counting(
            "decode",
            pages._common.load_audio,
            key=lambda data, **kw: f"decode@{kw['sr']}" if kw.get("name") == "mix.wav" else "-",
        ),
    )
    monkeypatch.setattr(
        GenrePredictor,
        "predict_spectrogram",
        counting("classify", GenrePredictor.predict_spectrogram),
    )
    monkeypatch.setattr(explain, "explain_track", counting("gradcam", explain.explain_track))
    monkeypatch.setattr(
        explain, "classify_and_explain", counting("verdict+map", explain.classify_and_explain)
    )
    for name in ("log_mel", "mfcc", "chroma", "waveform_envelope"):
        monkeypatch.setattr(features, name, counting(name, getattr(features, name)))
    return calls


def test_switching_pages_on_a_classified_clip_recomputes_nothing(work: Counter) -> None:
    rng = np.random.default_rng(8)  # a clip no other test used: nothing cached yet
    y = 0.5 * drum_loop(sr=22050, seconds=6.0) + 0.5 * piano_melody(sr=22050, seconds=6.0)
    y = (y + 0.01 * rng.standard_normal(y.size)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, 22050, format="WAV")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["clip"] = Clip(buf.getvalue(), "mix.wav")

    at.run()  # Classify: decode at the model's rate, classify, Grad-CAM
    assert not at.exception and at.metric[0].label == "Genre"
    verdict = at.metric[0].value
    # the verdict and its Grad-CAM come from one pass (classify_and_explain)
    assert work["decode@16000"] == 1 and work["verdict+map"] == 1 and work["gradcam"] == 0
    after_classify = Counter(work)

    at.switch_page("pages/explore.py").run()  # Explore: its own display rate and features
    assert not at.exception and len(at.get("plotly_chart")) == 4
    assert work["decode@22050"] == 1
    assert work["log_mel"] == work["mfcc"] == work["chroma"] == 1
    assert work["classify"] == after_classify["classify"]  # Explore never runs the model
    assert work["gradcam"] == after_classify["gradcam"]
    assert work["verdict+map"] == after_classify["verdict+map"]
    after_explore = Counter(work)

    at.switch_page("pages/classify.py").run()  # back: everything comes from the caches
    assert not at.exception and at.metric[0].value == verdict
    at.switch_page("pages/explore.py").run()
    assert not at.exception and len(at.get("plotly_chart")) == 4
    assert work == after_explore
