"""Many users at once: five browser sessions classify different clips while a sixth trains.

One real ``streamlit run`` on loopback (fixture ``app_url``) serves separate Playwright
browser contexts (separate cookies, separate Streamlit sessions). The five Classify
sessions upload their clips together and are then polled in turn, so the server works on
all of them at the same time. Each page must show its own file name, none of the others',
and the verdict the model gives for that file in-process (no cross-talk of state). The
server's resident memory is sampled from /proc throughout; its peak is printed and bounded.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import soundfile as sf

from genrecls.config import GENRES, PROJECT_ROOT
from genrecls.model_store import bundled_model_path
from genrecls.synth import band_noise, bass_line, chord_progression, drum_loop, piano_melody

from .conftest import wait_for_app_idle

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not bundled_model_path().is_file(), reason="bundled model missing"),
]

N_CLASSIFY = 5
#: Bound on the server's resident memory (all its processes) during the load run.
MAX_SERVER_RSS_BYTES = 3 * 1024**3
#: Bound on the whole load run (uploads to the last verdict).
MAX_SECONDS = 240
TRAIN_PAGE = PROJECT_ROOT / "pages" / "train.py"


def _clips(folder: Path, sr: int = 22050, seconds: float = 6.0) -> list[Path]:
    """Five clips of different character, each with its own name."""
    makers = {
        "drums": lambda: drum_loop(sr=sr, seconds=seconds, bpm=120, seed=1),
        "chords": lambda: chord_progression(sr=sr, seconds=seconds, seed=2),
        "piano": lambda: piano_melody(sr=sr, seconds=seconds, seed=3),
        "drums_and_bass": lambda: (
            0.5 * drum_loop(sr=sr, seconds=seconds, bpm=95, seed=4)
            + 0.5 * bass_line(sr=sr, seconds=seconds, seed=4)
        ),
        "noise_band": lambda: band_noise(sr=sr, seconds=seconds, low_hz=300, high_hz=3000, seed=5),
    }
    paths = []
    for i, (name, make) in enumerate(makers.items(), 1):
        path = folder / f"session{i}_{name}.wav"
        sf.write(path, np.asarray(make(), dtype=np.float32), sr)
        paths.append(path)
    return paths[:N_CLASSIFY]


# --------------------------------------------------------------------------- memory


def _pids_listening_on(port: int) -> list[int]:
    """The `streamlit run` process serving ``port`` (found by its command line)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"streamlit" in a for a in args) and str(port).encode() in args:
            found.append(int(proc.name))
    return found


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
    return out


