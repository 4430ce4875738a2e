"""The bad-input corpus: every hard input the app must survive, generated on demand.

Nothing binary is committed: each case is a small builder that writes one file, and
:func:`generate` writes them all to a folder (the tests use a temporary one;
``scripts/make_corpus.py`` writes one for manual use). This module does not import
genrecls: it describes inputs and the outcome the app owes each of them, independent of
the code under test. It needs numpy and soundfile; ffmpeg and espeak-ng are optional
(cases that need them are marked and skipped when absent).

Outcomes
--------
``"ok"``
    Decodes without any warning category.
``"ok+warning:A,B"``
    Decodes and emits exactly the warning categories ``A`` and ``B``.
``"error:E"``
    Fails with exactly the error class ``E`` (``DecodeError``, ``DataError``...).

``message`` is a regular expression the error message, or one of the clip's warning texts,
must match (``None``: only the outcome is checked).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["CASES", "Case", "Context", "generate", "tool_available"]

#: Default upload limit of genrecls (``Limits.max_upload_bytes``); the test passes the real one.
DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024
#: Default archive limits of genrecls (``Limits.max_zip_entries`` / ``_uncompressed_bytes``).
DEFAULT_MAX_ZIP_ENTRIES = 5000
DEFAULT_MAX_ZIP_UNCOMPRESSED = 2 * 1024 * 1024 * 1024

SR = 44100  # rate of the "music" every truncation case is cut from
SEED = 20240607


@dataclass(frozen=True)
class Context:
    """What the builders need to know about the limits under test."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_zip_entries: int = DEFAULT_MAX_ZIP_ENTRIES
    max_zip_uncompressed_bytes: int = DEFAULT_MAX_ZIP_UNCOMPRESSED


@dataclass(frozen=True)
class Case:
    """One corpus input and the outcome the app owes it.

    Attributes
    ----------
    id : str
        Stable identifier (pytest id).
    filename : str
        Name of the file written (may be unicode or very long, on purpose).
    expected : str
        ``"ok"``, ``"ok+warning:<Class>[,<Class>]"`` or ``"error:<Class>"``.
    build : callable
        ``build(path, ctx)`` writes the input at ``path``.
    kind : {"audio", "zip"}
        ``"audio"`` goes through decode / features / prediction; ``"zip"`` is a training
        upload for ``genrecls.archive``.
    message : str or None
        Regex that the error message or a clip warning text must match.
    needs : tuple of str
        External programs the builder runs (``"ffmpeg"``, ``"espeak-ng"``).
    """

    id: str
    filename: str
    expected: str
    build: Callable[[Path, Context], None]
    kind: str = "audio"
    message: str | None = None
    needs: tuple[str, ...] = ()

    @property
    def outcome(self) -> str:
        """``"ok"`` or ``"error"``."""
        return self.expected.split(":", 1)[0].split("+", 1)[0]

    @property
    def error(self) -> str | None:
        """Expected error class name, or None."""
        return self.expected.split(":", 1)[1] if self.expected.startswith("error:") else None

    @property
    def warnings(self) -> tuple[str, ...]:
        """Expected warning class names (empty for none)."""
        if not self.expected.startswith("ok+warning:"):
            return ()
        return tuple(sorted(self.expected.split(":", 1)[1].split(",")))


def tool_available(name: str) -> bool:
    """True when the external program ``name`` is on ``PATH``."""
    return shutil.which(name) is not None


# --------------------------------------------------------------------------- signals


