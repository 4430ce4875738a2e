"""Classify page run headless with streamlit.testing.v1.AppTest (bundled model)."""

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

import pages._common
from genrecls.config import GENRES
from genrecls.model_store import bundled_model_path
from genrecls.synth import drum_loop, piano_melody
from pages._common import Clip

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 300

pytestmark = pytest.mark.skipif(
    not bundled_model_path().is_file(), reason="bundled model missing (run make model)"
)


def _wav(y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


def _run(clip: Clip | None, monkeypatch=None, user_models=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if clip is not None:
        at.session_state["clip"] = clip
    at.run()
    return at


def test_classify_is_the_default_page_and_invites_a_clip():
    at = _run(None)
    assert not at.exception
    assert at.title[0].value.startswith("🎧")
    assert any("demo clip" in i.value for i in at.info)


def test_classify_shows_verdict_timeline_and_gradcam():
    y = 0.5 * drum_loop(sr=22050, seconds=7.0) + 0.5 * piano_melody(sr=22050, seconds=7.0)
    at = _run(Clip(_wav(y, 22050), "mix.wav"))
    assert not at.exception
    assert at.metric[0].label == "Genre"
    assert at.metric[0].value.lower() in GENRES
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # top-3 bars, timeline, Grad-CAM overlay
    assert len(at.get("audio")) >= 3  # original, original again beside the resynthesis


def test_after_a_verdict_explores_features_warm_up_in_the_background(monkeypatch):
    warmed = threading.Event()
    monkeypatch.setattr(pages._common, "warm_up_features", warmed.set)
    pages._common.warm_explore_in_background.clear()  # once per server: forget earlier tests' run
    at = _run(None)
    assert not at.exception
    assert not warmed.wait(timeout=1.0)  # nothing before a song is classified
    y = 0.5 * drum_loop(sr=22050, seconds=5.0) + 0.5 * piano_melody(sr=22050, seconds=5.0)
    at = _run(Clip(_wav(y, 22050), "mix.wav"))
    assert not at.exception and at.metric[0].label == "Genre"
    assert warmed.wait(timeout=30.0)


def test_classify_plays_an_au_upload_as_wav(monkeypatch):
    """Browsers cannot play Sun .au (GTZAN's format): the players get the decoded WAV."""
    import streamlit

    given = []
    real_audio = streamlit.audio

    def recording_audio(data, *args, **kwargs):
        given.append((data, kwargs.get("format")))
        return real_audio(data, *args, **kwargs)

    monkeypatch.setattr(streamlit, "audio", recording_audio)
    y = 0.5 * drum_loop(sr=22050, seconds=5.0) + 0.5 * piano_melody(sr=22050, seconds=5.0)
    buf = io.BytesIO()
    sf.write(buf, y, 22050, format="AU", subtype="PCM_16")
    at = _run(Clip(buf.getvalue(), "blues.00000.au"))
    assert not at.exception
    originals = given[:2]  # the player under the file name, and "Original" beside the resynthesis
    assert len(given) >= 3
    for data, fmt in originals:
        assert fmt == "audio/wav"
        assert data[:4] == b"RIFF"
        assert sf.info(io.BytesIO(data)).duration == pytest.approx(5.0, abs=0.01)


def test_classify_bad_file_shows_a_message():
    at = _run(Clip(b"PK\x03\x04 zip pretending to be audio", "song.wav"))
    assert not at.exception
    assert at.error and "song.wav" in at.error[0].value


def test_classify_silence_is_flagged_as_not_music():
    at = _run(Clip(_wav(np.zeros(22050 * 4, np.float32), 22050), "silence.wav"))
    assert not at.exception
    texts = " ".join(w.value for w in at.warning)
    assert "not music" in texts.lower() or "silent" in texts.lower()


def test_choosing_another_genre_to_explain():
    y = drum_loop(sr=22050, seconds=4.0)
    at = _run(Clip(_wav(y, 22050), "drums.wav"))
    at.selectbox(key="classify_target").set_value("jazz").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3


@pytest.fixture
def analysed(monkeypatch):
    """Segments of each classify-and-explain pass the page runs, in order."""
    from genrecls import explain

    passes = []
    real = explain.classify_and_explain

    def counting(predictor, M, **kwargs):
        prediction, explanation = real(predictor, M, **kwargs)
        passes.append(len(prediction.segment_starts))
        return prediction, explanation

    monkeypatch.setattr(explain, "classify_and_explain", counting)
    return passes


def test_a_long_song_gets_a_first_look_then_every_segment(analysed):
    """More than FIRST_LOOK_ABOVE_SEGMENTS segments: a quick verdict, then the page refines."""
    from genrecls.predict import FIRST_LOOK_ABOVE_SEGMENTS, FIRST_LOOK_SEGMENTS

    seconds = 3.0 * (FIRST_LOOK_ABOVE_SEGMENTS + 6)
    rng = np.random.default_rng(5)  # a clip no other test classified
    y = 0.5 * drum_loop(sr=16000, seconds=seconds) + 0.5 * piano_melody(sr=16000, seconds=seconds)
    y = (y + 0.01 * rng.standard_normal(y.size)).astype(np.float32)
    at = _run(Clip(_wav(y, 16000), "long.wav"))
    assert not at.exception
    assert len(analysed) == 2  # the first look, then the refined verdict
    assert analysed[0] == FIRST_LOOK_SEGMENTS < FIRST_LOOK_ABOVE_SEGMENTS + 6 <= analysed[1]
    caption = " ".join(c.value for c in at.caption)
    assert f"Track verdict from {analysed[1]} segments" in caption
    assert not any("First look" in i.value for i in at.info)  # the refined page shows
    assert len(at.get("plotly_chart")) == 3


def test_a_30_second_clip_is_analysed_once(analysed):
    """Up to FIRST_LOOK_ABOVE_SEGMENTS segments: no first look, one pass over every segment."""
    rng = np.random.default_rng(6)  # a clip no other test classified
    y = drum_loop(sr=16000, seconds=30.0) + 0.01 * rng.standard_normal(16000 * 30)
    at = _run(Clip(_wav(y.astype(np.float32), 16000), "thirty.wav"))
    assert not at.exception
    assert analysed == [11]  # ten 3 s segments and one aligned to the end, in one pass
    assert not any("First look" in i.value for i in at.info)


def test_layercam_can_be_chosen_and_is_named_on_the_figure():
    y = drum_loop(sr=22050, seconds=4.0)
    at = _run(Clip(_wav(y, 22050), "drums.wav"))
    assert "Grad-CAM" in at.get("plotly_chart")[2].proto.spec
    at.radio(key="classify_kind").set_value("layercam").run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 3 and "LayerCAM" in charts[2].proto.spec
