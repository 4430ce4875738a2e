"""Classify page in a real browser: verdict, timeline, Grad-CAM; batch mode."""

import numpy as np
import pytest
import soundfile as sf

from genrecls.config import data_dir
from genrecls.model_store import bundled_model_path
from genrecls.synth import chord_progression, drum_loop

from .conftest import wait_for_app_idle

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not bundled_model_path().is_file(), reason="bundled model missing"),
]


def _classify(page, app_url, path):
    page.goto(f"{app_url}/")  # Classify is the default page: its address is /
    wait_for_app_idle(page)
    page.locator('input[type="file"]').first.set_input_files(str(path))
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=240_000)
    page.locator('[data-testid="stPlotlyChart"]').nth(2).wait_for(timeout=240_000)
    wait_for_app_idle(page, timeout=240_000)


def test_classify_a_real_song(page, app_url, screenshot_dir):
    """A real GTZAN excerpt gets a verdict, a timeline and a Grad-CAM overlay."""
    clips = sorted((data_dir() / "gtzan_excerpts_20s" / "metal").glob("*.flac"))
    if not clips:
        pytest.skip(f"no real clips under {data_dir()} (set GENRECLS_DATA_DIR)")
    _classify(page, app_url, clips[0])
    assert page.locator('[data-testid="stMetric"]').first.inner_text().startswith("Genre")
    assert page.get_by_text("Genre over time").first.is_visible()
    assert not page.locator('[data-testid="stException"]').count()
    page.screenshot(path=str(screenshot_dir / "classify_real_song.png"), full_page=True)


def test_batch_mode_offers_a_csv(page, app_url, tmp_path):
    """Several files at once give a table and a CSV download."""
    paths = []
    for i, y in enumerate(
        [drum_loop(sr=22050, seconds=3.5), chord_progression(sr=22050, seconds=3.5)]
    ):
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, y, 22050)
        paths.append(str(path))
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF1234WAVEjunk")
    paths.append(str(bad))
    page.goto(f"{app_url}/")  # Classify is the default page: its address is /
    wait_for_app_idle(page)
    page.get_by_role("tab", name="Several files").click()
    page.locator('input[type="file"]').nth(1).set_input_files(paths)
    download = page.get_by_test_id("stDownloadButton").get_by_role("button")
    download.wait_for(timeout=240_000)
    table = page.locator('[data-testid="stDataFrame"]').first
    assert table.is_visible()
    with page.expect_download() as info:
        download.click()
    csv = open(info.value.path()).read()
    assert "clip0.wav" in csv and "clip1.wav" in csv and "broken.wav" in csv
    assert np.sum([line.startswith("broken.wav") for line in csv.splitlines()]) == 1
