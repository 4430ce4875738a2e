"""A small labelled dataset synthesized on the spot, so training works on a fresh install.

Four classes named after the instrument that leads each clip — ``drums``, ``chords``,
``bass``, ``piano`` — built from the generators of :mod:`genrecls.synth` (the same ones
that made the demo clips under ``assets/``, so a model trained here classifies those
clips). No clip is a copy of another: each one draws its own seed, tempo and
transposition, mixes in a quieter second instrument from another class, and gets its own
"recording" — coloured background noise, a mains-like hum and a level — that every
segment of that clip shares. That shared recording character is what a song-level
split must keep on one side: :func:`genrecls.data.random_segment_split` lets a model
recognise the clip instead of the instrument.

Everything is deterministic (seeded by the clip's class and number). The WAV files are
written once under ``.cache/builtin/`` in the checkout (git-ignored), in one folder per
class, with a ``labels.csv`` naming the group (clip) of each file, so
:func:`genrecls.data.index_folder` indexes them like a user's archive.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from genrecls.config import PROJECT_ROOT
from genrecls.data import Track, index_folder
from genrecls.exceptions import ParameterError
from genrecls.synth import bass_line, chord_progression, drum_loop, piano_melody

__all__ = [
    "BUILTIN_CLASSES",
    "BUILTIN_SR",
    "DEFAULT_BUILTIN_ROOT",
    "builtin_dataset_dir",
    "builtin_tracks",
    "dataset_digest",
    "synthesize_clip",
]

#: Class names of the built-in set, in label order.
BUILTIN_CLASSES: tuple[str, ...] = ("drums", "chords", "bass", "piano")

#: Sampling rate of the written clips (the default :class:`genrecls.features.FeatureConfig`
#: rate, so no resampling happens when segments are computed).
BUILTIN_SR = 16000

#: Parent folder of the written datasets (``.cache/builtin`` in the checkout).
DEFAULT_BUILTIN_ROOT: Path = PROJECT_ROOT / ".cache" / "builtin"

#: Bump when the synthesis changes, so stale folders are rewritten.
_VERSION = 1

_MANIFEST = "builtin.json"

# Level of the second instrument below the lead, SNR of the background noise and level of
# the hum below the lead, in dB (ranges drawn from per clip).
_SECOND_DB = (3.0, 9.0)
_NOISE_DB = (8.0, 18.0)
_HUM_DB = (8.0, 18.0)

# Lead generator and tempo range (BPM) of each class. Chords have no tempo argument.
_LEAD: dict[str, tuple[Callable[..., np.ndarray], tuple[float, float] | None]] = {
    "drums": (drum_loop, (85.0, 140.0)),
    "chords": (chord_progression, None),
    "bass": (bass_line, (80.0, 130.0)),
    "piano": (piano_melody, (60.0, 110.0)),
}


def _check_positive_int(value: object, *, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_seconds(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | np.floating):
        raise ParameterError(f"seconds must be a number, got {seconds!r}")
    if not 1.0 <= float(seconds) <= 60.0:
        raise ParameterError(f"seconds must lie in [1, 60], got {seconds}")
    return float(seconds)


def _render(label: str, *, rng: np.random.Generator, n: int, sr: int, seed: int) -> np.ndarray:
    """One instrument part of ``n`` samples at ``sr``, with its own tempo and key."""
    generator, tempo = _LEAD[label]
    # Transpose by rendering at another rate: +k semitones = render at sr / 2^(k/12).
    semitones = float(rng.integers(-3, 4))
    render_sr = int(round(sr / 2.0 ** (semitones / 12.0)))
    kwargs: dict = {"sr": render_sr, "seconds": n / render_sr + 0.01, "seed": seed}
    if tempo is not None:
        kwargs["bpm"] = float(rng.uniform(*tempo))
    y = np.asarray(generator(**kwargs), dtype=np.float64)[:n]
    if y.size < n:
        y = np.pad(y, (0, n - y.size))
    return y


def _coloured_noise(rng: np.random.Generator, *, n: int, sr: int) -> np.ndarray:
    """Noise with a random spectral tilt (from bright hiss to dark rumble), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    tilt_db_per_octave = rng.uniform(-6.0, 3.0)
    gain = np.power(np.maximum(f, 50.0) / 1000.0, tilt_db_per_octave / (20 * np.log10(2)))
    y = np.fft.irfft(spectrum * gain, n)
    return y / (np.sqrt(np.mean(y**2)) + 1e-12)