def _status_bytes(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class MemorySampler:
    """Sample the summed VmRSS of a process tree every ``interval`` seconds."""

    root: int
    interval: float = 0.25
    peak: int = 0
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = sum(_status_bytes(p, "VmRSS") for p in _tree(self.root))
            self.samples.append(rss)
            self.peak = max(self.peak, rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def high_water_mark(self) -> int:
        """Summed VmHWM (each process's own peak since it started) of the tree."""
        return sum(_status_bytes(p, "VmHWM") for p in _tree(self.root))


# --------------------------------------------------------------------------- the run


@dataclass
class LoadRun:
    clips: list[Path]
    expected: dict[str, tuple[str, float]]
    texts: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, tuple[str, str]] = field(default_factory=dict)
    exceptions: dict[str, list[str]] = field(default_factory=dict)
    finished_s: dict[str, float] = field(default_factory=dict)
    train: dict | None = None
    train_skip_reason: str | None = None
    peak_rss: int = 0
    hwm: int = 0
    seconds: float = 0.0


def _page_state(page) -> dict:
    """Non-blocking look at a page: has it finished, and what does it show."""
    return page.evaluate(
        """() => {
            const q = s => document.querySelectorAll(s);
            const status = document.querySelector('[data-testid="stStatusWidget"]');
            return {
                metrics: q('[data-testid="stMetric"]').length,
                charts: q('[data-testid="stPlotlyChart"]').length,
                exceptions: q('[data-testid="stException"]').length,
                errors: q('[data-testid="stAlertContentError"]').length,
                running: !!(status && status.innerText.includes('Running')),
            };
        }"""
    )


def _expected_verdicts(clips: list[Path]) -> dict[str, tuple[str, float]]:
    """What the app's default model says about each clip, computed in this process."""
    import torch

    from genrecls.model_store import available_models
    from genrecls.predict import GenrePredictor

    torch.set_num_threads(1)
    predictor = GenrePredictor.from_file(available_models()[0].path)
    out = {}
    for path in clips:
        _, prediction = predictor.predict_source(path, name=path.name)
        out[path.name] = (prediction.genre, prediction.confidence)
    return out


@pytest.fixture(scope="module")
def load_run(browser, app_url, tmp_path_factory, screenshot_dir) -> LoadRun:
    clips = _clips(tmp_path_factory.mktemp("load_clips"))
    run = LoadRun(clips=clips, expected=_expected_verdicts(clips))
    port = urlparse(app_url).port
    pids = _pids_listening_on(port)
    assert len(pids) == 1, f"cannot tell the server process on port {port}: {pids}"

    contexts = [
        browser.new_context(viewport={"width": 1400, "height": 1800}) for _ in range(N_CLASSIFY + 1)
    ]
    pages = [c.new_page() for c in contexts]
    for page in pages:
        page.set_default_timeout(120_000)
    try:
        for page in pages[:N_CLASSIFY]:
            page.goto(f"{app_url}/")  # Classify is the default page: its address is /
        for page in pages[:N_CLASSIFY]:
            wait_for_app_idle(page, timeout=120_000)
        with MemorySampler(pids[0]) as memory:
            start = time.monotonic()
            trainer = pages[N_CLASSIFY]
            if TRAIN_PAGE.is_file():
                run.train_skip_reason = _start_training(trainer, app_url)
            else:
                run.train_skip_reason = (
                    "pages/train.py does not exist yet, so no session could train during the "
                    "load run (the five Classify sessions ran without it)"
                )
            for page, clip in zip(pages, clips, strict=False):
                page.locator('input[type="file"]').first.set_input_files(str(clip))
            pending = dict(zip((c.name for c in clips), pages, strict=False))
            while pending and time.monotonic() - start < MAX_SECONDS:
                for name, page in list(pending.items()):
                    state = _page_state(page)
                    done = state["metrics"] and state["charts"] >= 3 and not state["running"]
                    if done or state["exceptions"] or state["errors"]:
                        run.finished_s[name] = time.monotonic() - start
                        del pending[name]
                time.sleep(0.5)
            for name, page in zip((c.name for c in clips), pages, strict=False):
                if name in pending:
                    continue
                wait_for_app_idle(page, timeout=60_000)
                run.texts[name] = page.locator('[data-testid="stMain"]').inner_text()
                run.exceptions[name] = page.locator('[data-testid="stException"]').all_inner_texts()
                metric = page.locator('[data-testid="stMetric"]').first
                run.metrics[name] = (
                    metric.locator('[data-testid="stMetricLabel"]').inner_text(),
                    metric.locator('[data-testid="stMetricValue"]').inner_text(),
                )
            if run.train_skip_reason is None:
                run.train = _finish_training(trainer, deadline=start + MAX_SECONDS)
            run.seconds = time.monotonic() - start
        run.peak_rss = memory.peak
        run.hwm = memory.high_water_mark()
        for i, page in enumerate(pages, 1):
            page.screenshot(path=str(screenshot_dir / f"load_session{i}.png"), full_page=True)
    finally:
        for context in contexts:
            context.close()
    print(
        f"\nload run: {len(run.metrics)} of {N_CLASSIFY} classify sessions done in "
        f"{run.seconds:.0f} s (each: "
        + ", ".join(f"{n.split('_')[0]} {s:.0f} s" for n, s in run.finished_s.items())
        + f"); training session: {run.train or run.train_skip_reason}; server peak RSS "
        f"(sampled) {run.peak_rss / 2**20:.0f} MiB, summed VmHWM {run.hwm / 2**20:.0f} MiB"
    )
    return run


def _start_training(page, app_url: str) -> str | None:
    """Open the Train page and start a run on the built-in data; None once started."""
    page.goto(f"{app_url}/train")
    wait_for_app_idle(page, timeout=120_000)
    button = page.get_by_role("button", name="Start training")
    try:
        button.wait_for(timeout=120_000)
    except Exception:  # Playwright's TimeoutError
        return "the Train page shows no 'Start training' button within 120 s"
    button.click()
    page.get_by_role("button", name="Stop after this batch").wait_for(timeout=60_000)
    return None


def _finish_training(page, *, deadline: float) -> dict:
    """Wait (while the others classify) for the run to end; return what the page shows."""
    epochs, done = 0, False
    while time.monotonic() < deadline and not done:
        done = page.get_by_role("button", name="Save model").count() > 0
        found = re.findall(r"Validation confusion, epoch (\d+)", page.locator(
            '[data-testid="stMain"]').inner_text())  # fmt: skip
        epochs = max([epochs, *map(int, found)])
        if page.locator('[data-testid="stException"]').count():
            break
        time.sleep(1.0)
    return {
        "epochs_seen": epochs,
        "finished": done,
        "exceptions": page.locator('[data-testid="stException"]').all_inner_texts(),
    }


# --------------------------------------------------------------------------- assertions


def test_every_session_gets_its_own_verdict(load_run):
    """Five sessions at once: each shows its own file and the model's verdict for it."""
    names = [c.name for c in load_run.clips]
    assert set(load_run.metrics) == set(names), f"unfinished: {set(names) - set(load_run.metrics)}"
    for name in names:
        text = load_run.texts[name]
        assert name in text, f"{name} does not appear on its own page"
        others = [n for n in names if n != name and n in text]
        assert not others, f"{name}'s page shows other sessions' files: {others}"
        label, value = load_run.metrics[name]
        genre, confidence = load_run.expected[name]
        assert label == "Genre"
        assert value.strip().lower() == genre, f"{name}: page says {value}, model says {genre}"
        shown = re.search(r"(\d+)\s*%\s*(?:probability|confident)", text)
        assert shown, f"{name}: no probability shown"
        assert abs(int(shown.group(1)) - 100 * confidence) <= 1.0, (shown.group(0), confidence)
    assert {load_run.expected[n][0] for n in names} <= set(GENRES)


def test_no_session_shows_a_traceback(load_run):
    """No page shows a traceback (Grad-CAM on the shared model included)."""
    shown = {n: e for n, e in load_run.exceptions.items() if e}
    assert not shown, shown


def test_load_run_is_bounded_in_time_and_memory(load_run):
    assert load_run.seconds < MAX_SECONDS
    assert 0 < load_run.peak_rss < MAX_SERVER_RSS_BYTES, f"{load_run.peak_rss / 2**20:.0f} MiB"


def test_a_sixth_session_trains_meanwhile(load_run):
    if load_run.train_skip_reason is not None:
        pytest.skip(load_run.train_skip_reason)
    assert not load_run.train["exceptions"], load_run.train["exceptions"]
    assert load_run.train["epochs_seen"] >= 1, "no epoch finished during the load run"
