"""Measure the music / silence / speech / noise rule of genrecls.musicness on real examples.

Builds a labelled set of examples, splits it in two halves by group (a GTZAN track and every
clip derived from it, or one speech utterance and its noisy / telephone / reverberant copies,
always fall in the same half), fits the thresholds on the *tune* half and reports the
confusion matrix of the rule hard-coded in ``genrecls/musicness.py`` on the *held-out* half.

Examples
--------
- music (real recordings): every file of ``gtzan_excerpts_20s``, ``gtzan_samples``,
  ``nazar_full_songs``, ``fma_samples``, 100 files of ``gtzan_excerpts_2s`` (seeded sample),
  the synthesized demo clips ``assets/*.ogg``; copies of the longer ones mixed with white or
  pink noise at 10 dB SNR, a few at -30 dB gain or with 3 s of silence at both ends (still
  music); drum loops at other tempos and piano phrases with rests, synthesized.
- speech: **synthesized** with ``espeak-ng`` (several languages, voices, speeds, pitches);
  each utterance also gets a noisy copy (white or pink noise at 30, 20 or 10 dB SNR) and a
  telephone-band (300-3400 Hz) or reverberant copy (sox reverb: light, medium or heavy).
- noise: white, pink and brown noise at several levels (numpy and ``sox synth``), mains hum
  (50/60 Hz and harmonics, clean and with hiss).
- silence: digital zeros, zeros with a DC offset, dither at -70, -80 and -96 dBFS.

Usage::

    .venv/bin/python scripts/measure_musicness.py            # report + models/musicness_report.json
    .venv/bin/python scripts/measure_musicness.py --csv d.csv  # also dump every descriptor
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from genrecls.config import PROJECT_ROOT, bundled_models_dir, data_dir  # noqa: E402

KINDS = ("music", "silence", "speech", "noise")

# --------------------------------------------------------------------------- examples


@dataclass
class Example:
    """One labelled input; ``load`` returns (mono float32 samples, sample rate)."""

    name: str
    kind: str
    group: str
    source: str
    load: Callable[[], tuple[np.ndarray, int]]

    @property
    def half(self) -> str:
        return "tune" if zlib.crc32(self.group.encode()) % 2 == 0 else "test"


def _load_file(path: Path) -> tuple[np.ndarray, int]:
    from genrecls.audio import load_audio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clip = load_audio(path, sr=None, max_duration=60.0)
    return clip.samples, clip.sr


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(y, dtype=np.float64) ** 2)))


def colored_noise(n: int, *, color: str, seed: int) -> np.ndarray:
    """White / pink (1/f power) / brown (1/f^2 power) Gaussian noise with unit RMS."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(n)
    if color == "white":
        y = white
    else:
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(n)
        f[0] = f[1]
        spec /= f ** (0.5 if color == "pink" else 1.0)
        y = np.fft.irfft(spec, n)
    y = y - y.mean()
    return y / _rms(y)


def _at_dbfs(y: np.ndarray, dbfs: float) -> np.ndarray:
    """Scale ``y`` to an RMS level of ``dbfs`` (0 dBFS = RMS 1), float32, clipped to +-1."""
    out = y / max(_rms(y), 1e-20) * 10 ** (dbfs / 20)
    return np.clip(out, -1, 1).astype(np.float32)


def _mix_snr(music: np.ndarray, *, snr_db: float, color: str, seed: int) -> np.ndarray:
    noise = colored_noise(len(music), color=color, seed=seed)
    noise *= _rms(music) / 10 ** (snr_db / 20)
    y = music + noise
    peak = np.max(np.abs(y))
    return (y / peak * 0.9 if peak > 0.99 else y).astype(np.float32)


