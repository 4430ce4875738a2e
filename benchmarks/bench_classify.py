"""Benchmark the classify path: ours vs a seed-style baseline, first-call cost, app cold start.

Run from the repository root::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_classify.py --reps 5

and it prints Markdown tables (also written to ``--out``, JSON beside it). Every
measurement of a pipeline runs in a **fresh subprocess** (so peak memory is that
pipeline's own ``ru_maxrss``), one after the other on the same machine, with the same
torch thread count (``--threads``, default 2).

What is timed, per model and input file (median of ``--reps`` warm repetitions, with the
range; the first call of each process is a warm-up and is not counted):

ours
    the app's path: file bytes → :func:`genrecls.audio.load_audio` (soundfile / ffmpeg,
    soxr straight to the model's 16 kHz) → cached torch log-mel
    (:mod:`genrecls.fast_features`) → the segments (at most 64, spread over the track)
    → track verdict and the Grad-CAM of its genre from one batched pass
    (:func:`genrecls.explain.classify_and_explain`, as the Classify page). "classify" is
    timed separately: the same decode and features, then only the verdict
    (:meth:`genrecls.predict.GenrePredictor.predict_spectrogram`). "first look": for a
    song the Classify page gives a first look (:func:`genrecls.predict.wants_first_look`:
    longer than :data:`genrecls.predict.FIRST_LOOK_ABOVE_SEGMENTS` segments), the same
    path on :data:`genrecls.predict.FIRST_LOOK_SEGMENTS` segments spread over the song,
    the quick verdict the page shows before it refines with all of them.
baseline ("seed style")
    ``librosa.load(path)`` at its default 22.05 kHz, ``librosa.feature.melspectrogram``
    (librosa's default ``n_fft=2048``; the model's number of mel bands and frame rate,
    ``hop_length=353``) + ``power_to_db``, cut into the model's 187-frame (3 s) segments,
    the same network called once per segment (all segments, no cap) under
    ``torch.no_grad``, as its plain PyTorch layers (musicnn's ``fused_frontend`` off:
    each front-end map is computed, then its max over frequency), then Grad-CAM one
    segment at a time through forward hooks (``grad_cam(..., method="hooks")``) at the
    model's deepest Grad-CAM layer.
    This measures the *cost* of that style of pipeline; its features are not the ones the
    model was trained on, so its verdicts are not compared. Two ratios are printed: ours
    against the baseline running the same network, and ours against the baseline
    running the bundled model (the teacher's baseline row), the seed's pipeline as a
    whole.

Also measured: peak memory of ours on a 10-minute song; the first-call cost in a fresh
process (interpreter + imports, model load, first request without and with
:func:`genrecls.predict.warm_up`); and the app's cold start: ``streamlit run app.py`` to
the first verdict on the Classify page in headless Chromium (Playwright), uploading the
30 s mp3.

Audio: real songs from ``<data>/nazar_full_songs`` (64–97 s each), decoded to 44.1 kHz
stereo and concatenated into a 30 s clip, a 4-minute and a 10-minute song, written as
16-bit WAV and 192 kbit/s MP3 in a temporary folder; synthesized music when the shared
data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SR_FILE = 44100


# ----------------------------------------------------------------------------- audio


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _decode_stereo(path: Path) -> np.ndarray:
    """Decode any file to float32 stereo at 44.1 kHz with ffmpeg; shape (n, 2)."""
    cmd = [_ffmpeg(), "-v", "error", "-i", str(path), "-ac", "2", "-ar", str(SR_FILE)]
    raw = subprocess.run([*cmd, "-f", "f32le", "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.float32).reshape(-1, 2)


def _synthetic_music(seconds: float) -> np.ndarray:
    from genrecls.synth import chord_progression, drum_loop

    n = int(seconds * SR_FILE)
    y = (
        drum_loop(sr=SR_FILE, seconds=seconds)[:n]
        + chord_progression(sr=SR_FILE, seconds=seconds)[:n]
    )
    y = 0.5 * y / max(1e-6, float(np.abs(y).max()))
    return np.stack([y, y], axis=1).astype(np.float32)


def make_inputs(folder: Path) -> tuple[dict[str, Path], str]:
    """Write the benchmark files; return ``{name: path}`` and a description of the audio."""
    from genrecls.config import data_dir

    songs = sorted((data_dir() / "nazar_full_songs").glob("*/*.mp3"))
    if songs:
        parts = [_decode_stereo(p) for p in songs]
        source = (
            f"{len(songs)} real songs of nazar_full_songs (64–97 s) decoded to 44.1 kHz "
            "stereo and concatenated; 30 s clip = seconds 30–60 of the first"
        )
    else:
        parts = [_synthetic_music(90.0)]
        source = "synthesized drums + chords (shared data absent)"
    total = np.concatenate(parts)
    while len(total) < 600 * SR_FILE:
        total = np.concatenate([total, *parts])
    pieces = {
        "30s": total[30 * SR_FILE : 60 * SR_FILE],
        "4min": total[: 240 * SR_FILE],
        "10min": total[: 600 * SR_FILE],
    }
    import soundfile as sf

    files = {}
    for name, y in pieces.items():
        wav = folder / f"song_{name}.wav"
        sf.write(wav, y, SR_FILE, subtype="PCM_16")
        mp3 = folder / f"song_{name}.mp3"
        subprocess.run(
            [_ffmpeg(), "-v", "error", "-y", "-i", str(wav), "-codec:a", "libmp3lame"]
            + ["-b:a", "192k", str(mp3)],
            check=True,
        )
        files[f"{name} wav"] = wav
        files[f"{name} mp3"] = mp3
    return files, source


# --------------------------------------------------------------------------- workers


def _maxrss_mb() -> float:
    """Peak resident memory of this process in MB.

    ``VmHWM`` of ``/proc/self/status`` (the high-water mark of this process image): a
    process started by ``fork`` + ``exec`` inherits its parent's ``ru_maxrss``, so
    ``getrusage`` would report the benchmark driver's peak instead.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_ours(model: str, file: str, reps: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from genrecls.audio import load_audio
    from genrecls.explain import classify_and_explain
    from genrecls.predict import FIRST_LOOK_SEGMENTS, GenrePredictor, wants_first_look, warm_up

    predictor = GenrePredictor.from_file(model)
    warm_up(predictor)
    cfg = predictor.feature_config
    path = Path(file)
    first_look = predictor.with_options(max_segments=FIRST_LOOK_SEGMENTS)

    def features():
        clip = load_audio(path.read_bytes(), sr=cfg.sr, name=path.name)
        return predictor.spectrogram(clip.samples), len(clip.samples) / cfg.sr

    t_cls, t_full, t_first, genre, n_seg = [], [], [], None, 0
    for i in range(reps + 1):
        t0 = time.perf_counter()  # the verdict alone
        M, duration = features()
        predictor.predict_spectrogram(M, duration=duration)
        t1 = time.perf_counter()  # the app's path: the verdict and its Grad-CAM, one pass
        M, duration = features()
        pred, _ = classify_and_explain(predictor, M, duration=duration)
        t2 = time.perf_counter()
        long_song = wants_first_look(round(duration * cfg.sr), config=cfg)
        if long_song:  # the Classify page's first look at a long song, then it refines
            M, duration = features()
            classify_and_explain(first_look, M, duration=duration)
        t3 = time.perf_counter()
        if i:  # the first request is a warm-up of this file's sizes
            t_cls.append(t1 - t0)
            t_full.append(t2 - t1)
            if long_song:
                t_first.append(t3 - t2)
        genre, n_seg = pred.genre, len(pred.segment_starts)
    return {
        "classify_s": t_cls,
        "full_s": t_full,
        "first_look_s": t_first,
        "peak_rss_mb": _maxrss_mb(),
        "genre": genre,
        "segments": n_seg,
    }