def _rng(salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([SEED, salt])


def _music(sr: int = SR, seconds: float = 2.0, channels: int = 2) -> np.ndarray:
    """Chords over a kick/hat pattern, shape (n, channels), float32 in [-0.9, 0.9]."""
    n = int(round(sr * seconds))
    t = np.arange(n) / sr
    y = np.zeros(n)
    for i, root in enumerate((220.0, 174.6, 196.0, 261.6)):
        a, b = int(i * n / 4), int((i + 1) * n / 4)
        for ratio in (1.0, 1.26, 1.5):
            for h in (1, 2, 3):
                y[a:b] += 0.06 / h * np.sin(2 * np.pi * root * ratio * h * t[a:b])
    beat = int(sr * 0.25)
    noise = _rng(1).standard_normal(n)
    env = np.exp(-np.arange(beat) / (0.02 * sr))
    for start in range(0, n - beat, beat):
        y[start : start + beat] += 0.15 * noise[start : start + beat] * env
        if (start // beat) % 2 == 0:
            y[start : start + beat] += 0.4 * np.sin(2 * np.pi * 55 * t[:beat]) * env
    y = 0.9 * y / np.max(np.abs(y))
    out = np.stack([y * (1 - 0.1 * c) for c in range(channels)], axis=1)
    return out.astype(np.float32)


def _tone(sr: int, seconds: float, *, freq: float = 440.0, amp: float = 0.5, channels: int = 1):
    t = np.arange(int(round(sr * seconds))) / sr
    return np.repeat((amp * np.sin(2 * np.pi * freq * t))[:, None], channels, 1).astype(np.float32)


def _vowels(sr: int = 16000, seconds: float = 2.0) -> np.ndarray:
    """Speech-like: a 110-140 Hz glottal pulse train through moving vowel formants."""
    from scipy.signal import lfilter

    n = int(sr * seconds)
    f0 = 110 + 30 * np.sin(2 * np.pi * 0.7 * np.arange(n) / sr)
    phase = np.cumsum(f0 / sr)
    source = np.diff(np.floor(phase), prepend=0.0)  # one pulse per period
    y = np.zeros(n)
    formants = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480)]
    seg = n // len(formants)
    for i, fs in enumerate(formants):
        x = source[i * seg : (i + 1) * seg]
        out = np.zeros_like(x)
        for f, bw in zip(fs, (90, 110, 170), strict=True):
            r = np.exp(-np.pi * bw / sr)
            a = [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r]
            out += lfilter([1 - r], a, x)
        y[i * seg : (i + 1) * seg] = out * np.hanning(len(out))
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


# --------------------------------------------------------------------------- encoders