def music_examples(root: Path) -> list[Example]:
    """Real recordings from the shared data folder and the synthesized demo clips."""
    out: list[Example] = []

    def add(path: Path, source: str, group: str) -> None:
        out.append(Example(path.stem, "music", group, source, lambda p=path: _load_file(p)))

    for folder in ("gtzan_excerpts_20s", "gtzan_samples"):
        for p in sorted((root / folder).glob("*/*")):
            if p.suffix in (".flac", ".au", ".wav"):
                add(p, folder, "gtzan:" + p.stem)
    for folder in ("nazar_full_songs", "fma_samples"):
        for p in sorted((root / folder).glob("*/*.mp3")):
            add(p, folder, f"{folder}:{p.stem}")
    short = sorted((root / "gtzan_excerpts_2s").glob("*/*.flac"))
    if short:
        rng = np.random.default_rng(0)
        for i in sorted(rng.choice(len(short), size=min(100, len(short)), replace=False)):
            add(short[i], "gtzan_excerpts_2s", "gtzan:" + short[i].stem)
    for p in sorted((PROJECT_ROOT / "assets").glob("*.ogg")):
        add(p, "assets (synthesized demo clips)", "asset:" + p.stem)

    out += synth_music_examples()

    # Derived copies of the longer clips: the same group as their source.
    derived: list[Example] = []
    for i, ex in enumerate(e for e in out if e.source != "gtzan_excerpts_2s"):
        color = "white" if i % 2 == 0 else "pink"

        def noisy(ex=ex, color=color, i=i):
            y, sr = ex.load()
            return _mix_snr(y, snr_db=10.0, color=color, seed=1000 + i), sr

        derived.append(
            Example(f"{ex.name}+{color}@10dB", "music", ex.group, "music + noise 10 dB SNR", noisy)
        )
        if ex.source == "gtzan_samples":

            def quiet(ex=ex):
                y, sr = ex.load()
                return (y * 10 ** (-30 / 20)).astype(np.float32), sr

            derived.append(Example(f"{ex.name}-30dB", "music", ex.group, "music at -30 dB", quiet))

            def padded(ex=ex):
                y, sr = ex.load()
                gap = np.zeros(3 * sr, np.float32)
                return np.concatenate([gap, y, gap]), sr

            derived.append(
                Example(
                    f"{ex.name} +3 s silence at both ends",
                    "music",
                    ex.group,
                    "music with silent lead-in and tail",
                    padded,
                )
            )
    return out + derived


def phrases_with_rests(*, sr: int, seconds: float, seed: int) -> np.ndarray:
    """Piano-like phrases of 2-6 notes separated by rests of 0.4-1.5 s, in free time.

    Music that has pauses and no steady beat, like a solo instrument playing rubato: the
    case that only the held pitches (``steady_peaks``) tell apart from speech.
    """
    from genrecls.synth import midi_to_hz

    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    y = np.zeros(n + 2 * sr)
    pos = int(rng.uniform(0.0, 0.5) * sr)
    while pos < n:
        for _ in range(rng.integers(2, 7)):
            dur = rng.uniform(0.25, 0.8)
            m = int(sr * dur)
            t = np.arange(m) / sr
            f = midi_to_hz(int(rng.choice([57, 60, 62, 64, 65, 67, 69, 72, 74, 76])))
            tone = sum(np.sin(2 * np.pi * f * k * t) / k**1.5 for k in range(1, 7))
            env = (
                np.exp(-2.0 * t)
                * np.minimum(1.0, t / 0.01)
                * np.minimum(1.0, (m - 1 - np.arange(m)) / (0.03 * sr))
            )
            y[pos : pos + m] += tone * env
            pos += m
        pos += int(rng.uniform(0.4, 1.5) * sr)
    y = y[:n]
    return (0.7 * y / np.max(np.abs(y))).astype(np.float32)


def synth_music_examples() -> list[Example]:
    """Music from genrecls.synth at other tempos and seeds, and phrases with rests."""
    from genrecls import synth

    sr = 22050
    out: list[Example] = []
    for i, (bpm, seed) in enumerate(
        [(80, 1), (95, 2), (105, 3), (120, 4), (135, 5), (150, 6), (90, 7), (125, 8)]
    ):

        def loop(bpm=bpm, seed=seed):
            return synth.drum_loop(sr=sr, seconds=12.0, bpm=bpm, seed=seed), sr

        out.append(
            Example(
                f"synth drum_loop {bpm} BPM seed {seed}",
                "music",
                f"synth:drum:{i}",
                "genrecls.synth drum loops (synthesized)",
                loop,
            )
        )
    for seed in range(8):

        def phrases(seed=seed):
            return phrases_with_rests(sr=sr, seconds=12.0, seed=seed), sr

        out.append(
            Example(
                f"phrases with rests seed {seed}",
                "music",
                f"synth:phrases:{seed}",
                "piano phrases with rests (synthesized)",
                phrases,
            )
        )
    return out


