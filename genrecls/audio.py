"""Audio input: decode any file, upload or recording to mono float32 at a chosen rate.

:func:`load_audio` is the single entry point for audio in genrecls. It accepts a path,
raw bytes or a binary file-like object (what ``st.file_uploader``, ``st.audio_input`` and
``audio-recorder-streamlit`` hand over), checks the size before decoding, decodes at most
``max_duration`` seconds, mixes every channel down to mono by their mean and resamples with
soxr. Every failure is raised as a subclass of :class:`genrecls.exceptions.AudioError`
whose message is written for a person.

Decoders, in order:

1. ``soundfile`` (libsndfile): WAV (PCM 8/16/24/32-bit, float), FLAC, Ogg Vorbis, Ogg Opus,
   MP3, AIFF, CAF, W64 and the other formats it knows.
2. ``ffmpeg`` (the system binary on ``PATH``, else the one shipped by ``imageio-ffmpeg``)
   for everything libsndfile refuses: M4A/AAC, WMA, WebM, Matroska, ...
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import soundfile as sf
import soxr

from genrecls.config import Limits
from genrecls.exceptions import (
    AudioError,
    DecodeError,
    EmptyAudioError,
    InputTooLargeError,
    InvalidSamplesError,
    ParameterError,
    SilentAudioWarning,
    TruncatedAudioWarning,
    UnsupportedFormatError,
)

__all__ = [
    "AudioClip",
    "FFMPEG_ONLY_EXTENSIONS",
    "SUPPORTED_EXTENSIONS",
    "format_duration",
    "load_audio",
    "probe_ffmpeg",
]

#: File extensions (lower case, no dot) that libsndfile decodes without ffmpeg.
SOUNDFILE_EXTENSIONS: tuple[str, ...] = (
    "wav",
    "wave",
    "flac",
    "ogg",
    "oga",
    "opus",
    "mp3",
    "aif",
    "aiff",
    "aifc",
    "au",
    "snd",
    "caf",
    "w64",
    "rf64",
)

#: File extensions (lower case, no dot) that need ffmpeg.
FFMPEG_ONLY_EXTENSIONS: tuple[str, ...] = (
    "m4a",
    "mp4",
    "aac",
    "m4b",
    "3gp",
    "wma",
    "asf",
    "webm",
    "mka",
    "mkv",
    "ac3",
    "amr",
)

#: Every extension :func:`load_audio` is meant to read (ffmpeg ones need ffmpeg installed);
#: suitable for ``st.file_uploader(type=...)``.
SUPPORTED_EXTENSIONS: tuple[str, ...] = SOUNDFILE_EXTENSIONS + FFMPEG_ONLY_EXTENSIONS

#: Fewer samples than this (after resampling) is too short to analyse: an EmptyAudioError.
MIN_SAMPLES = 16

#: Seconds an ffmpeg decode may run before it is stopped.
FFMPEG_TIMEOUT_S: float = 120.0

#: Peak level (linear, full scale = 1) under which a clip counts as silent (-80 dBFS).
SILENCE_PEAK: float = 1e-4

#: Native sample rates outside this range (Hz) are rejected as impossible.
MIN_NATIVE_SR: int = 1000
MAX_NATIVE_SR: int = 768_000

_BLOCK_FRAMES = 1 << 16
_SNIFF_BYTES = 1 << 16
_DAMAGED = "the file is damaged or not an audio file"


@dataclass(frozen=True, eq=False)
class AudioClip:
    """Decoded audio: mono float32 samples and what is known about the original.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), dtype=float32]
        Mono signal at rate ``sr``, the mean of all channels of the original.
    sr : int > 0
        Sample rate of ``samples`` in Hz.
    original_sr : int > 0
        Native sample rate of the original in Hz.
    n_channels : int > 0
        Channel count of the original, before the downmix.
    duration : float >= 0
        Length of the whole original in seconds. When the original was truncated and its
        container does not record its length, this is a lower bound (the analysed part).
    truncated : bool
        True when only the first ``max_duration`` seconds were decoded.
    warnings : tuple of str
        Messages for a person about otherwise usable input (truncated, silent, cut short).
    name : str or None
        File name of the input, when known.
    """

    samples: np.ndarray
    sr: int
    original_sr: int
    n_channels: int
    duration: float
    truncated: bool = False
    warnings: tuple[str, ...] = ()
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.samples, np.ndarray) or self.samples.ndim != 1:
            raise ParameterError("AudioClip.samples must be a 1-D numpy array")
        if self.samples.dtype != np.float32:
            raise ParameterError(f"AudioClip.samples must be float32, got {self.samples.dtype}")
        for field in ("sr", "original_sr", "n_channels"):
            value = getattr(self, field)
            if not isinstance(value, int | np.integer) or value <= 0:
                raise ParameterError(f"AudioClip.{field} must be a positive int, got {value!r}")

    @property
    def analysed_duration(self) -> float:
        """Seconds of audio in :attr:`samples` (``len(samples) / sr``)."""
        return len(self.samples) / self.sr


@dataclass(frozen=True)
class _Source:
    """An input ready for decoding: a file on disk or bytes in memory."""

    label: str
    extension: str
    name: str | None = None
    path: Path | None = None
    data: bytes | None = None


@dataclass
class _Decoded:
    """Output of a decoder: mono samples already at the requested rate.

    ``n_frames`` and ``peak`` describe the decoded original at its native rate ``sr``
    (frames kept, largest absolute sample), so that nothing has to keep it.
    """

    samples: np.ndarray
    sr: int
    n_channels: int
    truncated: bool
    declared_duration: float | None
    n_frames: int = 0
    peak: float = 0.0
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class _WavHeader:
    format_tag: int
    n_channels: int
    sr: int
    block_align: int
    data_bytes: int | None
    data_offset: int | None


class _SoundfileFailed(Exception):
    """Internal: libsndfile could not decode the input; try ffmpeg."""


# --------------------------------------------------------------------------- helpers


def format_duration(seconds: float) -> str:
    """Format a duration for people: ``m:ss``, or ``h:mm:ss`` from one hour on.

    Parameters
    ----------
    seconds : float >= 0
        Duration in seconds; rounded to the nearest second.

    Returns
    -------
    text : str
        For example ``"0:07"``, ``"10:00"``, ``"1:02:03"``.

    Examples
    --------
    >>> format_duration(3723)
    '1:02:03'
    >>> format_duration(600)
    '10:00'
    """
    if not isinstance(seconds, int | float | np.number) or not math.isfinite(seconds):
        raise ParameterError(f"seconds must be a finite number, got {seconds!r}")
    if seconds < 0:
        raise ParameterError(f"seconds must be >= 0, got {seconds!r}")
    total = int(round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


@functools.lru_cache(maxsize=1)
def probe_ffmpeg() -> str | None:
    """Locate an ffmpeg executable.

    Returns
    -------
    path : str or None
        ``ffmpeg`` on ``PATH`` when present, else the binary bundled with
        ``imageio-ffmpeg``, else None (formats that need ffmpeg are then unsupported).
    """
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # any failure means: no bundled ffmpeg
        return None
    return exe if exe and os.path.isfile(exe) else None


def _format_bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} kB"
    return f"{n} bytes"


def _check_sr(sr: int | None) -> None:
    if sr is None:
        return
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer):
        raise ParameterError(f"sr must be a positive int or None, got {sr!r}")
    if not 0 < sr <= MAX_NATIVE_SR:
        raise ParameterError(f"sr must be in 1..{MAX_NATIVE_SR} Hz, got {sr}")


def _check_native_sr(sr: int, label: str) -> None:
    if not MIN_NATIVE_SR <= sr <= MAX_NATIVE_SR:
        raise InvalidSamplesError(
            f"Could not read {label} as audio: it declares a sample rate of {sr} Hz, "
            f"which is not a real audio rate ({MIN_NATIVE_SR}-{MAX_NATIVE_SR} Hz)."
        )


def _resolve_limits(max_duration: float | None, max_bytes: int | None) -> tuple[float, int]:
    if max_duration is None or max_bytes is None:
        limits = Limits.from_env()
        max_duration = limits.max_duration if max_duration is None else max_duration
        max_bytes = limits.max_upload_bytes if max_bytes is None else max_bytes
    if (
        isinstance(max_duration, bool)
        or not isinstance(max_duration, int | float | np.number)
        or not math.isfinite(max_duration)
        or max_duration <= 0
    ):
        raise ParameterError(f"max_duration must be a finite number > 0, got {max_duration!r}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int | np.integer):
        raise ParameterError(f"max_bytes must be an int > 0, got {max_bytes!r}")
    if max_bytes <= 0:
        raise ParameterError(f"max_bytes must be > 0, got {max_bytes!r}")
    return float(max_duration), int(max_bytes)


def _too_large(label: str, size: int | None, max_bytes: int) -> InputTooLargeError:
    """The error for an input over the limit; ``size=None`` when only "more than" is known."""
    shown, limit = _format_bytes(size) if size is not None else None, _format_bytes(max_bytes)
    if shown == limit:  # just over the limit: "200.0 MB; the limit is 200.0 MB" says nothing
        shown, limit = f"{size:,} bytes", f"{max_bytes:,} bytes"
    what = f"is {shown}" if size is not None else "is larger than the limit"
    return InputTooLargeError(f"{label[0].upper()}{label[1:]} {what}; the limit is {limit}.")


def _label(name: str | None) -> str:
    return f"'{name}'" if name else "the input"


def _extension(name: str | None) -> str:
    return Path(name).suffix.lower().lstrip(".") if name else ""


# --------------------------------------------------------------------------- sources


def _prepare_source(source: Any, *, name: str | None, max_bytes: int) -> _Source:
    """Check type, existence and size of ``source``; read file-likes into memory."""
    if isinstance(source, str | os.PathLike):
        path = Path(os.fspath(source))
        shown = name or path.name
        label = _label(shown)
        if not path.exists():
            raise AudioError(f"Could not read {label}: no such file ({path}).")
        if path.is_dir():
            raise AudioError(f"Could not read {label}: it is a folder, not an audio file.")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise AudioError(f"Could not read {label}: {exc.strerror or exc}.") from exc
        if size > max_bytes:
            raise _too_large(label, size, max_bytes)
        if size == 0:
            raise EmptyAudioError(f"{label[0].upper()}{label[1:]} is empty (0 bytes).")
        return _Source(label=label, extension=_extension(shown), name=shown, path=path)

    if isinstance(source, bytes | bytearray | memoryview):
        label = _label(name)
        size = memoryview(source).nbytes
        if size > max_bytes:
            raise _too_large(label, size, max_bytes)
        data = bytes(source)
    elif hasattr(source, "read"):
        if name is None:
            attr = getattr(source, "name", None)
            name = Path(attr).name if isinstance(attr, str) and attr else None
        label = _label(name)
        data = _read_filelike(source, label=label, max_bytes=max_bytes)
    else:
        raise ParameterError(
            "source must be a path, bytes or a binary file-like object, "
            f"got {type(source).__name__}"
        )
    if not data:
        raise EmptyAudioError(f"{label[0].upper()}{label[1:]} is empty (0 bytes).")
    return _Source(label=label, extension=_extension(name), name=name, data=data)


def _read_filelike(fileobj: IO[bytes], *, label: str, max_bytes: int) -> bytes:
    """Read a whole binary file-like from its start, restoring its position afterwards."""
    size = getattr(fileobj, "size", None)
    if isinstance(size, int) and not isinstance(size, bool) and size > max_bytes:
        raise _too_large(label, size, max_bytes)
    try:
        seekable = bool(getattr(fileobj, "seekable", lambda: False)())
        start = fileobj.tell() if seekable else None
        try:
            if seekable:
                end = fileobj.seek(0, io.SEEK_END)
                if end is None:  # some wrappers return None from seek
                    end = fileobj.tell()
                if end > max_bytes:
                    raise _too_large(label, end, max_bytes)
                fileobj.seek(0)
            data = fileobj.read(max_bytes + 1)
        finally:
            if start is not None:
                fileobj.seek(start)
    except AudioError:
        raise
    except (OSError, ValueError) as exc:
        raise AudioError(f"Could not read {label}: {exc}.") from exc
    if isinstance(data, str):
        raise ParameterError("source must be opened in binary mode ('rb'), not text mode")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParameterError(f"source.read() returned {type(data).__name__}, expected bytes")
    data = bytes(data)
    if len(data) > max_bytes:  # only reached for streams whose size was not known
        raise _too_large(label, None, max_bytes)
    return data


def _head(src: _Source) -> bytes:
    if src.data is not None:
        return src.data[:_SNIFF_BYTES]
    try:
        with open(src.path, "rb") as handle:  # type: ignore[arg-type]
            return handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise AudioError(f"Could not read {src.label}: {exc.strerror or exc}.") from exc


def _sniff_wav(head: bytes) -> _WavHeader | None:
    """Parse the RIFF/WAVE header chunks found in ``head``; None when not a WAV."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    fmt: tuple[int, ...] | None = None
    data_bytes = data_offset = None
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (chunk_size,) = struct.unpack_from("<I", head, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt " and body + 16 <= len(head):
            fmt = struct.unpack_from("<HHIIH", head, body)
        elif chunk_id == b"data":
            data_bytes, data_offset = chunk_size, body
            break
        pos = body + chunk_size + (chunk_size & 1)
    if fmt is None:
        return None
    tag, channels, rate, _, block_align = fmt
    return _WavHeader(tag, channels, rate, block_align, data_bytes, data_offset)


# --------------------------------------------------------------------------- decoders


def _downmix(block: np.ndarray) -> np.ndarray:
    """Mean over channels of ``block`` [shape=(n, channels)] as float32 [shape=(n,)]."""
    mono = np.array(block[:, 0], dtype=np.float32)
    if block.shape[1] == 1:
        return mono
    # channel by channel: numpy's mean over a short, strided axis took 30 ms for 30 s of
    # 44.1 kHz stereo, a third of the whole decode
    for c in range(1, block.shape[1]):
        mono += block[:, c]
    mono *= np.float32(1.0 / block.shape[1])
    return mono


class _MonoStream:
    """Collect mono blocks decoded at the native rate as samples at the output rate.

    Each block is checked (finite), measured (frame count, peak) and resampled on arrival
    with a streaming soxr resampler (``quality="HQ"``; its output is identical to
    ``soxr.resample`` of the whole signal), so the native-rate signal is never held whole:
    a 10-minute 44.1 kHz song no longer needs its 106 MB mono copy plus a concatenated
    second one before resampling.

    Parameters
    ----------
    native_sr : int > 0
        Rate of the blocks pushed in.
    out_sr : int > 0
        Rate of the collected samples.
    label : str
        How the input is named in messages.
    """

    def __init__(self, *, native_sr: int, out_sr: int, label: str) -> None:
        self.native_sr, self.out_sr, self.label = native_sr, out_sr, label
        self.n_frames = 0
        self.peak = 0.0
        self._parts: list[np.ndarray] = []
        self._stream = None
        if out_sr != native_sr:
            try:
                self._stream = soxr.ResampleStream(
                    native_sr, out_sr, 1, dtype="float32", quality="HQ"
                )
            except Exception as exc:  # never leak a raw resampler error
                raise self._resample_error(exc) from exc

    def _resample_error(self, exc: Exception) -> InvalidSamplesError:
        return InvalidSamplesError(
            f"Could not resample {self.label} from {self.native_sr} Hz to {self.out_sr} Hz: {exc}"
        )

    def _resample(self, block: np.ndarray, *, last: bool) -> np.ndarray:
        if self._stream is None:
            return block
        try:
            return self._stream.resample_chunk(block, last=last)
        except Exception as exc:  # never leak a raw resampler error
            raise self._resample_error(exc) from exc

    def push(self, mono: np.ndarray) -> None:
        """Add the next block [shape=(n,), dtype=float32] of the native-rate signal."""
        if mono.size == 0:
            return
        if not np.all(np.isfinite(mono)):
            raise _invalid_samples(self.label)
        self.n_frames += len(mono)
        self.peak = max(self.peak, float(np.max(np.abs(mono))))
        self._parts.append(self._resample(mono, last=False))

    def finish(self) -> np.ndarray:
        """Flush the resampler; return all samples at ``out_sr`` as one float32 array."""
        if self._stream is not None and self.n_frames:
            self._parts.append(self._resample(np.zeros(0, dtype=np.float32), last=True))
        parts, self._parts = self._parts, []
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _decode_soundfile(src: _Source, *, max_duration: float, sr: int | None) -> _Decoded:
    """Decode with libsndfile, reading at most ``max_duration`` seconds (plus one frame)."""
    target = src.path if src.path is not None else io.BytesIO(src.data)  # type: ignore[arg-type]
    try:
        with sf.SoundFile(target) as handle:
            rate, channels, frames = int(handle.samplerate), int(handle.channels), handle.frames
            if channels <= 0:
                raise _SoundfileFailed(f"{channels} channels")
            _check_native_sr(rate, src.label)
            max_frames = max(1, int(math.floor(max_duration * rate)))
            stream = _MonoStream(native_sr=rate, out_sr=sr or rate, label=src.label)
            truncated = False
            while not truncated:
                want = max_frames + 1 - stream.n_frames  # one frame more reveals truncation
                block = handle.read(
                    frames=min(_BLOCK_FRAMES, want), dtype="float32", always_2d=True
                )
                if len(block) == 0:
                    break
                keep = max_frames - stream.n_frames
                if len(block) > keep:
                    truncated, block = True, block[:keep]
                stream.push(_downmix(block))
            samples = stream.finish()
    except AudioError:
        raise
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError, OSError) as exc:
        raise _SoundfileFailed(str(exc)) from exc
    declared = frames / rate if 0 < frames < 2**62 else None
    return _Decoded(
        samples=samples,
        sr=rate,
        n_channels=channels,
        truncated=truncated,
        declared_duration=declared,
        n_frames=stream.n_frames,
        peak=stream.peak,
    )


