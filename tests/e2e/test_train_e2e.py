"""Train page in a real browser: train on the built-in set, watch, save, classify with it."""

import re
import time
import zipfile

import pytest

from genrecls.builtin_data import builtin_tracks

from .conftest import wait_for_app_idle

pytestmark = pytest.mark.e2e

CHART = '[data-testid="stPlotlyChart"]'


def _metric(page, label: str) -> str:
    """Text of the st.metric whose label is ``label``."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def _batch_curve_path(page) -> str:
    """The SVG path of the per-batch loss trace (grows as batches arrive)."""
    loss = page.locator(CHART).filter(has_text="Loss (cross entropy)").first
    return loss.locator("g.trace.scatter path.js-line").first.get_attribute("d") or ""


def _set_epochs(page, value: int) -> None:
    """Move the Epochs slider with the keyboard, as a person without a mouse would."""
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Epochs").first
    thumb = slider.locator('input[type="range"]')
    current = int(thumb.input_value())
    thumb.focus()
    for _ in range(abs(current - value)):
        thumb.press("ArrowLeft" if value < current else "ArrowRight")
    slider.locator('[data-testid="stSliderThumbValue"]').get_by_text(
        str(value), exact=True
    ).wait_for()
    wait_for_app_idle(page)


def test_train_on_builtin_set_watch_save_and_classify(page, app_url, screenshot_dir):
    """Built-in set, 4 epochs: live curves, confusion, save, Classify uses the model."""
    page.goto(f"{app_url}/train")
    wait_for_app_idle(page, timeout=120_000)
    page.get_by_text("Validation (always grouped by song)").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=120_000)
    _set_epochs(page, 4)

    started = time.monotonic()
    page.get_by_role("button", name="Start training").click()

    # The curve appears and grows while training runs (on a fast machine the run may
    # already be over when the first picture arrives: then the finished curve must hold
    # every batch).
    page.locator(CHART).filter(has_text="Loss (cross entropy)").first.wait_for(timeout=120_000)
    first = _batch_curve_path(page)
    page.wait_for_function(
        """(first) => {
            const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                .filter(c => c.innerText.includes('Loss (cross entropy)'));
            const p = charts.length && charts[0].querySelector('g.trace.scatter path.js-line');
            const done = [...document.querySelectorAll('button')]
                .some(b => b.innerText.includes('Save model'));
            return p && (p.getAttribute('d') !== first || done);
        }""",
        arg=first,
        timeout=90_000,
    )
    assert _batch_curve_path(page).count("L") >= 3, "the batch curve holds too few points"
    page.get_by_text(re.compile(r"Validation confusion, epoch \d+")).first.wait_for(timeout=60_000)
    assert re.fullmatch(r"\d+:\d\d|—", _metric(page, "Time left"))

    # Done: the result and the save form appear.
    page.get_by_role("button", name="Save model").wait_for(timeout=150_000)
    elapsed = time.monotonic() - started
    print(f"4 epochs on the built-in set, start to save form: {elapsed:.0f} s")
    assert elapsed < 150, f"training on the built-in set took {elapsed:.0f} s"
    assert re.fullmatch(r"\d+%", _metric(page, "Accuracy (segments)"))
    assert not page.locator('[data-testid="stException"]').count()
    page.mouse.move(0, 0)  # no tooltip over the picture
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.locator('[data-testid="stProgress"]').first.evaluate(
        "e => e.scrollIntoView({block: 'start'})"
    )  # progress, timings, curves and confusion matrix in one picture
    page.screenshot(path=str(screenshot_dir / "train.png"))

    name_box = page.get_by_label("Model name")
    name_box.fill("e2e-drums")
    name_box.press("Enter")
    wait_for_app_idle(page)
    page.get_by_role("button", name="Save model").click()
    page.get_by_text("Saved e2e-drums").wait_for(timeout=30_000)

    # Classify a demo clip with the new model.
    page.goto(f"{app_url}/")  # Classify is the default page: its address is /
    wait_for_app_idle(page, timeout=120_000)
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=re.compile("e2e-drums")).click()
    wait_for_app_idle(page, timeout=120_000)
    page.get_by_test_id("stRadioGroup").get_by_text("Demo clip", exact=True).click()
    page.get_by_role("button", name="drum loop").click()
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=120_000)
    wait_for_app_idle(page, timeout=120_000)
    verdict = page.locator('[data-testid="stMetric"]').first.inner_text()
    assert verdict.startswith("Genre") and "Drums" in verdict
    assert not page.locator('[data-testid="stException"]').count()
    page.screenshot(path=str(screenshot_dir / "train_classify.png"), full_page=True)


def test_uploaded_zip_is_counted_and_a_bad_one_explained(page, app_url, tmp_path):
    """A folder-per-class zip gives the clips-per-class table; a zip-slip one an error."""
    good = tmp_path / "my genres.zip"
    with zipfile.ZipFile(good, "w") as zf:
        for t in builtin_tracks(n_per_class=3, seconds=2.0, root=tmp_path / "b"):
            if t.label in ("drums", "piano"):
                zf.write(t.path, f"my genres/{t.label}/{t.path.name}")
        zf.writestr("my genres/readme.txt", "not audio")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../evil.wav", b"RIFF")

    page.goto(f"{app_url}/train")
    wait_for_app_idle(page, timeout=120_000)
    page.get_by_test_id("stRadioGroup").first.get_by_text("Upload a zip", exact=True).click()
    wait_for_app_idle(page)
    page.locator('input[type="file"]').first.set_input_files(str(evil))
    error = page.locator('[data-testid="stAlertContentError"]').first
    error.wait_for(timeout=60_000)
    assert "outside the archive" in error.inner_text()

    page.locator('input[type="file"]').first.set_input_files(str(good))
    page.get_by_text("1 non-audio or stray file(s) skipped").wait_for(timeout=60_000)
    wait_for_app_idle(page)
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for(state="visible", timeout=60_000)  # drawn after the status text on a busy CPU
    assert table.is_visible()
    warnings = page.locator('[data-testid="stAlertContentWarning"]')
    assert any("only 3 songs" in warnings.nth(i).inner_text() for i in range(warnings.count()))
    assert not page.locator('[data-testid="stException"]').count()