def _encode(x: np.ndarray, sr: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _wav_header(
    *,
    tag: int = 1,
    channels: int = 1,
    sr: int = 8000,
    bits: int = 16,
    data_size: int = 0,
    riff_size: int | None = None,
    block_align: int | None = None,
    extra_chunks: bytes = b"",
) -> bytes:
    """A hand-made RIFF/WAVE header (up to the data chunk's payload) that may lie."""
    block = channels * bits // 8 if block_align is None else block_align
    fmt = struct.pack("<HHIIHH", tag, channels, sr, (sr * block) & 0xFFFFFFFF, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunks
    body += b"data" + struct.pack("<I", data_size & 0xFFFFFFFF)
    size = len(body) + data_size if riff_size is None else riff_size
    return b"RIFF" + struct.pack("<I", size & 0xFFFFFFFF) + body


def _wav(data: bytes, **header) -> bytes:
    header.setdefault("data_size", len(data))
    return _wav_header(**header) + data


def _ffmpeg(path: Path, *args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args, str(path)],
        check=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _ffmpeg_from(path: Path, x: np.ndarray, sr: int, *codec: str) -> None:
    with tempfile.TemporaryDirectory(prefix="genrecls-corpus-") as tmp:
        src = Path(tmp) / "src.wav"
        sf.write(src, x, sr, subtype="PCM_16")
        _ffmpeg(path, "-i", str(src), *codec)


def _png() -> bytes:
    """A valid 8x8 RGB PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    raw = b"".join(b"\0" + bytes(range(24)) for _ in range(8))
    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _pdf() -> bytes:
    """A minimal valid one-page PDF."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def _zip_of(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


# ----------------------------------------------------------------- hand-made zip archives


def _gf2_times(mat: list[int], vec: int) -> int:
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)`` (zlib's algorithm)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = [_gf2_times(odd, v) for v in odd]  # two zero bits
    odd = [_gf2_times(even, v) for v in even]  # four zero bits
    while True:
        even = [_gf2_times(odd, v) for v in odd]
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = [_gf2_times(even, v) for v in even]
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def _zeros_deflate(n_blocks: int, block: int = 1 << 20) -> tuple[bytes, int, int]:
    """A raw deflate stream of ``n_blocks * block`` zero bytes, built without inflating it.

    Full flushes make every block's compressed bytes identical and byte-aligned, so one
    compressed block is repeated. Returns (stream, crc32, size).
    """
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(block)
    first = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    assert first == again, "deflate blocks after a full flush should repeat"
    stream = first * n_blocks + comp.flush(zlib.Z_FINISH)
    crc, length, piece = zlib.crc32(zeros), block, zlib.crc32(zeros)
    done = 1
    while done * 2 <= n_blocks:  # doubling
        crc = _crc32_combine(crc, crc, length)
        length *= 2
        done *= 2
    total_crc, total = crc, length
    while done < n_blocks:
        total_crc = _crc32_combine(total_crc, piece, block)
        total += block
        done += 1
    return stream, total_crc, total


def _raw_zip(entries: list[dict]) -> bytes:
    """Write a zip by hand so its headers can say what zipfile would never write.

    Each entry: ``name`` (str), ``data`` (stored bytes), ``method`` (0 stored, 8 deflate),
    ``crc``, ``size`` (declared uncompressed size), ``flags`` (general-purpose bits).
    """
    out, central = bytearray(), bytearray()
    for e in entries:
        name = e["name"].encode("utf-8")
        flags = e.get("flags", 0) | 0x800  # utf-8 names
        fields = (20, flags, e.get("method", 0), 0, 0x21, e["crc"], len(e["data"]), e["size"])
        offset = len(out)
        out += b"PK\x03\x04" + struct.pack("<HHHHHIII", *fields)
        out += struct.pack("<HH", len(name), 0) + name + e["data"]
        central += b"PK\x01\x02" + struct.pack("<HHHHHHIII", 0x031E, *fields)
        central += struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0o100644 << 16, offset)
        central += name
    start = len(out)
    out += central
    out += b"PK\x05\x06" + struct.pack(
        "<HHHHIIH", 0, 0, len(entries), len(entries), len(central), start, 0
    )
    return bytes(out)


# --------------------------------------------------------------------------- builders

Builder = Callable[[Path, Context], None]


def _bytes(make: Callable[[], bytes]) -> Builder:
    def build(path: Path, ctx: Context) -> None:
        path.write_bytes(make())

    return build


def _signal(make: Callable[[], np.ndarray], sr: int, fmt: str = "WAV", subtype: str = "PCM_16"):
    return _bytes(lambda: _encode(make(), sr, fmt, subtype))


def _music_file(fmt: str, subtype: str | None, *, sr: int = SR, channels: int = 2) -> bytes:
    return _encode(_music(sr, 2.0, channels), sr, fmt, subtype)


def _cut(fmt: str, subtype: str | None, where: int | float, *, sr: int = SR) -> Builder:
    """The 2 s music file cut after ``where`` bytes (int) or that fraction of it (float)."""

    def make() -> bytes:
        data = _music_file(fmt, subtype, sr=sr)
        n = where if isinstance(where, int) else int(len(data) * where)
        return data[:n]

    return _bytes(make)


def _garbage_after_headers(fmt: str, subtype: str | None, keep: int) -> Builder:
    """A real file's first ``keep`` bytes (its headers) followed by random bytes."""

    def make() -> bytes:
        data = _music_file(fmt, subtype)
        return data[:keep] + _rng(7).bytes(len(data) - keep)

    return _bytes(make)


def _one_hour_wav(path: Path, ctx: Context) -> None:
    """One hour of 8 kHz mono 16-bit music-like audio (57.6 MB), written in 1-minute chunks."""
    sr = 8000
    with sf.SoundFile(path, "w", sr, 1, format="WAV", subtype="PCM_16") as f:
        block = _music(sr, 60.0, 1)
        for _ in range(60):
            f.write(block)


def _one_hour_flac(path: Path, ctx: Context) -> None:
    """One hour of an 8 kHz tone as FLAC (about 12 MB)."""
    block = _tone(8000, 60.0, freq=250.0, amp=0.3)
    with sf.SoundFile(path, "w", 8000, 1, format="FLAC", subtype="PCM_16") as f:
        for _ in range(60):
            f.write(block)


def _over_limit(path: Path, ctx: Context) -> None:
    """A WAV header followed by a hole: one byte over the upload limit, sparse on disk."""
    with open(path, "wb") as f:
        f.write(_wav_header(sr=44100, channels=2, data_size=ctx.max_upload_bytes))
        f.truncate(ctx.max_upload_bytes + 1)


def _espeak(path: Path, ctx: Context) -> None:
    text = "This is not a song. It is a person talking about the weather, slowly."
    subprocess.run(
        ["espeak-ng", "-s", "140", "-w", str(path), text],
        check=True,
        timeout=60,
        stdout=subprocess.DEVNULL,
    )


def _float_with(value: float) -> Builder:
    def make() -> bytes:
        x = _music(22050, 1.0, 2)
        x[1000, 0] = value
        return _encode(x, 22050, "WAV", "FLOAT")

    return _bytes(make)


def _square(sr: int = 22050, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return np.where(np.sin(2 * np.pi * 110 * t) >= 0, 1.0, -1.0).astype(np.float32)


def _ffmpeg_case(*codec: str, seconds: float = 2.0, sr: int = SR) -> Builder:
    def build(path: Path, ctx: Context) -> None:
        _ffmpeg_from(path, _music(sr, seconds, 2), sr, *codec)

    return build


def _video_only(path: Path, ctx: Context) -> None:
    _ffmpeg(path, "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-t", "1", "-an")


# ------------------------------------------------------------------------- zip builders


def _short_wav(salt: int) -> bytes:
    """A 0.5 s 16 kHz music-like WAV (different per salt)."""
    x = _music(16000, 0.5, 1)
    x = (x * (0.6 + 0.3 * _rng(salt).random())).astype(np.float32)
    return _encode(x, 16000, "WAV", "PCM_16")


def _dataset(n_per_class: int = 2, classes: tuple[str, ...] = ("blues", "rock")) -> dict:
    return {
        f"{c}/{c}_{i}.wav": _short_wav(10 * k + i)
        for k, c in enumerate(classes)
        for i in range(n_per_class)
    }


def _zip_with(extra: dict[str, bytes], *, base: bool = True) -> Builder:
    return _bytes(lambda: _zip_of({**(_dataset() if base else {}), **extra}))


def _zip_symlink(path: Path, ctx: Context) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in _dataset().items():
            z.writestr(name, data)
        info = zipfile.ZipInfo("blues/passwd.wav")
        info.create_system = 3  # unix
        info.external_attr = (0o120777 << 16) | 0x20  # symlink
        z.writestr(info, "/etc/passwd")
        link_dir = zipfile.ZipInfo("rock/outside")
        link_dir.create_system = 3
        link_dir.external_attr = 0o120777 << 16
        z.writestr(link_dir, "../../..")
    path.write_bytes(buf.getvalue())


def _zip_bomb(path: Path, ctx: Context) -> None:
    """A few MB of zip inflating to more than the uncompressed-size limit (honest headers)."""
    block = 1 << 20
    n_blocks = ctx.max_zip_uncompressed_bytes // block + 64
    stream, crc, size = _zeros_deflate(n_blocks, block)
    if size >= 1 << 32:
        raise ValueError("bomb larger than 4 GiB would need zip64; lower the limit")
    entries = [
        {"name": f"blues/{n}", "data": d, "crc": zlib.crc32(d), "size": len(d)}
        for n, d in (("a.wav", _short_wav(1)), ("b.wav", _short_wav(2)))
    ]
    entries.append({"name": "rock/bomb.wav", "data": stream, "method": 8, "crc": crc, "size": size})
    path.write_bytes(_raw_zip(entries))


def _zip_size_lie(path: Path, ctx: Context) -> None:
    """Headers declare 1 kB but the deflate stream inflates to 64 MB."""
    stream, crc, _ = _zeros_deflate(64)
    entries = [
        {"name": "blues/a.wav", "data": (d := _short_wav(1)), "crc": zlib.crc32(d), "size": len(d)},
        {"name": "rock/lie.wav", "data": stream, "method": 8, "crc": crc, "size": 1024},
    ]
    path.write_bytes(_raw_zip(entries))


def _zip_encrypted(path: Path, ctx: Context) -> None:
    entries = [
        {"name": n, "data": d, "crc": zlib.crc32(d), "size": len(d), "flags": 0x1}
        for n, d in _dataset().items()
    ]
    path.write_bytes(_raw_zip(entries))


def _zip_duplicate(path: Path, ctx: Context) -> None:
    entries = [
        {"name": n, "data": d, "crc": zlib.crc32(d), "size": len(d)}
        for n, d in [*_dataset().items(), ("rock/rock_0.wav", _short_wav(80))]
    ]
    path.write_bytes(_raw_zip(entries))


def _zip_many(path: Path, ctx: Context) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i in range(ctx.max_zip_entries + 1):
            z.writestr(f"{('blues', 'rock')[i % 2]}/{i:05d}.txt", b"")
    path.write_bytes(buf.getvalue())


def _zip_truncated(path: Path, ctx: Context) -> None:
    data = _zip_of(_dataset())
    path.write_bytes(data[: len(data) // 2])


# --------------------------------------------------------------------------- the cases


def _zip(id_: str, filename: str, expected: str, build: Builder, message: str | None = None):
    """A training-upload case."""
    return Case(id_, filename, expected, build, kind="zip", message=message)


_LONG_NAME = "a_very_long_file_name_" + "x" * 200 + ".wav"  # 226 bytes, under ext4's 255
_UNICODE_NAME = "Ünïcødé — 日本語の歌 🎵 (remix).wav"

# fmt: off
CASES: tuple[Case, ...] = (
    # --- empty and tiny
    Case("empty-wav", "empty.wav", "error:EmptyAudioError", _bytes(bytes), message="is empty"),
    Case("empty-mp3", "empty.mp3", "error:EmptyAudioError", _bytes(bytes), message="is empty"),
    Case("one-byte-wav", "one_byte.wav", "error:DecodeError", _bytes(lambda: b"R")),
    Case("one-byte-mp3", "one_byte.mp3", "error:DecodeError", _bytes(lambda: b"\xff")),
    Case("all-zero-bytes", "zeros.wav", "error:DecodeError", _bytes(lambda: bytes(65536))),
    Case("random-bytes-wav", "random.wav", "error:DecodeError",
         _bytes(lambda: _rng(2).bytes(50_000))),
    Case("random-bytes-ogg", "random.ogg", "error:DecodeError",
         _bytes(lambda: _rng(3).bytes(50_000))),
    # --- truncated at several points
    Case("wav-cut-4", "cut4.wav", "error:DecodeError", _cut("WAV", "PCM_16", 4)),
    Case("wav-cut-30", "cut30.wav", "error:DecodeError", _cut("WAV", "PCM_16", 30)),
    Case("wav-cut-44", "cut44.wav", "error:DecodeError", _cut("WAV", "PCM_16", 44)),
    Case("wav-cut-47", "cut47.wav", "error:DecodeError", _cut("WAV", "PCM_16", 47)),
    Case("wav-cut-half", "cut_half.wav", "ok", _cut("WAV", "PCM_16", 0.5), message="cut short"),
    Case("flac-cut-4", "cut4.flac", "error:DecodeError", _cut("FLAC", "PCM_16", 4)),
    Case("flac-cut-60", "cut60.flac", "error:DecodeError", _cut("FLAC", "PCM_16", 60)),
    Case("flac-cut-half", "cut_half.flac", "ok", _cut("FLAC", "PCM_16", 0.5), message="cut short"),
    Case("ogg-cut-40", "cut40.ogg", "error:DecodeError", _cut("OGG", "VORBIS", 40)),
    Case("ogg-cut-3000", "cut3000.ogg", "error:DecodeError", _cut("OGG", "VORBIS", 3000)),
    Case("ogg-cut-half", "cut_half.ogg", "ok", _cut("OGG", "VORBIS", 0.5)),
    Case("mp3-cut-10", "cut10.mp3", "error:DecodeError", _cut("MP3", "MPEG_LAYER_III", 10)),
    Case("mp3-cut-half", "cut_half.mp3", "ok", _cut("MP3", "MPEG_LAYER_III", 0.5)),
    Case("opus-cut-half", "cut_half.opus", "ok", _cut("OGG", "OPUS", 0.5, sr=48000)),
    # --- other files renamed to audio
    Case("text-as-wav", "notes.wav", "error:DecodeError",
         _bytes(lambda: b"This is a shopping list, not a song.\n" * 50),
         message=r"'notes\.wav'.*not an audio file"),
    Case("text-as-mp3", "notes.mp3", "error:DecodeError",
         _bytes(lambda: "Liedtext — ni una canción — 歌ではない\n".encode() * 50)),
    Case("png-as-wav", "picture.wav", "error:DecodeError", _bytes(_png)),
    Case("png-as-mp3", "picture.mp3", "error:DecodeError", _bytes(_png)),
    Case("pdf-as-wav", "document.wav", "error:DecodeError", _bytes(_pdf)),
    Case("pdf-as-mp3", "document.mp3", "error:DecodeError", _bytes(_pdf)),
    Case("zip-as-wav", "archive.wav", "error:DecodeError",
         _bytes(lambda: _zip_of({"a.txt": b"hello" * 100}))),
    Case("zip-as-mp3", "archive.mp3", "error:DecodeError",
         _bytes(lambda: _zip_of({"song.wav": _short_wav(0)}))),
    # --- a valid container around a garbage payload
    Case("wav-pcm-random-payload", "noise_payload.wav", "ok",
         _bytes(lambda: _wav(_rng(4).bytes(44100 * 2), sr=22050))),
    Case("wav-float-random-payload", "float_payload.wav", "error:InvalidSamplesError",
         _bytes(lambda: _wav(_rng(5).bytes(44100 * 4), tag=3, bits=32, sr=22050)),
         message="NaN or infinite"),
    Case("flac-garbage-frames", "garbage.flac", "error:DecodeError",
         _garbage_after_headers("FLAC", "PCM_16", 42)),
    Case("ogg-garbage-pages", "garbage.ogg", "error:DecodeError",
         _garbage_after_headers("OGG", "VORBIS", 58)),
    Case("mp3-id3-then-garbage", "garbage.mp3", "error:DecodeError",
         _bytes(lambda: b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10) + _rng(6).bytes(30_000))),
    Case("wav-unknown-codec", "codec.wav", "error:UnsupportedFormatError",
         _bytes(lambda: _wav(bytes(8000), tag=0x1234)), needs=("ffmpeg",)),
    # --- headers that lie
    Case("wav-claims-more-data", "claims_more.wav", "ok",
         _bytes(lambda: _wav(_encode(_music(22050, 1.0, 1), 22050, "RAW", "PCM_16"),
                             sr=22050, data_size=22050 * 2 * 60)),
         message="cut short"),
    Case("wav-data-size-ffffffff", "streaming.wav", "ok",
         _bytes(lambda: _wav(_encode(_music(22050, 1.0, 1), 22050, "RAW", "PCM_16"),
                             sr=22050, data_size=0xFFFFFFFF))),
    Case("wav-riff-size-zero", "riff_zero.wav", "ok",
         _bytes(lambda: _wav(_encode(_music(22050, 1.0, 1), 22050, "RAW", "PCM_16"),
                             sr=22050, riff_size=0))),
    Case("wav-sr-0", "sr0.wav", "error:InvalidSamplesError",
         _bytes(lambda: _wav(bytes(8000), sr=0)), message="0 Hz"),
    Case("wav-sr-1", "sr1.wav", "error:InvalidSamplesError",
         _bytes(lambda: _wav(bytes(8000), sr=1)), message="not a real audio rate"),
    Case("wav-sr-999", "sr999.wav", "error:InvalidSamplesError",
         _bytes(lambda: _wav(bytes(8000), sr=999)), message="not a real audio rate"),
    Case("wav-sr-4e9", "sr4e9.wav", "error:InvalidSamplesError",
         _bytes(lambda: _wav(bytes(8000), sr=0xFFFFFFFF)),
         message="impossible sample rate|not a real audio rate"),
    Case("wav-0-channels", "ch0.wav", "error:DecodeError",
         _bytes(lambda: _wav(bytes(8000), channels=0, block_align=2))),
    Case("wav-65535-channels", "ch65535.wav", "error:DecodeError",
         _bytes(lambda: _wav(bytes(8000), channels=65535, block_align=2))),
    Case("wav-0-bits", "bits0.wav", "error:UnsupportedFormatError",
         _bytes(lambda: _wav(bytes(8000), bits=0, block_align=0))),
    Case("wav-huge-chunk-before-data", "huge_chunk.wav", "error:DecodeError",
         _bytes(lambda: _wav(bytes(8000), extra_chunks=b"LIST" + struct.pack("<I", 0xFFFFFFF0)))),
    # --- length
    Case("one-sample", "one_sample.wav", "error:EmptyAudioError",
         _signal(lambda: np.array([0.5], np.float32), 44100)),
    Case("ten-samples-8k", "ten_samples.wav", "ok",
         _signal(lambda: _tone(8000, 10 / 8000), 8000)),
    Case("tenth-second", "tenth.wav", "ok", _signal(lambda: _music(22050, 0.1, 1), 22050)),
    Case("one-hour-wav", "one_hour_8k.wav", "ok+warning:TruncatedAudioWarning", _one_hour_wav,
         message=r"Analysing the first 10:00 of 1:00:00"),
    Case("one-hour-flac", "one_hour_8k.flac", "ok+warning:TruncatedAudioWarning", _one_hour_flac,
         message=r"Analysing the first 10:00 of 1:00:00"),
    Case("over-upload-limit", "too_big.wav", "error:InputTooLargeError", _over_limit,
         message="the limit is"),
    # --- channels and rates
    Case("six-channels", "surround_5_1.wav", "ok", _signal(lambda: _music(48000, 1.0, 6), 48000)),
    Case("eight-channels-flac", "octo.flac", "ok",
         _signal(lambda: _music(44100, 1.0, 8), 44100, "FLAC", "PCM_24")),
    Case("rate-8k", "phone_8k.wav", "ok", _signal(lambda: _music(8000, 2.0, 1), 8000)),
    Case("rate-192k", "hires_192k.wav", "ok",
         _signal(lambda: _music(192000, 1.0, 2), 192000, "WAV", "PCM_24")),
    Case("rate-11025-u8", "old_11k_u8.wav", "ok",
         _signal(lambda: _music(11025, 1.0, 1), 11025, "WAV", "PCM_U8")),
    # --- sample values
    Case("float-nan", "nan.wav", "error:InvalidSamplesError", _float_with(np.nan),
         message="NaN or infinite"),
    Case("float-inf", "inf.wav", "error:InvalidSamplesError", _float_with(np.inf),
         message="NaN or infinite"),
    Case("float-over-full-scale", "loud_float.wav", "ok",
         _signal(lambda: 8.0 * _music(22050, 1.0, 1), 22050, "WAV", "FLOAT")),
    Case("float-far-over-full-scale", "very_loud_float.wav", "ok",
         _signal(lambda: 100.0 * _music(22050, 1.0, 1), 22050, "WAV", "FLOAT")),
    Case("square-full-scale", "square.wav", "ok", _signal(_square, 22050)),
    Case("dc-offset-only", "dc.wav", "ok",
         _signal(lambda: np.full(22050, 0.5, np.float32), 22050)),
    Case("digital-silence", "silence.wav", "ok+warning:SilentAudioWarning",
         _signal(lambda: np.zeros(22050 * 2, np.float32), 22050), message="digital silence"),
    Case("near-silence", "hiss_-110dB.wav", "ok+warning:SilentAudioWarning",
         _signal(lambda: (3e-6 * _rng(8).standard_normal(22050)).astype(np.float32),
                 22050, "WAV", "FLOAT"),
         message="is silent"),
    Case("white-noise", "white_noise.wav", "ok",
         _signal(lambda: (0.3 * _rng(9).standard_normal(22050 * 2)).astype(np.float32), 22050)),
    Case("single-click", "click.wav", "ok",
         _signal(lambda: np.eye(1, 22050, 11025, dtype=np.float32)[0], 22050)),
    Case("speech-espeak", "speech_espeak.wav", "ok", _espeak, needs=("espeak-ng",)),
    Case("speech-synth", "speech_vowels.wav", "ok", _signal(_vowels, 16000)),
    # --- names and extensions
    Case("unicode-name", _UNICODE_NAME, "ok", _signal(lambda: _music(22050, 1.0, 2), 22050)),
    Case("long-name", _LONG_NAME, "ok", _signal(lambda: _music(22050, 1.0, 1), 22050)),
    Case("shell-chars-name", "it's a \"song\"; $(rm -rf ~) & more.wav", "ok",
         _signal(lambda: _music(22050, 1.0, 1), 22050)),
    Case("no-extension", "song", "ok", _signal(lambda: _music(22050, 1.0, 1), 22050)),
    Case("upper-case-extension", "SONG.WAV", "ok", _signal(lambda: _music(22050, 1.0, 1), 22050)),
    Case("flac-named-mp3", "really_flac.mp3", "ok",
         _signal(lambda: _music(44100, 1.0, 2), 44100, "FLAC", "PCM_16")),
    Case("mp3-named-wav", "really_mp3.wav", "ok",
         _signal(lambda: _music(44100, 1.0, 2), 44100, "MP3", "MPEG_LAYER_III")),
    Case("wav-named-ogg", "really_wav.ogg", "ok", _signal(lambda: _music(22050, 1.0, 1), 22050)),
    # --- other codecs and containers (the sweep's control group)
    Case("wav-24bit", "pcm24.wav", "ok", _signal(lambda: _music(), SR, "WAV", "PCM_24")),
    Case("wav-alaw", "alaw.wav", "ok", _signal(lambda: _music(8000, 1.0, 1), 8000, "WAV", "ALAW")),
    Case("au-ulaw", "ulaw.au", "ok", _signal(lambda: _music(8000, 1.0, 1), 8000, "AU", "ULAW")),
    Case("aiff", "song.aiff", "ok", _signal(lambda: _music(), SR, "AIFF", "PCM_16")),
    Case("ogg-vorbis", "song.ogg", "ok", _signal(lambda: _music(), SR, "OGG", "VORBIS")),
    Case("opus", "song.opus", "ok", _signal(lambda: _music(48000), 48000, "OGG", "OPUS")),
    Case("mp3", "song.mp3", "ok", _signal(lambda: _music(), SR, "MP3", "MPEG_LAYER_III")),
    Case("m4a-aac", "song.m4a", "ok", _ffmpeg_case("-c:a", "aac", "-b:a", "96k"),
         needs=("ffmpeg",)),
    Case("webm-opus", "song.webm", "ok", _ffmpeg_case("-c:a", "libopus", sr=48000),
         needs=("ffmpeg",)),
    Case("video-without-audio", "video.mp4", "error:DecodeError", _video_only,
         needs=("ffmpeg",)),
    # --- training uploads (genrecls.archive)
    _zip("zip-ok", "dataset.zip", "ok", _zip_with({})),
    _zip("zip-top-folder", "dataset_folder.zip", "ok",
         _bytes(lambda: _zip_of({f"my songs/{k}": v for k, v in _dataset().items()}))),
    _zip("zip-nested-folders", "nested.zip", "ok",
         _zip_with({"blues/live/1990/gig.wav": _short_wav(40)})),
    _zip("zip-empty-class-folder", "empty_class.zip", "ok", _zip_with({"jazz/": b""})),
    _zip("zip-non-audio-inside", "with_junk.zip", "ok",
         _zip_with({"blues/cover.png": _png(), "README.txt": b"my songs", "rock/.DS_Store": b"\0",
                    "__MACOSX/blues/._blues_0.wav": b"\0\5\26\7", "rock/lyrics.pdf": _pdf()})),
    _zip("zip-unicode-names", "unicode.zip", "ok",
         _zip_with({"música/ñandú — 歌.wav": _short_wav(50), "música/b.wav": _short_wav(51)})),
    _zip("zip-slip", "slip.zip", "error:DataError",
         _zip_with({"../../x.wav": _short_wav(60)}), "outside"),
    _zip("zip-slip-inside-folder", "slip2.zip", "error:DataError",
         _zip_with({"blues/../../../escaped.wav": _short_wav(61)}), "outside"),
    _zip("zip-absolute-path", "absolute.zip", "error:DataError",
         _zip_with({"/tmp/genrecls_corpus_absolute.wav": _short_wav(62)}), "absolute"),
    _zip("zip-windows-paths", "windows.zip", "error:DataError",
         _zip_with({"..\\..\\evil.wav": _short_wav(63), "C:\\evil.wav": _short_wav(64)}),
         "outside|absolute"),
    _zip("zip-symlinks", "symlinks.zip", "error:DataError", _zip_symlink, "symbolic link"),
    _zip("zip-bomb", "bomb.zip", "error:DataError", _zip_bomb, "MiB"),
    _zip("zip-size-lie", "size_lie.zip", "error:DataError", _zip_size_lie, "damaged|declared"),
    _zip("zip-too-many-entries", "many.zip", "error:DataError", _zip_many, "entries"),
    _zip("zip-duplicate-names", "duplicates.zip", "error:DataError", _zip_duplicate, "twice"),
    _zip("zip-encrypted", "encrypted.zip", "error:DataError", _zip_encrypted, "encrypted"),
    _zip("zip-truncated", "truncated.zip", "error:DataError", _zip_truncated, "not a zip"),
    _zip("zip-empty", "empty.zip", "error:DataError", _bytes(lambda: _zip_of({})), "no audio"),
    _zip("zip-not-a-zip", "not_a_zip.zip", "error:DataError",
         _bytes(lambda: _short_wav(70)), "not a zip"),
)
# fmt: on


def generate(
    out_dir: str | os.PathLike,
    *,
    ctx: Context | None = None,
    cases: tuple[Case, ...] = CASES,
) -> list[tuple[Case, Path]]:
    """Write every case whose tools are available into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created if needed). Each case gets its own sub-folder named
        by its id, so file names may repeat and stay exactly as the case spells them.
    ctx : Context or None
        Limits to build the over-limit cases against; defaults to genrecls' defaults.
    cases : tuple of Case
        The cases to write.

    Returns
    -------
    written : list of (Case, pathlib.Path)
        The cases written and their files (cases whose tools are missing are left out).
        A ``manifest.json`` listing them is written too.
    """
    ctx = ctx or Context()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for case in cases:
        if not all(tool_available(t) for t in case.needs):
            continue
        folder = out / case.id
        folder.mkdir(exist_ok=True)
        path = folder / case.filename
        case.build(path, ctx)
        written.append((case, path))
    manifest = [
        {"id": c.id, "file": str(p.relative_to(out)), "kind": c.kind, "expected": c.expected}
        for c, p in written
    ]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return written