_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


def _ffmpeg_command(exe: str, *, path: Path | None, seconds: float, demuxer: str | None) -> list:
    cmd = [exe, "-hide_banner", "-nostats", "-loglevel", "info"]
    if path is not None:
        cmd += ["-nostdin", "-protocol_whitelist", "file"]
        if demuxer:
            cmd += ["-f", demuxer]
        cmd += ["-i", "file:" + str(path.resolve())]
    else:
        cmd += ["-protocol_whitelist", "pipe", "-i", "pipe:0"]
    cmd += ["-map", "0:a:0", "-vn", "-sn", "-dn", "-t", f"{seconds:.6f}"]
    cmd += ["-c:a", "pcm_f32le", "-f", "wav", "pipe:1"]
    return cmd


def _parse_ffmpeg_wav(out: bytes) -> tuple[np.ndarray, int, int] | None:
    """Read ffmpeg's streamed float32 WAV (sizes may be 0xFFFFFFFF): (frames, sr, channels)."""
    header = _sniff_wav(out[:_SNIFF_BYTES])
    if header is None or header.data_offset is None or header.n_channels <= 0:
        return None
    if header.format_tag not in (3, 0xFFFE) or header.block_align != 4 * header.n_channels:
        return None  # not the float32 stream that was asked for
    payload = memoryview(out)[header.data_offset :]
    frame_bytes = 4 * header.n_channels
    usable = len(payload) - len(payload) % frame_bytes
    samples = np.frombuffer(payload[:usable], dtype="<f4").reshape(-1, header.n_channels)
    return samples, header.sr, header.n_channels


