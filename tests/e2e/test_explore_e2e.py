"""Explore page in a real browser: upload a clip, see the four figures."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from genrecls.config import data_dir
from genrecls.synth import chord_progression, drum_loop

from .conftest import ffmpeg_available, wait_for_app_idle

pytestmark = pytest.mark.e2e


@pytest.fixture
def synthetic_mp3(tmp_path):
    if not ffmpeg_available():
        pytest.skip("ffmpeg is needed to make an mp3 (make test installs it)")
    y = 0.5 * drum_loop(sr=22050, seconds=6.0) + 0.5 * chord_progression(sr=22050, seconds=6.0)
    wav = tmp_path / "synthetic.wav"
    sf.write(wav, np.stack([y, y], axis=1), 22050)
    mp3 = tmp_path / "synthetic song.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(mp3)], check=True)
    return mp3


def _upload_and_wait(page, app_url, path):
    page.goto(f"{app_url}/explore")
    wait_for_app_idle(page)
    page.locator('input[type="file"]').first.set_input_files(str(path))
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.nth(3).wait_for(state="visible", timeout=120_000)
    wait_for_app_idle(page)
    return charts


def test_explore_shows_four_figures_for_an_uploaded_mp3(
    page, app_url, synthetic_mp3, screenshot_dir
):
    """An uploaded mp3 gives waveform, mel, MFCC and chroma figures with axes."""
    charts = _upload_and_wait(page, app_url, synthetic_mp3)
    assert charts.count() == 4
    for title in ("Waveform", "Mel spectrogram", "MFCC", "Chroma"):
        assert page.get_by_text(title, exact=True).first.is_visible()
    assert page.locator(".xtitle").first.text_content() == "Time (s)"
    assert not page.locator('[data-testid="stException"]').count()
    page.screenshot(path=str(screenshot_dir / "explore_synthetic_mp3.png"), full_page=True)


def test_explore_real_song(page, app_url, screenshot_dir):
    """A real mp3 from the shared data renders all four figures."""
    songs = sorted((data_dir() / "nazar_full_songs").glob("*/*.mp3"))
    if not songs:
        pytest.skip(f"no real songs under {data_dir()} (set GENRECLS_DATA_DIR)")
    charts = _upload_and_wait(page, app_url, songs[0])
    assert charts.count() == 4
    assert not page.locator('[data-testid="stException"]').count()
    page.screenshot(path=str(screenshot_dir / "explore_real_song.png"), full_page=True)


def test_explore_bad_file_shows_a_message(page, app_url, tmp_path):
    """A text file renamed .mp3 shows a readable error, never a traceback."""
    bad = tmp_path / "not really.mp3"
    bad.write_text("this is not audio\n" * 50)
    page.goto(f"{app_url}/explore")
    wait_for_app_idle(page)
    page.locator('input[type="file"]').first.set_input_files(str(bad))
    page.locator('[data-testid="stAlertContentError"]').first.wait_for(timeout=60_000)
    assert (
        "not really.mp3" in page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    )
    assert not page.locator('[data-testid="stException"]').count()
