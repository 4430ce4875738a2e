"""Explore page run headless with streamlit.testing.v1.AppTest."""

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from genrecls.synth import chord_progression
from pages._common import Clip

TIMEOUT = 120
APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _wav_bytes(y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


def _run_explore(clip: Clip | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if clip is not None:
        at.session_state["clip"] = clip
    at.run()
    at.switch_page("pages/explore.py").run()
    return at


def test_explore_without_a_clip_invites_the_user():
    at = _run_explore(None)
    assert not at.exception
    assert any("demo clip" in info.value for info in at.info)


def test_explore_renders_four_figures_for_a_clip():
    y = chord_progression(sr=44100, seconds=3.0)
    at = _run_explore(Clip(_wav_bytes(np.stack([y, y], 1), 44100), "chords.wav"))
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 4
    assert "44100 Hz" in at.markdown[1].value or any("44100 Hz" in m.value for m in at.markdown)
    assert not at.error


@pytest.mark.parametrize(
    ("data", "name"),
    [(b"", "empty.wav"), (b"hello, this is text" * 20, "text.mp3"), (b"RIFF\x00\x00", "cut.wav")],
)
def test_explore_bad_file_shows_an_error_not_an_exception(data, name):
    at = _run_explore(Clip(data, name))
    assert not at.exception
    assert at.error and name in at.error[0].value
    assert not at.get("plotly_chart")


def test_changing_a_setting_keeps_figures():
    y = chord_progression(sr=22050, seconds=2.0)
    at = _run_explore(Clip(_wav_bytes(y, 22050), "chords.wav"))
    at.slider(key="explore_n_mfcc").set_value(13).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 4