SPEECH_TEXTS: dict[str, list[str]] = {
    "en": [
        "The weather was nice this morning, so we walked along the river. "
        "Later we stopped at a small cafe and talked about our plans for the summer.",
        "Please remember to bring your passport and your ticket. The train leaves at "
        "half past nine from platform four, and it will not wait for anyone.",
        "In this lecture we will look at how plants turn sunlight into sugar. "
        "First, let us review the structure of a leaf and the role of chlorophyll.",
        "My grandmother grew up on a farm in the north. She still tells stories "
        "about the long winters, the animals, and the dances in the village hall.",
        "Good evening and welcome to the news. The city council approved the new budget "
        "today. Critics say that it does not do enough for public transport.",
        "To reset the device, hold the power button for ten seconds. When the light "
        "turns blue, release it and wait until the screen shows the welcome message.",
        "I am not sure that I agree with you. The data you showed are interesting, "
        "but the sample is small and the effect could easily be a coincidence.",
        "Chapter one. It was a cold and windy night when the letter arrived. "
        "Nobody in the house knew who had sent it, and nobody dared to open it.",
        "Thank you for calling. All of our agents are busy at the moment. "
        "Please stay on the line, or visit our website to find answers to common questions.",
        "The recipe is simple. Chop two onions, fry them in butter until they are golden, "
        "then add the tomatoes, a pinch of salt, and let everything cook for twenty minutes.",
        "Our team finished the project two weeks early. We learned a lot about testing, "
        "and next time we would start writing the documentation much sooner.",
        "Scientists have found a new species of frog in the rain forest. It is smaller "
        "than a fingernail and it sings at night with a high, clicking voice.",
    ],
    "de": [
        "Guten Morgen. Heute sprechen wir ueber die Geschichte der Stadt. "
        "Sie wurde vor mehr als achthundert Jahren an einem kleinen Fluss gegruendet.",
        "Der Zug nach Berlin hat leider zwanzig Minuten Verspaetung. "
        "Wir bitten alle Reisenden um Entschuldigung und um etwas Geduld.",
        "Am Wochenende wollen wir in die Berge fahren. Wenn das Wetter gut bleibt, "
        "wandern wir bis zur Huette und uebernachten dort.",
        "Bitte lesen Sie die Anleitung sorgfaeltig, bevor Sie das Geraet einschalten. "
        "Bewahren Sie sie fuer spaeteres Nachschlagen auf.",
    ],
    "fr": [
        "Bonjour a tous et bienvenue dans notre emission. Aujourd'hui, nous allons "
        "parler de la cuisine du sud de la France et de ses traditions.",
        "Le musee ouvre ses portes a dix heures. La visite guidee dure environ une heure, "
        "et elle est gratuite pour les enfants de moins de douze ans.",
        "Il faisait tres chaud cet ete, alors nous sommes alles a la mer. "
        "Les enfants ont construit un grand chateau de sable sur la plage.",
        "Je vous remercie de votre attention. Si vous avez des questions, "
        "n'hesitez pas a les poser maintenant ou a la fin de la presentation.",
    ],
    "es": [
        "Buenos dias. El vuelo con destino a Madrid saldra con un retraso de media hora. "
        "Les rogamos que permanezcan en la sala de espera.",
        "Mi hermano vive en una casa pequena cerca del mar. Todos los veranos "
        "vamos a visitarlo y pasamos las tardes pescando en el puerto.",
        "Para preparar la salsa, necesitas tomates maduros, ajo y aceite de oliva. "
        "Cocina todo a fuego lento durante quince minutos.",
        "La biblioteca estara cerrada el lunes por reparaciones. "
        "Los libros prestados se pueden devolver en el buzon de la entrada.",
    ],
}
_ESPEAK_LANG = {
    "en": ("en", "en-us", "en-gb-scotland"),
    "de": ("de",),
    "fr": ("fr-fr",),
    "es": ("es",),
}
_VARIANTS = ("m1", "m3", "m7", "f2", "f3", "f4", "klatt", "klatt3", "croak", "whisperf", "", "m5")


def _sox(args: list[str]) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True, timeout=60)