def worker_baseline(model: str, file: str, reps: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    import librosa

    from genrecls.checkpoint import load_model
    from genrecls.saliency import grad_cam

    loaded = load_model(model)
    net = loaded.model.eval()
    backbone = getattr(net, "backbone", None)
    if hasattr(backbone, "fused_frontend"):  # the seed runs the layers as they are
        backbone.fused_frontend = False
    cfg = loaded.feature_config
    layer = list(net.gradcam_layers())[-1]
    t_cls, t_full, n_seg = [], [], 0
    for i in range(reps + 1):
        t0 = time.perf_counter()
        y, sr = librosa.load(file)
        hop = int(round(cfg.hop_length * sr / cfg.sr))  # the model's frame rate
        S = librosa.feature.melspectrogram(y=y, sr=sr, hop_length=hop, n_mels=cfg.n_mels)
        D = librosa.power_to_db(S, ref=np.max).astype(np.float32)
        L = cfg.segment_frames
        starts = range(0, max(1, D.shape[1] - L + 1), L)
        segments = [D[:, s : s + L] for s in starts]
        logits = []
        with torch.no_grad():
            for seg in segments:
                logits.append(net(torch.from_numpy(np.ascontiguousarray(seg))[None])["logits"])
        probs = torch.softmax(torch.cat(logits), dim=1).numpy()
        top = int(np.log(np.clip(probs, 1e-12, 1)).mean(0).argmax())
        t1 = time.perf_counter()
        for seg in segments:  # forward and backward hooks, as the seed would
            grad_cam(net, seg[None], layer=layer, target=top, method="hooks")
        t2 = time.perf_counter()
        if i:
            t_cls.append(t1 - t0)
            t_full.append(t2 - t0)
        n_seg = len(segments)
    return {"classify_s": t_cls, "full_s": t_full, "peak_rss_mb": _maxrss_mb(), "segments": n_seg}


def worker_first_call(model: str, file: str, reps: int, threads: int, *, warm: bool) -> dict:
    """Timestamps (``time.time()``) of a fresh process's first request."""
    marks = {"imports_start": time.time()}
    import torch

    torch.set_num_threads(threads)
    from genrecls.audio import load_audio
    from genrecls.explain import classify_and_explain
    from genrecls.predict import GenrePredictor, warm_up

    marks["imports_done"] = time.time()
    predictor = GenrePredictor.from_file(model)
    marks["model_loaded"] = time.time()
    if warm:
        warm_up(predictor)
    marks["warmed_up"] = time.time()
    cfg = predictor.feature_config
    for k in ("first_request", "second_request"):
        data = Path(file).read_bytes()
        clip = load_audio(data, sr=cfg.sr, name=Path(file).name)
        classify_and_explain(predictor, predictor.spectrogram(clip.samples))
        marks[k] = time.time()
    return marks


def run_worker(kind: str, *, model: Path, file: Path, reps: int, threads: int) -> dict:
    """Run one measurement in a fresh Python process; return its JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind]
    cmd += ["--model", str(model), "--file", str(file), "--reps", str(reps)]
    cmd += ["--threads", str(threads)]
    t_spawn = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"worker {kind} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["spawned"] = t_spawn
    return result


# ------------------------------------------------------------------------- app cold start


def app_cold_start(clip: Path, *, model: Path | None, timeout: float = 120.0) -> dict:
    """``streamlit run app.py`` to the first verdict, uploading ``clip`` (bench_cold_start)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_cold_start import app_cold_start as measure

    result = measure(clip, model=model, timeout=timeout)
    if "clip_to_verdict_s" in result:
        result["upload_to_verdict_s"] = result["clip_to_verdict_s"]
    return result


# ------------------------------------------------------------------------------ report


def _stat(values: list[float]) -> str:
    v = np.asarray(values)
    if v.size == 0:
        return "—"
    return f"{np.median(v):.3f} [{v.min():.3f}–{v.max():.3f}]"


def machine_info() -> dict:
    model_name = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model_name = line.split(":", 1)[1].strip()
    except OSError:
        pass
    import torch

    return {
        "cpu": model_name,
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="warm repetitions per measurement")
    parser.add_argument(
        "--baseline-reps", type=int, default=3, help="repetitions of the (slow) baseline"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--omp-wait-policy",
        default="PASSIVE",
        help="OMP_WAIT_POLICY of the measured processes ('' = inherit)",
    )
    parser.add_argument(
        "--models",
        default="lite,fast,student,teacher",
        help="which of lite,fast,student,teacher to benchmark",
    )
    parser.add_argument(
        "--lite",
        default=str(ROOT / "models" / "genre_model_lite.pt"),
        help="the pruned musicnn probe (python -m genrecls prune)",
    )
    parser.add_argument(
        "--fast",
        default=str(ROOT / "models" / "genre_model_fast.pt"),
        help="the low-rank musicnn probe (python -m genrecls compress)",
    )
    parser.add_argument("--student", default=str(ROOT / "models" / "genre_model_student.pt"))
    parser.add_argument("--teacher", default=str(ROOT / "models" / "genre_model.pt"))
    parser.add_argument("--inputs", default="30s mp3,30s wav,4min mp3,4min wav")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-app", action="store_true", help="skip the browser cold start")
    parser.add_argument(
        "--app-reps", type=int, default=3, help="fresh app starts per model (cold start)"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.md"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        kinds = {
            "ours": worker_ours,
            "baseline": worker_baseline,
            "first_cold": lambda *a: worker_first_call(*a, warm=False),
            "first_warm": lambda *a: worker_first_call(*a, warm=True),
        }
        result = kinds[args.worker](args.model, args.file, args.reps, args.threads)
        print(json.dumps(result))
        return 0

    if args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy  # inherited by every worker
    from genrecls.model_store import available_models

    entries = available_models()
    default_model = entries[0].path.resolve() if entries else None  # the Classify default
    models = {
        "lite": Path(args.lite),
        "fast": Path(args.fast),
        "student": Path(args.student),
        "teacher": Path(args.teacher),
    }
    models = {k: v for k, v in models.items() if k in args.models.split(",") and v.is_file()}
    if not models:
        print(
            "no model files found under models/ "
            "(run make model / python -m genrecls distill / python -m genrecls compress)"
        )
        return 2
    info = machine_info()
    info["loadavg_start"] = os.getloadavg()
    info["threads"] = args.threads
    t_start = time.time()
    results: dict = {"machine": info, "rows": [], "first_call": {}, "app": {}}
    with tempfile.TemporaryDirectory(prefix="bench_audio_") as tmp:
        files, source = make_inputs(Path(tmp))
        results["audio"] = source
        inputs = [s.strip() for s in args.inputs.split(",") if s.strip()]
        for mname, mpath in models.items():
            for inp in inputs:
                row = {"model": mname, "input": inp}
                print(f"[{time.time() - t_start:6.0f} s] {mname} / {inp}: ours", flush=True)
                row["ours"] = run_worker(
                    "ours", model=mpath, file=files[inp], reps=args.reps, threads=args.threads
                )
                if not args.no_baseline:
                    print(f"[{time.time() - t_start:6.0f} s] {mname} / {inp}: baseline", flush=True)
                    row["baseline"] = run_worker(
                        "baseline",
                        model=mpath,
                        file=files[inp],
                        reps=args.baseline_reps,
                        threads=args.threads,
                    )
                results["rows"].append(row)
            print(f"[{time.time() - t_start:6.0f} s] {mname}: 10 min memory", flush=True)
            results["rows"].append(
                {
                    "model": mname,
                    "input": "10min mp3",
                    "ours": run_worker(
                        "ours", model=mpath, file=files["10min mp3"], reps=1, threads=args.threads
                    ),
                }
            )
            print(f"[{time.time() - t_start:6.0f} s] {mname}: first call", flush=True)
            fc = {}
            for kind in ("first_cold", "first_warm"):
                r = run_worker(
                    kind, model=mpath, file=files["30s mp3"], reps=1, threads=args.threads
                )
                fc[kind] = {
                    "imports_s": r["imports_done"] - r["spawned"],
                    "model_load_s": r["model_loaded"] - r["imports_done"],
                    "warm_up_s": r["warmed_up"] - r["model_loaded"],
                    "first_request_s": r["first_request"] - r["warmed_up"],
                    "second_request_s": r["second_request"] - r["first_request"],
                }
            results["first_call"][mname] = fc
        if not args.no_app:
            for mname, mpath in models.items():
                print(f"[{time.time() - t_start:6.0f} s] app cold start ({mname})", flush=True)
                pick = None if mpath.resolve() == default_model else mpath
                runs = []
                for _ in range(args.app_reps):
                    try:
                        runs.append(app_cold_start(files["30s mp3"], model=pick))
                    except Exception as exc:  # report, do not hide, a failed browser run
                        runs.append({"error": f"{type(exc).__name__}: {exc}"})
                results["app"][mname] = runs
    info["loadavg_end"] = os.getloadavg()
    info["seconds"] = time.time() - t_start
    text = render(results)
    print(text)
    out = Path(args.out)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=float))
    return 0


