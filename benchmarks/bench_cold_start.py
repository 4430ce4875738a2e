"""Benchmark the app's cold start: ``streamlit run app.py`` to the first verdict in Chromium.

Run from the repository root::

    .venv/bin/python benchmarks/bench_cold_start.py --reps 3

Each repetition starts a fresh ``streamlit run app.py`` on a free loopback port (a new
Python process: nothing imported, no model loaded), opens the Classify page in headless
Chromium (Playwright, the launch flags of ``tests/e2e/conftest.py``) as soon as the
server answers its health check, and gives it a clip as soon as the page can take one:

``--clip demo`` (default)
    chooses *Demo clip* and clicks the first demo button (``assets/*.ogg``);
``--clip PATH``
    uploads the file at ``PATH`` through the file uploader.

It prints, per repetition and as the median [min–max], the seconds from process start
to: the health check answering, the clip control being usable (page ready), and the
genre verdict (``st.metric``) being visible; and from giving the clip to the verdict.
``--model PATH`` picks that model in the sidebar first: a bundled one (``models/*.pt``) by
its "(bundled)" entry, any other file after copying it into a temporary user-models
folder. Without it the app's default is used (the first bundled entry:
``genre_model_fast`` when it exists).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

_IDLE = (
    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    " || !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    ".innerText.includes('Running')"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_cold_start(
    clip: Path | str, *, model: Path | None, explore: bool = False, timeout: float = 120.0
) -> dict:
    """Seconds from ``streamlit run app.py`` to the first verdict in headless Chromium.

    Parameters
    ----------
    clip : Path or "demo"
        File to upload, or ``"demo"`` to click the first demo clip.
    model : Path or None
        Model file to pick in the sidebar (a bundled one by its "(bundled)" entry, any
        other copied into a temporary user-models folder); None keeps the app's default.
    explore : bool
        After the verdict, wait until Classify's three charts are drawn and the page is
        idle, then click "Explore" and time its four charts (``explore_s``).
    timeout : float > 0
        Seconds any single wait may take.

    Returns
    -------
    result : dict
        ``server_healthy_s``, ``page_ready_s``, ``verdict_s`` (from process start),
        ``clip_to_verdict_s``, the ``verdict`` text and, with ``explore``, ``explore_s``;
        or ``skipped`` when Chromium is missing.
    """
    sys.path.insert(0, str(ROOT))
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        return {"skipped": f"{CHROMIUM} not found"}
    from playwright.sync_api import sync_playwright

    from genrecls.config import bundled_models_dir

    port = _free_port()
    user_models = Path(tempfile.mkdtemp(prefix="bench_models_"))
    option = None
    if model is not None and model.resolve().parent == bundled_models_dir().resolve():
        option = f"{model.stem} (bundled)"  # already offered by the sidebar
    elif model is not None:
        shutil.copy(model, user_models / model.name)
        option = f"{model.stem} (trained here)"
    env = {**os.environ, "GENRECLS_USER_MODELS": str(user_models), "PYTHONUNBUFFERED": "1"}
    url = f"http://127.0.0.1:{port}"
    log = open(user_models / "server.log", "w")  # noqa: SIM115 - closed below
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(timeout * 1000)
        t0 = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
            + ["--server.port", str(port), "--server.address", "127.0.0.1"]
            + ["--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    if proc.poll() is not None or time.time() - t0 > timeout:
                        raise RuntimeError("streamlit did not start") from None
                    time.sleep(0.05)
            t_healthy = time.time()
            page.goto(f"{url}/")  # Classify, the default page
            if clip == "demo":
                page.get_by_text("Demo clip", exact=True).first.click()
                button = page.locator('[data-testid="stButton"] button').first
                button.wait_for()
                t_page = time.time()
            else:
                page.locator('input[type="file"]').first.wait_for(state="attached")
                t_page = time.time()
            if model is not None:
                page.locator('[data-testid="stSelectbox"]').first.click()
                page.get_by_role("option", name=option).click()
                page.wait_for_function(_IDLE)
            t_clip = time.time()
            if clip == "demo":
                button.click()
            else:
                page.locator('input[type="file"]').first.set_input_files(str(clip))
            metric = page.locator('[data-testid="stMetric"]').first
            metric.wait_for()
            t_verdict = time.time()
            verdict = metric.inner_text().replace("\n", " ")
            explore_s = None
            if explore:
                page.locator('[data-testid="stPlotlyChart"]').nth(2).wait_for()
                page.wait_for_function(_IDLE)
                t_click = time.time()
                page.get_by_role("link", name="Explore").first.click()
                page.get_by_text("Mel spectrogram").first.wait_for()
                page.locator('[data-testid="stPlotlyChart"]').nth(3).wait_for()
                explore_s = time.time() - t_click
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            browser.close()
            log.close()
            shutil.rmtree(user_models, ignore_errors=True)
    return {
        "server_healthy_s": t_healthy - t0,
        "page_ready_s": t_page - t0,
        "verdict_s": t_verdict - t0,
        "clip_to_verdict_s": t_verdict - t_clip,
        "verdict": verdict,
        **({"explore_s": explore_s} if explore else {}),
    }


def _stat(values: list[float]) -> str:
    v = np.asarray(values)
    return f"{np.median(v):.2f} [{v.min():.2f}–{v.max():.2f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="fresh server starts")
    parser.add_argument("--clip", default="demo", help="'demo' or a file to upload")
    parser.add_argument("--model", default=None, help="model file to pick in the sidebar")
    parser.add_argument(
        "--explore", action="store_true", help="then time the first visit to Explore"
    )
    args = parser.parse_args(argv)
    clip = args.clip if args.clip == "demo" else Path(args.clip)
    model = Path(args.model) if args.model else None
    load0 = os.getloadavg()
    runs = []
    for i in range(args.reps):
        r = app_cold_start(clip, model=model, explore=args.explore)
        if "skipped" in r:
            print(r["skipped"])
            return 2
        runs.append(r)
        then = f"; Explore's charts {r['explore_s']:.2f} s after the click" if args.explore else ""
        print(
            f"run {i + 1}: healthy {r['server_healthy_s']:.2f} s, page ready "
            f"{r['page_ready_s']:.2f} s, verdict {r['verdict_s']:.2f} s "
            f"(clip → verdict {r['clip_to_verdict_s']:.2f} s): {r['verdict']}{then}",
            flush=True,
        )
    load1 = os.getloadavg()
    keys = ("server_healthy_s", "page_ready_s", "verdict_s", "clip_to_verdict_s")
    keys += ("explore_s",) if args.explore else ()
    print()
    print(
        f"App cold start, clip: {args.clip}, model: {args.model or 'the app default'}; "
        f"{args.reps} fresh starts; load average {load0[0]:.2f} → {load1[0]:.2f}. "
        "Seconds, median [min–max]:"
    )
    print()
    header = "| server healthy | page ready | verdict shown | clip → verdict |"
    header += " Explore's first visit |" if args.explore else ""
    print(header)
    print("|---" * len(keys) + "|")
    print("| " + " | ".join(_stat([r[k] for r in runs]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
