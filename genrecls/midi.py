"""Render the genre-labelled MIDI of the shared data into training audio.

The shared ``midi/`` folder holds General MIDI files with a genre each (see its
``MANIFEST.md``): full multi-instrument songs of five genres (``freemidi_ums``) and
drum-kit performances of most genres (Groove MIDI Dataset; Gillick et al., 2019,
"Learning to groove with inverse sequence transformations", ICML). FluidSynth with a
General MIDI soundfont turns them into audio at 60–100× real time on 2 cores.

Rendered MIDI is *not* a real recording: its timbres come from one soundfont and it has
no mix, no room and no mastering. It only ever enters the training role; the real-song
test set stays real recordings, so the domain gap is measured rather than assumed away.

Functions
---------
- :func:`index_midi` — the labelled MIDI files, mapped onto GTZAN genres only.
- :func:`find_soundfont` — a General MIDI soundfont on this machine.
- :func:`render_midi` — one file to mono float32 samples.
- :func:`render_tracks` — many files to cached FLAC excerpts, as :class:`genrecls.data.Track`.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from genrecls.config import GENRES, data_dir
from genrecls.exceptions import DataError, DecodeError, ParameterError

__all__ = [
    "MidiFile",
    "MIDI_SOURCES",
    "SOUNDFONT_CANDIDATES",
    "index_midi",
    "find_soundfont",
    "render_midi",
    "excerpt_windows",
    "render_tracks",
]

#: Sub-folders of ``<data>/midi`` and what their files hold.
MIDI_SOURCES: dict[str, str] = {
    "freemidi_ums": "full multi-instrument General MIDI songs (fan-made, internal use only)",
    "groove": "drum-kit performances (Groove MIDI Dataset, CC BY 4.0)",
}

#: Soundfonts tried in order by :func:`find_soundfont` (Debian packages
#: ``fluid-soundfont-gm``, ``timgm6mb-soundfont``, ``musescore-general-soundfont-small``).
SOUNDFONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
    "/usr/share/sounds/sf2/MuseScore_General.sf2",
)

#: Bump when the rendering changes, so cached excerpts are redone.
_RENDER_VERSION = 1

Kind = Literal["song", "beat", "fill"]


@dataclass(frozen=True)
class MidiFile:
    """One labelled MIDI file.

    Parameters
    ----------
    path : pathlib.Path
        The ``.mid`` file.
    genre : str
        One of :data:`genrecls.config.GENRES`.
    source : str
        Sub-folder of ``midi/`` (a key of :data:`MIDI_SOURCES`).
    kind : {"song", "beat", "fill"}
        A full song, a drum groove or a short drum fill.
    seconds : float or None
        Duration stated in ``labels.csv`` (drum files only).
    """

    path: Path
    genre: str
    source: str
    kind: Kind
    seconds: float | None = None

    @property
    def group(self) -> str:
        """Group id of every excerpt of this file (``midi:<source>/<stem>``)."""
        return f"midi:{self.source}/{self.path.stem}"


def _parse_notes(notes: str) -> tuple[Kind, float | None]:
    parts = [p.strip() for p in notes.split(";")]
    kind: Kind = "fill" if "fill" in parts else "beat" if "beat" in parts else "song"
    seconds = None
    for p in parts:
        if p.endswith("s") and p[:-1].replace(".", "", 1).isdigit():
            seconds = float(p[:-1])
    return kind, seconds


def index_midi(
    *,
    root: Path | None = None,
    kinds: Sequence[Kind] = ("song", "beat"),
    min_seconds: float = 0.0,
) -> list[MidiFile]:
    """List the MIDI files whose label is a GTZAN genre.

    Parameters
    ----------
    root : pathlib.Path or None
        The shared data directory (its ``midi/labels.csv`` is read); None uses
        :func:`genrecls.config.data_dir`.
    kinds : sequence of {"song", "beat", "fill"}
        Which files to keep. Fills are a few seconds of drums and are left out by default.
    min_seconds : float >= 0
        Drop drum files shorter than this (their duration is in ``labels.csv``).

    Returns
    -------
    files : list of MidiFile
        Sorted by path. Rows labelled ``other`` are never included.

    Raises
    ------
    genrecls.exceptions.DataError
        ``labels.csv`` is missing or lacks a column, or names a missing file.
    genrecls.exceptions.ParameterError
        An unknown kind or a negative ``min_seconds``.

    Examples
    --------
    >>> files = index_midi(kinds=("song",))  # doctest: +SKIP
    >>> sorted({f.genre for f in files})  # doctest: +SKIP
    ['classical', 'country', 'hiphop', 'pop', 'rock']
    """
    unknown = set(kinds) - {"song", "beat", "fill"}
    if unknown:
        raise ParameterError(f"unknown MIDI kind(s) {sorted(unknown)}")
    if not min_seconds >= 0:
        raise ParameterError(f"min_seconds must be >= 0, got {min_seconds!r}")
    folder = (data_dir() if root is None else Path(root)) / "midi"
    csv_path = folder / "labels.csv"
    if not csv_path.is_file():
        raise DataError(f"{csv_path} not found")
    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"file", "genre", "notes"} <= set(rows[0]):
        raise DataError(f"{csv_path} needs the columns file, genre, notes")
    out = []
    for line, row in enumerate(rows, start=2):
        genre = row["genre"].strip()
        if genre not in GENRES:
            continue  # "other": no honest GTZAN genre
        kind, seconds = _parse_notes(row.get("notes") or "")
        if kind not in kinds or (seconds is not None and seconds < min_seconds):
            continue
        path = folder / row["file"]
        if not path.is_file():
            raise DataError(f"{csv_path}, line {line}: {row['file']} does not exist")
        source = Path(row["file"]).parts[0]
        out.append(MidiFile(path=path, genre=genre, source=source, kind=kind, seconds=seconds))
    return sorted(out, key=lambda m: str(m.path))


def find_soundfont(*, preferred: str | os.PathLike | None = None) -> Path:
    """Return a General MIDI soundfont.

    Parameters
    ----------
    preferred : path-like or None
        Used when given; otherwise the environment variable ``GENRECLS_SOUNDFONT``, then
        :data:`SOUNDFONT_CANDIDATES` in order.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    genrecls.exceptions.DataError
        No soundfont found (install ``fluid-soundfont-gm`` or ``timgm6mb-soundfont``).
    """
    for candidate in (preferred, os.environ.get("GENRECLS_SOUNDFONT"), *SOUNDFONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    raise DataError(
        "no General MIDI soundfont found: install the Debian package fluid-soundfont-gm "
        "(or timgm6mb-soundfont), or set GENRECLS_SOUNDFONT"
    )


def _fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise DataError("fluidsynth not found: install the Debian package fluidsynth")
    return exe


def render_midi(
    path: str | os.PathLike,
    *,
    sr: int = 16000,
    soundfont: str | os.PathLike | None = None,
    gain: float = 0.3,
    target_rms_db: float = -20.0,
    timeout_s: float = 300.0,
) -> np.ndarray:
    """Render a MIDI file to mono audio with FluidSynth.

    The stereo render is averaged to mono, leading and trailing silence (below -60 dB of
    the peak) is cut, and the result is scaled to ``target_rms_db`` dBFS RMS with its peak
    kept below 0.99 (drum files render about 20 dB quieter than full songs).

    Parameters
    ----------
    path : path-like
        The ``.mid`` file.
    sr : int > 0
        Output sample rate in Hz (FluidSynth renders at it directly).
    soundfont : path-like or None
        General MIDI soundfont; None = :func:`find_soundfont`.
    gain : float > 0
        FluidSynth master gain (0.3 keeps dense files from clipping).
    target_rms_db : float < 0
        Loudness of the result, dB relative to full scale.
    timeout_s : float > 0
        Give up on a file after this long.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono samples in [-1, 1]; empty when the file makes no sound.

    Raises
    ------
    genrecls.exceptions.DecodeError
        FluidSynth failed or timed out.
    genrecls.exceptions.ParameterError
        A non-positive ``sr``, ``gain`` or ``timeout_s``.
    """
    import soundfile as sf

    if not (isinstance(sr, int) and sr > 0):
        raise ParameterError(f"sr must be a positive int, got {sr!r}")
    if not (gain > 0 and timeout_s > 0):
        raise ParameterError("gain and timeout_s must be > 0")
    font = find_soundfont(preferred=soundfont)
    with tempfile.TemporaryDirectory(prefix="genrecls-midi-") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = [_fluidsynth(), "-ni", "-q", "-g", str(gain), "-r", str(sr), "-F", str(wav)]
        cmd += [str(font), str(path)]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DecodeError(f"fluidsynth timed out after {timeout_s:.0f} s on {path}") from exc
        if done.returncode != 0 or not wav.is_file():
            err = done.stderr.decode(errors="replace").strip()[-300:]
            raise DecodeError(f"fluidsynth failed on {path}: {err or done.returncode}")
        y, _ = sf.read(wav, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak <= 0:
        return np.zeros(0, np.float32)
    loud = np.flatnonzero(np.abs(y) > peak * 1e-3)
    y = y[loud[0] : loud[-1] + 1]
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    scale = min(10 ** (target_rms_db / 20) / max(rms, 1e-9), 0.99 / peak)
    return (y * scale).astype(np.float32)


def excerpt_windows(
    duration: float, *, length: float = 30.0, count: int = 2
) -> list[tuple[float, float]]:
    """Where to cut excerpts from a rendered song.

    Up to ``count`` non-overlapping windows of ``length`` seconds, spread evenly between
    10 % and 90 % of the song (intros and endings are the least typical parts). A song
    shorter than ``length`` gives one window over all of it.

    Parameters
    ----------
    duration : float >= 0
        Song length in seconds.
    length : float > 0
        Window length in seconds.
    count : int > 0
        Most windows to cut.

    Returns
    -------
    windows : list of (start, end)
        In seconds, sorted; empty for an empty song.

    Examples
    --------
    >>> excerpt_windows(200.0, length=30.0, count=2)
    [(20.0, 50.0), (150.0, 180.0)]
    >>> excerpt_windows(20.0)
    [(0.0, 20.0)]
    """
    if not (length > 0 and isinstance(count, int) and count > 0):
        raise ParameterError("length must be > 0 and count a positive int")
    if duration <= 0:
        return []
    if duration <= length:
        return [(0.0, float(duration))]
    lo, hi = 0.1 * duration, 0.9 * duration
    if hi - lo < length:
        lo, hi = 0.0, float(duration)
    n = int(max(1, min(count, (hi - lo) // length)))
    if n == 1:
        start = lo + (hi - lo - length) / 2
        return [(round(start, 3), round(start + length, 3))]
    step = (hi - lo - length) / (n - 1)
    return [(round(lo + i * step, 3), round(lo + i * step + length, 3)) for i in range(n)]


def _render_key(midi: MidiFile, *, sr: int, font: Path, gain: float, length: float, count: int):
    # The file's bytes, not its time: a fresh copy of the shared data (new times) must
    # not throw every render away.
    content = hashlib.sha1(midi.path.read_bytes()).hexdigest()
    payload = f"{_RENDER_VERSION}|{midi.path.name}|{content}|{sr}|{font}|{gain}|{length}|{count}"
    return hashlib.sha1(payload.encode()).hexdigest()[:20]


def _render_excerpts(
    midi: MidiFile, *, sr: int, font: Path, gain: float, length: float, count: int, folder: Path
) -> list[Path]:
    import soundfile as sf

    key = _render_key(midi, sr=sr, font=font, gain=gain, length=length, count=count)
    done, failed = folder / f"{key}.done", folder / f"{key}.failed"
    if done.is_file():
        return [folder / name for name in done.read_text().split()]
    if failed.is_file():  # a file FluidSynth could not render (e.g. timed out) stays skipped
        raise DecodeError(failed.read_text() + " (cached failure)")
    try:
        y = render_midi(midi.path, sr=sr, soundfont=font, gain=gain)
    except DecodeError as exc:
        tmp_failed = folder / f".{key}.failed.tmp"
        tmp_failed.write_text(str(exc))
        tmp_failed.replace(failed)
        raise
    paths = []
    for i, (start, end) in enumerate(excerpt_windows(len(y) / sr, length=length, count=count)):
        part = y[int(start * sr) : int(end * sr)]
        if len(part) < sr:  # under a second of sound: nothing to learn from
            continue
        out = folder / f"{key}_{i}.flac"
        tmp = folder / f".{key}_{i}.tmp.flac"
        sf.write(tmp, part, sr, subtype="PCM_16")
        tmp.replace(out)
        paths.append(out)
    tmp_done = folder / f".{key}.done.tmp"
    tmp_done.write_text(" ".join(p.name for p in paths))
    tmp_done.replace(done)
    return paths


def render_tracks(
    files: Sequence[MidiFile],
    *,
    cache_dir: Path,
    sr: int = 16000,
    soundfont: str | os.PathLike | None = None,
    gain: float = 0.3,
    excerpt_seconds: float = 30.0,
    excerpts_per_file: int = 2,
    workers: int = 2,
    progress: bool = True,
):
    """Render MIDI files to cached FLAC excerpts and index them as training tracks.

    Each file is rendered once (:func:`render_midi`) and cut into up to
    ``excerpts_per_file`` windows (:func:`excerpt_windows`), written as 16-bit FLAC under
    ``cache_dir`` with names hashed from the file's name and bytes, the soundfont and
    the settings; a later call renders only what is missing. Files FluidSynth cannot
    render are left out with a printed reason, and the failure is cached too (a file
    that timed out is not tried again on every call).

    Parameters
    ----------
    files : sequence of MidiFile
        From :func:`index_midi`.
    cache_dir : pathlib.Path
        Folder of the rendered excerpts (created).
    sr : int > 0
        Sample rate of the excerpts.
    soundfont : path-like or None
        See :func:`find_soundfont`.
    gain : float > 0
        FluidSynth gain.
    excerpt_seconds : float > 0
        Length of each excerpt.
    excerpts_per_file : int > 0
        Most excerpts per file.
    workers : int > 0
        FluidSynth processes at once.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    tracks : list of genrecls.data.Track
        One per excerpt, role ``"train"``, source ``"midi_<sub-folder>"``, and the group
        :attr:`MidiFile.group` shared by every excerpt of one file.
    """
    from tqdm import tqdm

    from genrecls.data import Track

    font = find_soundfont(preferred=soundfont)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)

    def one(midi: MidiFile) -> tuple[MidiFile, list[Path] | str]:
        try:
            return midi, _render_excerpts(
                midi,
                sr=sr,
                font=font,
                gain=gain,
                length=excerpt_seconds,
                count=excerpts_per_file,
                folder=cache_dir,
            )
        except DecodeError as exc:
            return midi, str(exc)

    tracks = []
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        results = pool.map(one, files)
        for midi, result in tqdm(
            results, total=len(files), desc="render MIDI", unit="file", disable=not progress
        ):
            if isinstance(result, str):
                print(f"skipped {midi.path.name}: {result}")
                continue
            for p in result:
                tracks.append(Track(p, midi.genre, midi.group, f"midi_{midi.source}"))
    return tracks