def _ffmpeg_error(src: _Source, stderr: str) -> AudioError:
    """Turn ffmpeg's complaint into a typed error with a message for people."""
    low = stderr.lower()
    if "invalid sample rate" in low:
        return InvalidSamplesError(
            f"Could not read {src.label} as audio: it declares an impossible sample rate."
        )
    if (
        "decoder (codec" in low
        or "unsupported codec" in low
        or "codec not currently supported" in low
        or "unknown codec" in low
    ):
        return UnsupportedFormatError(
            f"Could not read {src.label}: its audio codec is not supported. "
            "Convert it to WAV, FLAC, MP3 or OGG and try again."
        )
    if "matches no streams" in low or "does not contain any stream" in low:
        return DecodeError(f"Could not read {src.label} as audio: it contains no audio track.")
    return DecodeError(f"Could not read {src.label} as audio: {_DAMAGED}.")


def _run_ffmpeg(
    exe: str, src: _Source, *, path: Path | None, seconds: float, demuxer: str | None = None
) -> subprocess.CompletedProcess:
    cmd = _ffmpeg_command(exe, path=path, seconds=seconds, demuxer=demuxer)
    try:
        return subprocess.run(
            cmd,
            input=None if path is not None else src.data,
            stdin=subprocess.DEVNULL if path is not None else None,
            capture_output=True,
            timeout=FFMPEG_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DecodeError(
            f"Could not read {src.label} as audio: decoding took longer than "
            f"{FFMPEG_TIMEOUT_S:g} s and was stopped."
        ) from exc
    except OSError as exc:
        raise UnsupportedFormatError(
            f"Could not read {src.label}: the ffmpeg decoder could not be started ({exc})."
        ) from exc


def _decode_ffmpeg(src: _Source, *, max_duration: float, sr: int | None, exe: str) -> _Decoded:
    """Decode with the ffmpeg CLI into float32 at the native rate and channel count."""
    # Ask for a little more than the limit, so that "longer than the limit" is observable.
    seconds = max_duration + 0.05
    head = _head(src)
    is_isobmff = head[4:8] == b"ftyp"
    if src.path is not None:
        proc = _run_ffmpeg(exe, src, path=src.path, seconds=seconds)
    elif is_isobmff:
        # MP4/M4A often keep their index (moov atom) at the end: give ffmpeg a seekable file.
        with tempfile.TemporaryDirectory(prefix="genrecls-audio-") as tmp:
            tmp_path = Path(tmp) / "input.mp4"
            tmp_path.write_bytes(src.data)  # type: ignore[arg-type]
            proc = _run_ffmpeg(exe, src, path=tmp_path, seconds=seconds, demuxer="mov")
    else:
        proc = _run_ffmpeg(exe, src, path=None, seconds=seconds)
        stderr = proc.stderr.decode("utf-8", "replace")
        if "moov atom not found" in stderr:
            with tempfile.TemporaryDirectory(prefix="genrecls-audio-") as tmp:
                tmp_path = Path(tmp) / "input.bin"
                tmp_path.write_bytes(src.data)  # type: ignore[arg-type]
                proc = _run_ffmpeg(exe, src, path=tmp_path, seconds=seconds)

    stderr = proc.stderr.decode("utf-8", "replace")
    parsed = _parse_ffmpeg_wav(proc.stdout)
    if parsed is None:
        raise _ffmpeg_error(src, stderr)
    frames, rate, channels = parsed
    _check_native_sr(rate, src.label)
    match = _DURATION_RE.search(stderr)
    declared = None
    if match:
        hours, minutes, secs = match.groups()
        declared = int(hours) * 3600 + int(minutes) * 60 + float(secs)
    if len(frames) == 0:
        if proc.returncode != 0:
            raise _ffmpeg_error(src, stderr)
        return _Decoded(np.zeros(0, np.float32), rate, channels, False, declared)
    max_frames = max(1, int(math.floor(max_duration * rate)))
    stream = _MonoStream(native_sr=rate, out_sr=sr or rate, label=src.label)
    for start in range(0, min(len(frames), max_frames), _BLOCK_FRAMES):
        stream.push(_downmix(frames[start : min(start + _BLOCK_FRAMES, max_frames)]))
    decoded = _Decoded(
        samples=stream.finish(),
        sr=rate,
        n_channels=channels,
        truncated=len(frames) > max_frames,
        declared_duration=declared,
        n_frames=stream.n_frames,
        peak=stream.peak,
    )
    if proc.returncode != 0:
        decoded.notes.append(f"Part of {src.label} could not be decoded; the file may be damaged.")
    return decoded


def _invalid_samples(label: str) -> InvalidSamplesError:
    return InvalidSamplesError(
        f"Could not use {label}: it contains invalid samples (NaN or infinite values)."
    )


def _decode(src: _Source, *, max_duration: float, sr: int | None) -> _Decoded:
    """Decode ``src`` with soundfile, falling back to ffmpeg; resample to ``sr`` (None: keep)."""
    wav = _sniff_wav(_head(src))
    if wav is not None and wav.sr == 0:
        raise InvalidSamplesError(
            f"Could not read {src.label} as audio: it declares a sample rate of 0 Hz."
        )
    try:
        decoded = _decode_soundfile(src, max_duration=max_duration, sr=sr)
    except _SoundfileFailed:
        exe = probe_ffmpeg()
        if exe is None:
            if src.extension in FFMPEG_ONLY_EXTENSIONS:
                raise UnsupportedFormatError(
                    f"Could not read {src.label}: .{src.extension} files need ffmpeg, "
                    "which is not installed. Install ffmpeg or convert the file to WAV, "
                    "FLAC, MP3 or OGG."
                ) from None
            raise DecodeError(f"Could not read {src.label} as audio: {_DAMAGED}.") from None
        decoded = _decode_ffmpeg(src, max_duration=max_duration, sr=sr, exe=exe)

    if wav is not None and wav.block_align > 0 and wav.data_bytes not in (None, 0, 0xFFFFFFFF):
        declared = wav.data_bytes // wav.block_align / decoded.sr  # type: ignore[operator]
        if decoded.declared_duration is None or declared > decoded.declared_duration:
            decoded.declared_duration = declared
    if decoded.n_frames == 0:
        if decoded.declared_duration:
            raise DecodeError(
                f"Could not read {src.label} as audio: the file is damaged "
                "(it is cut short and holds no complete sample)."
            )
        raise EmptyAudioError(
            f"{src.label[0].upper()}{src.label[1:]} contains no audio samples (length 0:00)."
        )
    return decoded


# --------------------------------------------------------------------------- entry point


def load_audio(
    source: str | os.PathLike | bytes | bytearray | memoryview | IO[bytes],
    *,
    sr: int | None = 22050,
    max_duration: float | None = None,
    max_bytes: int | None = None,
    name: str | None = None,
) -> AudioClip:
    """Decode an audio file, upload or recording to mono float32 at rate ``sr``.

    The size is checked before anything is decoded; at most ``max_duration`` seconds are
    decoded (a two-hour file is never decoded whole). Channels are mixed down by their mean
    and the result is resampled with soxr (``quality="HQ"``, band-limited, as librosa does),
    block by block while decoding, so the native-rate signal is never held whole.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file-like
        A path, the raw bytes of a file, or an object with ``read()`` such as Streamlit's
        ``UploadedFile`` or ``io.BytesIO``. A seekable file-like is read from its start and
        its position is restored afterwards.
    sr : int > 0 or None
        Target sample rate in Hz; None keeps the native rate.
    max_duration : float > 0 or None
        Seconds to analyse from the start; None uses
        :meth:`genrecls.config.Limits.from_env` (10 minutes by default). Longer input is
        truncated, with ``truncated=True``, a warning text and a
        :class:`~genrecls.exceptions.TruncatedAudioWarning`.
    max_bytes : int > 0 or None
        Largest input size accepted, in bytes; None uses
        :meth:`genrecls.config.Limits.from_env` (200 MB by default).
    name : str or None
        File name used in messages and as a format hint; defaults to the path's name or
        the file-like's ``name`` attribute.

    Returns
    -------
    clip : AudioClip
        ``clip.samples`` is ``np.ndarray [shape=(n,), dtype=float32]`` at ``clip.sr``.

    Raises
    ------
    genrecls.exceptions.InputTooLargeError
        The input is larger than ``max_bytes``.
    genrecls.exceptions.EmptyAudioError
        The input has no bytes, or decodes to no samples.
    genrecls.exceptions.UnsupportedFormatError
        No available decoder handles the codec or container.
    genrecls.exceptions.DecodeError
        The input is damaged, truncated or not audio.
    genrecls.exceptions.InvalidSamplesError
        The samples contain NaN or infinity, or the sample rate is impossible.
    genrecls.exceptions.AudioError
        The path does not exist or cannot be read.
    genrecls.exceptions.ParameterError
        An argument has an invalid value or type.

    Warns
    -----
    genrecls.exceptions.TruncatedAudioWarning
        The input is longer than ``max_duration``.
    genrecls.exceptions.SilentAudioWarning
        The analysed audio is (near) digital silence, peak below -80 dBFS.

    See Also
    --------
    format_duration, probe_ffmpeg

    Examples
    --------
    >>> import io, numpy as np, soundfile as sf
    >>> buf = io.BytesIO()
    >>> t = np.arange(44100) / 44100
    >>> sf.write(buf, np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1), 44100,
    ...          format="WAV")
    >>> clip = load_audio(buf.getvalue(), sr=22050, name="tone.wav")
    >>> clip.samples.shape, clip.sr, clip.original_sr, clip.n_channels
    ((22050,), 22050, 44100, 2)
    """
    _check_sr(sr)
    max_duration, max_bytes = _resolve_limits(max_duration, max_bytes)
    src = _prepare_source(source, name=name, max_bytes=max_bytes)
    decoded = _decode(src, max_duration=max_duration, sr=sr)

    texts = list(decoded.notes)
    analysed = decoded.n_frames / decoded.sr
    if decoded.truncated:
        if decoded.declared_duration and decoded.declared_duration > analysed:
            duration = decoded.declared_duration
            total = format_duration(duration)
        else:
            duration = analysed
            total = "a longer recording"
        message = f"Analysing the first {format_duration(analysed)} of {total}."
        texts.append(message)
        warnings.warn(message, TruncatedAudioWarning, stacklevel=2)
    else:
        duration = analysed
        declared = decoded.declared_duration
        if declared and analysed < 0.9 * declared and declared - analysed > 0.1:
            texts.append(
                f"{src.label[0].upper()}{src.label[1:]} seems cut short: it announces "
                f"{format_duration(declared)} but only {format_duration(analysed)} "
                "could be decoded."
            )

    peak = decoded.peak
    if peak < SILENCE_PEAK:
        level = "digital silence" if peak == 0 else f"peak {20 * math.log10(peak):.0f} dBFS"
        message = (
            f"{src.label[0].upper()}{src.label[1:]} is silent ({level}): "
            "a genre prediction on it is meaningless."
        )
        texts.append(message)
        warnings.warn(message, SilentAudioWarning, stacklevel=2)

    out_sr = decoded.sr if sr is None else int(sr)
    samples = np.ascontiguousarray(decoded.samples, dtype=np.float32)
    if samples.size < MIN_SAMPLES:
        raise EmptyAudioError(
            f"{src.label} is too short to analyse: it holds {decoded.n_frames} sample(s) "
            f"at {decoded.sr} Hz."
        )
    return AudioClip(
        samples=samples,
        sr=out_sr,
        original_sr=decoded.sr,
        n_channels=decoded.n_channels,
        duration=float(duration),
        truncated=decoded.truncated,
        warnings=tuple(texts),
        name=src.name,
    )