def synthesize_clip(
    label: str, *, index: int, sr: int = BUILTIN_SR, seconds: float = 6.0
) -> np.ndarray:
    """Synthesize clip number ``index`` of a built-in class.

    The lead instrument of ``label`` (own seed, tempo, transposition of -3..+3
    semitones), a second instrument from another class 3–9 dB below it, coloured noise
    8–18 dB below it, a hum at a random 45–400 Hz 8–18 dB below it, and a random level. All drawn
    from a generator seeded by ``(label, index)``.

    Parameters
    ----------
    label : str
        One of :data:`BUILTIN_CLASSES`.
    index : int >= 0
        Clip number; each gives a different clip.
    sr : int > 0
        Sampling rate.
    seconds : float in [1, 60]
        Duration.

    Returns
    -------
    y : np.ndarray [shape=(round(sr * seconds),), dtype=float32]
        Peak below 1.
    """
    if label not in BUILTIN_CLASSES:
        raise ParameterError(f"label must be one of {BUILTIN_CLASSES}, got {label!r}")
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 0:
        raise ParameterError(f"index must be an integer >= 0, got {index!r}")
    sr = _check_positive_int(sr, name="sr")
    n = int(round(sr * _check_seconds(seconds)))
    class_id = BUILTIN_CLASSES.index(label)
    rng = np.random.default_rng([_VERSION, class_id, int(index)])
    seed = int(rng.integers(2**31))

    lead = _render(label, rng=rng, n=n, sr=sr, seed=seed)
    others = [c for c in BUILTIN_CLASSES if c != label]
    second = _render(others[int(rng.integers(len(others)))], rng=rng, n=n, sr=sr, seed=seed + 1)
    rms = np.sqrt(np.mean(lead**2)) + 1e-12
    second *= rms / (np.sqrt(np.mean(second**2)) + 1e-12) * 10 ** (-rng.uniform(*_SECOND_DB) / 20)
    noise = _coloured_noise(rng, n=n, sr=sr) * rms * 10 ** (-rng.uniform(*_NOISE_DB) / 20)
    t = np.arange(n) / sr
    hum = np.sin(2 * np.pi * rng.uniform(45, 400) * t) * rms * 10 ** (-rng.uniform(*_HUM_DB) / 20)
    y = lead + second + noise + hum
    y *= rng.uniform(0.3, 0.9) / (np.max(np.abs(y)) + 1e-12)
    return y.astype(np.float32)


def _manifest(n_per_class: int, seconds: float, sr: int) -> dict:
    return {
        "version": _VERSION,
        "classes": list(BUILTIN_CLASSES),
        "n_per_class": n_per_class,
        "seconds": seconds,
        "sr": sr,
    }


def _is_complete(folder: Path, manifest: dict) -> bool:
    try:
        found = json.loads((folder / _MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if found != manifest:
        return False
    return all(
        (folder / label / f"{label}_{i:02d}.wav").is_file()
        for label in BUILTIN_CLASSES
        for i in range(manifest["n_per_class"])
    )


def builtin_dataset_dir(
    *, n_per_class: int = 12, seconds: float = 6.0, root: Path | None = None
) -> Path:
    """Return the folder of the built-in dataset, writing it first if needed.

    The folder holds one subfolder per class of :data:`BUILTIN_CLASSES` with
    ``<class>_<nn>.wav`` files (mono, 16 kHz, 16-bit), a ``labels.csv`` (``file``,
    ``label``, ``group``: one group per clip) and a ``builtin.json`` describing what was
    written. It is written into a temporary sibling folder and renamed into place, so
    concurrent callers (two app sessions) never see a half-written set; a later call
    with the same arguments returns the existing folder at once.

    Parameters
    ----------
    n_per_class : int > 0
        Clips per class.
    seconds : float in [1, 60]
        Duration of each clip (6 s = two 3 s model segments).
    root : pathlib.Path or None
        Parent folder; None uses :data:`DEFAULT_BUILTIN_ROOT`.

    Returns
    -------
    folder : pathlib.Path
        ``root / "v<version>_<n_per_class>x<seconds>s"``.
    """
    n_per_class = _check_positive_int(n_per_class, name="n_per_class")
    seconds = _check_seconds(seconds)
    root = DEFAULT_BUILTIN_ROOT if root is None else Path(root)
    manifest = _manifest(n_per_class, seconds, BUILTIN_SR)
    folder = root / f"v{_VERSION}_{n_per_class}x{seconds:g}s"
    if _is_complete(folder, manifest):
        return folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
    try:
        rows = ["file,label,group"]
        for label in BUILTIN_CLASSES:
            (tmp / label).mkdir()
            for i in range(n_per_class):
                name = f"{label}_{i:02d}"
                y = synthesize_clip(label, index=i, sr=BUILTIN_SR, seconds=seconds)
                sf.write(tmp / label / f"{name}.wav", y, BUILTIN_SR, subtype="PCM_16")
                rows.append(f"{label}/{name}.wav,{label},builtin:{name}")
        (tmp / "labels.csv").write_text("\n".join(rows) + "\n")
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if folder.exists():  # stale (older version or incomplete): replace it
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not _is_complete(folder, manifest):  # nobody else finished it either
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def builtin_tracks(
    *, n_per_class: int = 12, seconds: float = 6.0, root: Path | None = None
) -> list[Track]:
    """Index the built-in dataset (writing it first if needed).

    Parameters
    ----------
    n_per_class, seconds, root
        See :func:`builtin_dataset_dir`.

    Returns
    -------
    tracks : list of Track
        ``n_per_class * 4`` tracks, role ``"train"``, source ``"builtin"``, one group per
        clip (``"builtin:drums_03"``).
    """
    folder = builtin_dataset_dir(n_per_class=n_per_class, seconds=seconds, root=root)
    return index_folder(folder, source="builtin")


def dataset_digest(folder: Path) -> str:
    """Short hash of a built-in folder's manifest (identifies the data in model cards)."""
    return hashlib.sha1((Path(folder) / _MANIFEST).read_bytes()).hexdigest()[:12]