def speech_examples(workdir: Path) -> tuple[list[Example], str]:
    """espeak-ng utterances (synthesized), each with a noisy and a band-limited/reverb copy."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return [], "espeak-ng not found: no speech examples"
    have_sox = shutil.which("sox") is not None
    out: list[Example] = []
    k = 0
    for lang, texts in SPEECH_TEXTS.items():
        for ti, text in enumerate(texts):
            for rep in range(2):
                voice = _ESPEAK_LANG[lang][(ti + rep) % len(_ESPEAK_LANG[lang])]
                variant = _VARIANTS[k % len(_VARIANTS)]
                speed = 120 + (k * 37) % 81  # 120 .. 200 words per minute
                pitch = 20 + (k * 23) % 61  # 20 .. 80
                v = f"{voice}+{variant}" if variant else voice
                wav = workdir / f"speech{k:03d}.wav"
                subprocess.run(
                    [espeak, "-w", str(wav), "-v", v, "-s", str(speed), "-p", str(pitch), text],
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
                name = f"espeak {v} s{speed} p{pitch} #{k}"
                group = f"speech:{k}"

                def load(wav=wav):
                    y, sr = sf.read(wav, dtype="float32")
                    return y, sr

                out.append(Example(name, "speech", group, "espeak-ng (synthesized)", load))
                if have_sox:
                    how = ("phone", "reverb")[k % 2]
                    dst = workdir / f"speech{k:03d}_{how}.wav"
                    if how == "phone":
                        _sox([str(wav), "-r", "8000", str(dst), "sinc", "300-3400"])
                        label = "telephone band"
                    else:
                        # sox reverb: reverberance %, HF damping %, room scale %.
                        amount, room = ((20, 30), (40, 50), (60, 80))[(k // 2) % 3]
                        args = ["reverb", str(amount), "50", str(room), "pad", "0", "1"]
                        _sox([str(wav), str(dst), *args])
                        label = f"reverb {amount}% room {room}%"

                    def deg(dst=dst):
                        y, sr = sf.read(dst, dtype="float32")
                        return y, sr

                    out.append(
                        Example(
                            f"{name} {label}",
                            "speech",
                            group,
                            f"espeak-ng (synthesized), {label}",
                            deg,
                        )
                    )
                snr = (30.0, 20.0, 10.0)[k % 3]
                color = ("pink", "white")[(k // 3) % 2]

                def noisy(load=load, k=k, snr=snr, color=color):
                    y, sr = load()
                    return _mix_snr(y, snr_db=snr, color=color, seed=2000 + k), sr

                label = f"+{color} noise {snr:g} dB SNR"
                out.append(
                    Example(
                        f"{name} {label}",
                        "speech",
                        group,
                        f"espeak-ng (synthesized), {label}",
                        noisy,
                    )
                )
                k += 1
    return out, (
        f"{k} espeak-ng utterances, each also with a noisy copy (white or pink noise at 30, 20 or "
        "10 dB SNR) and a telephone-band or reverberant copy"
    )


#: Mains hum recipes: (amplitudes of the fundamental and its harmonics, hiss level).
HUMS = (
    ((1.0,), 0.0),
    ((1.0, 0.5, 0.3, 0.2), 0.0),
    ((0.3, 1.0, 0.2, 0.4, 0.1), 0.02),
    ((1.0, 0.7, 0.5, 0.4, 0.3, 0.2), 0.05),
)


def noise_examples(workdir: Path) -> list[Example]:
    """Coloured noise, hum and silence, numpy- and sox-made."""
    out: list[Example] = []
    sr = 22050
    k = 0
    for color in ("white", "pink", "brown"):
        for level in (-6.0, -20.0, -35.0, -50.0):
            for seconds in (3.0, 12.0, 30.0):
                n = int(sr * seconds)

                def load(n=n, color=color, level=level, k=k):
                    return _at_dbfs(colored_noise(n, color=color, seed=k), level), sr

                out.append(
                    Example(
                        f"{color} {level:g}dBFS {seconds:g}s",
                        "noise",
                        f"noise:{k}",
                        f"{color} noise (numpy)",
                        load,
                    )
                )
                k += 1
    if shutil.which("sox"):
        for color in ("whitenoise", "pinknoise", "brownnoise"):
            for gain in (-3, -25):
                dst = workdir / f"sox_{color}_{-gain}.wav"
                _sox(
                    [
                        "-n",
                        "-r",
                        "44100",
                        "-c",
                        "1",
                        "-b",
                        "16",
                        str(dst),
                        "synth",
                        "10",
                        color,
                        "gain",
                        str(gain),
                    ]
                )

                def load(dst=dst):
                    y, fs = sf.read(dst, dtype="float32")
                    return y, fs

                out.append(
                    Example(f"sox {color} gain {gain}", "noise", f"noise:{k}", "sox synth", load)
                )
                k += 1
    for mains in (50.0, 60.0):
        for weights, hiss in HUMS:
            for level in (-12.0, -40.0):

                def load(mains=mains, weights=weights, hiss=hiss, level=level, k=k):
                    t = np.arange(int(sr * 10)) / sr
                    y = sum(
                        w * np.sin(2 * np.pi * mains * (h + 1) * t + h)
                        for h, w in enumerate(weights)
                    )
                    y = y / _rms(y) + hiss * 10 * colored_noise(t.size, color="white", seed=k)
                    return _at_dbfs(y, level), sr

                out.append(
                    Example(
                        f"hum {mains:g}Hz x{len(weights)} hiss{hiss:g} {level:g}dBFS",
                        "noise",
                        f"noise:{k}",
                        "mains hum",
                        load,
                    )
                )
                k += 1
    # silence
    for seconds in (1.0, 5.0, 30.0):

        def zeros(seconds=seconds):
            return np.zeros(int(sr * seconds), np.float32), sr

        out.append(
            Example(f"zeros {seconds:g}s", "silence", f"silence:{k}", "digital zeros", zeros)
        )
        k += 1

        def dc(seconds=seconds):
            return np.full(int(sr * seconds), 0.01, np.float32), sr

        out.append(Example(f"DC 0.01 {seconds:g}s", "silence", f"silence:{k}", "DC offset", dc))
        k += 1
        for level in (-70.0, -80.0, -96.0):
            for color in ("white", "pink"):

                def dither(seconds=seconds, level=level, color=color, k=k):
                    n = int(sr * seconds)
                    return _at_dbfs(colored_noise(n, color=color, seed=k), level), sr

                out.append(
                    Example(
                        f"{color} dither {level:g}dBFS {seconds:g}s",
                        "silence",
                        f"silence:{k}",
                        "near-silence (dither)",
                        dither,
                    )
                )
                k += 1
    return out


# --------------------------------------------------------------------------- tuning


def _num(v: float | None) -> float:
    return np.nan if v is None else v


def best_threshold(values: np.ndarray, positive: np.ndarray, *, positive_below: bool) -> dict:
    """Best single threshold on one descriptor, by balanced accuracy on the given examples.

    Candidates are the midpoints between consecutive distinct values; among the candidates
    with the best balanced accuracy, the widest contiguous run is kept and the threshold is
    the middle of the gap of data values it spans (largest margin).
    """
    ok = np.isfinite(values)
    v, pos = values[ok], positive[ok]
    u = np.unique(v)
    cands = np.concatenate([[u[0] - 1e-9], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-9]])
    scores = []
    for t in cands:
        pred = v < t if positive_below else v >= t
        tpr = np.mean(pred[pos]) if pos.any() else 1.0
        tnr = np.mean(~pred[~pos]) if (~pos).any() else 1.0
        scores.append((tpr + tnr) / 2)
    scores = np.asarray(scores)
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    runs = np.split(best, np.flatnonzero(np.diff(best) > 1) + 1)

    # Each candidate i lies between data values u[i-1] and u[i]; span of a run = that gap.
    def span(run: np.ndarray) -> tuple[float, float]:
        lo = u[run[0] - 1] if run[0] > 0 else u[0]
        hi = u[run[-1]] if run[-1] < len(u) else u[-1]
        return lo, hi

    run = max(runs, key=lambda r: span(r)[1] - span(r)[0])
    lo, hi = span(run)
    return {
        "threshold": float((lo + hi) / 2),
        "gap": [float(lo), float(hi)],
        "balanced_accuracy": float(scores.max()),
        "n": int(ok.sum()),
    }


def tune(rows: list[dict]) -> dict:
    """Fit each threshold of the rule on the given rows (the tune half)."""
    from genrecls import musicness as mu

    def arr(sel, key):
        return np.array([_num(r["descriptors"][key]) for r in sel], dtype=float)

    out = {}
    out["SILENCE_LEVEL_DBFS"] = best_threshold(
        arr(rows, "level_dbfs"),
        np.array([r["kind"] == "silence" for r in rows]),
        positive_below=True,
    )
    sounding = [
        r
        for r in rows
        if r["kind"] != "silence" and r["descriptors"]["duration_s"] >= mu.MIN_SECONDS
    ]
    out["NOISE_MAX_CHANGE_DB"] = best_threshold(
        arr(sounding, "spectral_change_db"),
        np.array([r["kind"] == "noise" for r in sounding]),
        positive_below=True,
    )
    talk = [
        r
        for r in rows
        if r["kind"] in ("music", "speech")
        and r["descriptors"]["duration_s"] >= mu.MIN_SPEECH_SECONDS
    ]
    out.update(tune_speech(talk))
    return out


SPEECH_TESTS = (
    # (constant, descriptor, speech lies below the threshold)
    ("SPEECH_MIN_PAUSES", "pause_fraction", False),
    ("SPEECH_MAX_BEAT", "beat_strength", True),
    ("SPEECH_MAX_STEADY_PEAKS", "steady_peaks", True),
)


def tune_speech(talk: list[dict], *, rounds: int = 3) -> dict:
    """Fit the three thresholds of the speech conjunction by coordinate ascent.

    Speech = many pauses AND a weak beat AND few held pitches. Each threshold is refitted
    in turn with :func:`best_threshold` on the examples that pass the other two tests
    (the only ones it decides), starting from the pause test alone.
    """
    is_speech = np.array([r["kind"] == "speech" for r in talk])
    vals = {
        key: np.array([_num(r["descriptors"][key]) for r in talk], dtype=float)
        for _, key, _ in SPEECH_TESTS
    }
    th = {name: (np.inf if below else -np.inf) for name, _, below in SPEECH_TESTS}
    fits: dict = {}

    def passes(name: str, key: str, below: bool) -> np.ndarray:
        v = vals[key]
        return (v < th[name]) if below else (v >= th[name])

    for _ in range(rounds):
        for name, key, below in SPEECH_TESTS:
            others = np.ones(len(talk), bool)
            for n2, k2, b2 in SPEECH_TESTS:
                if n2 != name:
                    others &= passes(n2, k2, b2)
            fit = best_threshold(vals[key][others], is_speech[others], positive_below=below)
            fit["decides_between"] = {
                "speech": int((others & is_speech).sum()),
                "music": int((others & ~is_speech).sum()),
            }
            th[name] = fit["threshold"]
            fits[name] = fit
    pred = np.ones(len(talk), bool)
    for name, key, below in SPEECH_TESTS:
        pred &= passes(name, key, below)
    for fit in fits.values():
        fit["conjunction_accuracy_on_tune"] = float(np.mean(pred == is_speech))
    return fits


# --------------------------------------------------------------------------- report


def confusion(rows: list[dict]) -> dict[str, dict[str, int]]:
    table = {k: dict.fromkeys(KINDS, 0) for k in KINDS}
    for r in rows:
        table[r["kind"]][r["predicted"]] += 1
    return table


def format_confusion(table: dict[str, dict[str, int]], title: str) -> str:
    width = 9
    lines = [
        title,
        "true \\ predicted".ljust(18) + "".join(k.rjust(width) for k in KINDS) + "   correct",
    ]
    for k in KINDS:
        row = table[k]
        n = sum(row.values())
        ok = row[k]
        frac = f"{ok}/{n}" + (f" ({100 * ok / n:.1f}%)" if n else "")
        lines.append(k.ljust(18) + "".join(str(row[p]).rjust(width) for p in KINDS) + "   " + frac)
    return "\n".join(lines)


def summary(rows: list[dict]) -> dict:
    n = len(rows)
    kind_ok = sum(r["kind"] == r["predicted"] for r in rows)
    music_ok = sum((r["kind"] == "music") == (r["predicted"] == "music") for r in rows)
    return {
        "n": n,
        "kind_accuracy": kind_ok / n if n else None,
        "is_music_accuracy": music_ok / n if n else None,
        "confusion": confusion(rows),
    }


def per_source(rows: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        s = out.setdefault(r["source"], {"n": 0, "correct": 0})
        s["n"] += 1
        s["correct"] += int(r["kind"] == r["predicted"])
    return dict(sorted(out.items()))


def time_rule(y: np.ndarray, sr: int, *, repeats: int = 30) -> dict[str, float]:
    from genrecls.musicness import assess_music

    assess_music(y, sr=sr)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        assess_music(y, sr=sr)
        times.append(time.perf_counter() - t0)
    return {
        "seconds_of_audio": len(y) / sr,
        "sr": sr,
        "min_ms": 1000 * min(times),
        "median_ms": 1000 * float(np.median(times)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=bundled_models_dir() / "musicness_report.json")
    ap.add_argument("--csv", type=Path, default=None, help="also write every descriptor here")
    args = ap.parse_args(argv)

    from genrecls import musicness as mu

    root = data_dir()
    with tempfile.TemporaryDirectory(prefix="musicness_") as tmp:
        work = Path(tmp)
        examples = music_examples(root) if root.is_dir() else []
        speech, speech_note = speech_examples(work)
        examples += speech + noise_examples(work)
        print(f"{len(examples)} examples; speech: {speech_note}", flush=True)
        rows = []
        t0 = time.time()
        for i, ex in enumerate(examples):
            y, sr = ex.load()
            if y.ndim > 1:
                y = y.mean(axis=1)
            a = mu.assess_music(np.ascontiguousarray(y, dtype=np.float32), sr=int(sr))
            rows.append(
                {
                    "name": ex.name,
                    "kind": ex.kind,
                    "source": ex.source,
                    "half": ex.half,
                    "predicted": a.kind,
                    "reason": a.reason,
                    "descriptors": {
                        k: (round(v, 5) if np.isfinite(v) else None)
                        for k, v in a.descriptors.items()
                    },
                }
            )
            if (i + 1) % 100 == 0:
                print(f"  {i + 1}/{len(examples)} ({time.time() - t0:.0f} s)", flush=True)

    tune_rows = [r for r in rows if r["half"] == "tune"]
    test_rows = [r for r in rows if r["half"] == "test"]
    tuned = tune(tune_rows)
    hard = {name: getattr(mu, name) for name in tuned}
    print(
        "\nThresholds: tuned on the tune half (best balanced accuracy, middle of the gap)"
        " -> hard-coded in genrecls/musicness.py"
    )
    for name, t in tuned.items():
        gap = f"{t['gap'][0]:.3f}..{t['gap'][1]:.3f}"
        print(
            f"  {name:24s} tuned {t['threshold']:8.3f}  (gap {gap}, balanced acc "
            f"{t['balanced_accuracy']:.3f}, n={t['n']})  hard-coded {hard[name]}"
        )
        if "decides_between" in t:
            print(
                f"  {'':24s} (fitted on the {t['decides_between']} examples that pass the"
                " other two speech tests)"
            )

    res = {"tune": summary(tune_rows), "test": summary(test_rows)}
    print()
    print(format_confusion(res["test"]["confusion"], "HELD-OUT half (test), hard-coded rule:"))
    print(
        f"  kind accuracy {res['test']['kind_accuracy']:.3f}, "
        f"music-vs-not accuracy {res['test']['is_music_accuracy']:.3f}"
    )
    print()
    print(format_confusion(res["tune"]["confusion"], "tune half (thresholds were fitted here):"))
    errors = [r for r in test_rows if r["kind"] != r["predicted"]]
    print(f"\nErrors on the held-out half ({len(errors)}):")
    for r in errors:
        print(f"  {r['kind']:>7s} -> {r['predicted']:7s} {r['name']}  [{r['source']}]")
    src = per_source(test_rows)
    print("\nHeld-out half by source:")
    for s, v in src.items():
        print(f"  {s:45s} {v['correct']}/{v['n']}")

    # Timing: 30 s of real music (or synthesized when the data folder is absent).
    from genrecls import synth

    timing = []
    first = sorted((root / "gtzan_samples").glob("*/*.au")) if root.is_dir() else []
    if first:
        y, sr = _load_file(first[0])
        timing.append({"input": first[0].name, **time_rule(y[: 30 * sr], sr)})
    y = np.tile(synth.drum_loop(sr=22050, seconds=10.0), 3)
    timing.append({"input": "synth.drum_loop x3", **time_rule(y, 22050)})
    y44 = colored_noise(44100 * 30, color="pink", seed=0).astype(np.float32) * 0.1
    timing.append({"input": "pink noise 44.1 kHz", **time_rule(y44, 44100)})
    print("\nTiming of assess_music (one process; this machine is shared, so min is the cost):")
    for t in timing:
        print(
            f"  {t['input']:30s} {t['seconds_of_audio']:.0f} s @ {t['sr']} Hz: "
            f"min {t['min_ms']:.1f} ms, median {t['median_ms']:.1f} ms"
        )

    counts = {
        k: {h: sum(r["kind"] == k and r["half"] == h for r in rows) for h in ("tune", "test")}
        for k in KINDS
    }
    report = {
        "what": "Confusion matrices of genrecls.musicness.assess_music (music / silence / "
        "speech / noise) on labelled examples.",
        "command": "python scripts/measure_musicness.py",
        "split": "Examples are split in two halves by group (crc32 of a GTZAN track stem, a "
        "file, or a speech utterance id, even -> tune, odd -> test), so derived copies (noisy, "
        "quiet, telephone, reverb) stay with their source. Thresholds were tuned on the 'tune' "
        "half; the numbers to quote are those of the 'test' half.",
        "speech_note": "All speech examples are SYNTHESIZED with espeak-ng "
        f"({speech_note}); no recorded human voice was available. Telephone band = sox sinc "
        "300-3400 Hz at 8 kHz; reverb = sox reverb with reverberance 20/40/60 % and room "
        "scale 30/50/80 %.",
        "music_sources": "gtzan_excerpts_20s, gtzan_samples, nazar_full_songs, fma_samples (all), "
        "gtzan_excerpts_2s (100, seeded), assets/*.ogg (synthesized demo clips); copies mixed "
        "with white/pink noise at 10 dB SNR; gtzan_samples at -30 dB gain and with 3 s of silence "
        "at both ends; genrecls.synth drum loops at 8 tempos; piano phrases with rests.",
        "noise_sources": "white/pink/brown noise (numpy) at -6/-20/-35/-50 dBFS RMS, 3/12/30 s; "
        "sox synth white/pink/brown noise; 50/60 Hz hum with harmonics, with and without hiss.",
        "silence_sources": "zeros, DC offset 0.01, white/pink dither at -70/-80/-96 dBFS RMS.",
        "design_notes": "Which descriptors, their order and the speech conjunction were chosen "
        "while exploring ALL examples (both halves); only the threshold values were fitted on "
        "the tune half alone (best_threshold / tune_speech in this script). One design choice "
        "was compared on the test half too: a pause depth of 20 dB (instead of 25 dB) for the "
        "plain-power pass found 65/72 test speech clips instead of 62/72 but called one real "
        "song (gtzan hiphop.00004) speech; 25 dB was kept because calling music 'not music' "
        "is the worse error. Clips under MIN_SPEECH_SECONDS are never called speech (2 s GTZAN "
        "excerpts can be mostly a pause).",
        "counts": counts,
        "thresholds": {
            "hard_coded": hard,
            "tuned_on_tune_half": tuned,
            "fixed_by_design": {
                "MIN_SECONDS": mu.MIN_SECONDS,
                "MIN_SPEECH_SECONDS": mu.MIN_SPEECH_SECONDS,
                "MAX_SECONDS": mu.MAX_SECONDS,
                "ANALYSIS_SR": mu.ANALYSIS_SR,
            },
        },
        "results": res,
        "test_by_source": src,
        "test_errors": errors,
        "timing": timing,
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    if args.csv:
        import csv

        keys = sorted({k for r in rows for k in r["descriptors"]})
        with open(args.csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["name", "kind", "source", "half", "predicted", *keys])
            for r in rows:
                w.writerow(
                    [
                        r["name"],
                        r["kind"],
                        r["source"],
                        r["half"],
                        r["predicted"],
                        *(r["descriptors"].get(k) for k in keys),
                    ]
                )
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