def render(results: dict) -> str:
    m = results["machine"]
    la0 = ", ".join(f"{x:.2f}" for x in m["loadavg_start"])
    la1 = ", ".join(f"{x:.2f}" for x in m["loadavg_end"])
    lines = [
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['platform']}, Python "
        f"{m['python']}, torch {m['torch']}; torch threads {m['threads']}, OMP_WAIT_POLICY="
        f"{m['omp_wait_policy']}. Load average (1, 5, 15 min) {la0} at the start, {la1} at "
        f"the end (the benchmark's own processes and browsers count in it). Audio: "
        f"{results['audio']}.",
        "",
        "Times in seconds: median [min–max] of the warm repetitions; memory = peak RSS of the "
        "fresh process that loaded the model and ran the path (MB).",
        "",
        "| model | input | segments | ours: classify | ours: + Grad-CAM | ours: first look "
        "+ Grad-CAM | baseline: classify | baseline: + Grad-CAM | speed-up (full path) "
        "| speed-up vs the seed with the bundled model | ours peak MB | baseline peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    seed = {  # the seed-style pipeline running the bundled model (the teacher's rows)
        row["input"]: row["baseline"]
        for row in results["rows"]
        if row["model"] == "teacher" and row.get("baseline")
    }
    for row in results["rows"]:
        o, b = row["ours"], row.get("baseline")
        speed = f"{np.median(b['full_s']) / np.median(o['full_s']):.1f}×" if b else "—"
        s = seed.get(row["input"])
        vs_seed = f"{np.median(s['full_s']) / np.median(o['full_s']):.1f}×" if s else "—"
        cells = [
            row["model"],
            row["input"],
            str(o["segments"]),
            _stat(o["classify_s"]),
            _stat(o["full_s"]),
            _stat(o.get("first_look_s", [])),
            _stat(b["classify_s"]) if b else "—",
            _stat(b["full_s"]) if b else "—",
            speed,
            vs_seed,
            f"{o['peak_rss_mb']:.0f}",
            f"{b['peak_rss_mb']:.0f}" if b else "—",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if results["first_call"]:
        lines += [
            "",
            "First call in a fresh process (30 s mp3, one run each; seconds):",
            "",
            "| model | warm-up at load | interpreter + imports | model load | warm_up() "
            "| first request | second request |",
            "|---|---|---|---|---|---|---|",
        ]
        for mname, fc in results["first_call"].items():
            for kind, r in fc.items():
                lines.append(
                    f"| {mname} | {'yes' if kind == 'first_warm' else 'no'} "
                    f"| {r['imports_s']:.2f} | {r['model_load_s']:.2f} | {r['warm_up_s']:.2f} "
                    f"| {r['first_request_s']:.2f} | {r['second_request_s']:.2f} |"
                )
    if results["app"]:
        lines += [
            "",
            "App cold start: `streamlit run app.py` to the first verdict on the Classify page "
            "(headless Chromium, 30 s mp3 uploaded as soon as the page is ready; a fresh "
            "server per run; seconds, median [min–max]):",
            "",
            "| model | runs | server healthy | page ready | verdict shown | upload → verdict |",
            "|---|---|---|---|---|---|",
        ]
        keys = ("server_healthy_s", "page_ready_s", "verdict_s", "upload_to_verdict_s")
        for mname, runs in results["app"].items():
            runs = runs if isinstance(runs, list) else [runs]  # results of older versions
            done = [r for r in runs if "verdict_s" in r]
            failed = [r.get("error") or r.get("skipped") for r in runs if "verdict_s" not in r]
            cells = [_stat([r[k] for r in done]) for k in keys] if done else ["—"] * 4
            lines.append(f"| {mname} | {len(done)} | " + " | ".join(cells) + " |")
            lines += [f"| {mname} | failed: {why} | | | | |" for why in failed]
    lines.append("")
    lines.append(f"Benchmark wall time: {m['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
