"""Tests for genrecls.audio: every input is synthesised here, in tmp_path."""

from __future__ import annotations

import io
import math
import struct
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrecls import audio
from genrecls.audio import (
    FFMPEG_ONLY_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    AudioClip,
    format_duration,
    load_audio,
    probe_ffmpeg,
)
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

FFMPEG = probe_ffmpeg()
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None, reason="no ffmpeg found (neither on PATH nor bundled by imageio-ffmpeg)"
)
HAS_MP3 = "MP3" in sf.available_formats()
HAS_OPUS = "OPUS" in sf.available_subtypes("OGG")

FREQ = 440.0
AMP = 0.5


# --------------------------------------------------------------------------- helpers


def tone(sr: int, n_channels: int = 1, seconds: float = 0.5, *, amp: float = AMP) -> np.ndarray:
    """The same 440 Hz sine on every channel, shape (n, n_channels), float32."""
    t = np.arange(int(round(sr * seconds))) / sr
    x = amp * np.sin(2 * np.pi * FREQ * t)
    return np.repeat(x[:, None], n_channels, axis=1).astype(np.float32)


def write_sf(path: Path, x: np.ndarray, sr: int, fmt: str, subtype: str) -> Path:
    sf.write(path, x, sr, format=fmt, subtype=subtype)
    return path


def ffmpeg_encode(src: Path, dst: Path, *codec: str) -> Path:
    """Encode ``src`` to ``dst`` with the ffmpeg CLI."""
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), *codec, str(dst)],
        check=True,
        timeout=60,
    )
    return dst


def wav_bytes(
    *, tag: int = 1, channels: int = 1, sr: int = 8000, bits: int = 16, data: bytes = b""
) -> bytes:
    """A hand-made RIFF/WAVE file, so headers can say impossible things."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, sr, sr * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def peak_hz(y: np.ndarray, sr: int) -> float:
    """Frequency of the largest spectral peak (Hann window, 8x zero padding)."""
    n = 8 * len(y)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)), n=n))
    return float(np.argmax(spectrum) * sr / n)


def rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    """A 0.5 s stereo 44.1 kHz 16-bit WAV of a 440 Hz sine."""
    return write_sf(tmp_path / "tone.wav", tone(44100, 2), 44100, "WAV", "PCM_16")


# --------------------------------------------------------------------------- decode matrix

# Formats written in-process by libsndfile: name -> (extension, format, subtype).
SF_FORMATS = {
    "wav-16": ("wav", "WAV", "PCM_16"),
    "wav-24": ("wav", "WAV", "PCM_24"),
    "wav-32": ("wav", "WAV", "PCM_32"),
    "wav-float": ("wav", "WAV", "FLOAT"),
    "flac": ("flac", "FLAC", "PCM_24"),
    "ogg": ("ogg", "OGG", "VORBIS"),
    "mp3": ("mp3", "MP3", "MPEG_LAYER_III"),
    "opus": ("opus", "OGG", "OPUS"),
}
CHANNELS = (1, 2, 6)
RATES = (8000, 44100, 192000)


def _matrix() -> list:
    cases = []
    for fmt in [*SF_FORMATS, "m4a"]:
        for ch in CHANNELS:
            # Opus only encodes 8/12/16/24/48 kHz: use 48 kHz in place of 44.1 kHz.
            rates = (8000, 48000) if fmt == "opus" else RATES
            for rate in rates:
                if fmt == "mp3" and (ch > 2 or rate > 48000):
                    continue  # MPEG audio: at most 2 channels, at most 48 kHz
                if fmt == "m4a" and rate > 96000:
                    continue  # ffmpeg's AAC encoder stops at 96 kHz
                marks = []
                if fmt == "m4a":
                    marks.append(needs_ffmpeg)
                if fmt == "mp3" and not HAS_MP3:
                    marks.append(pytest.mark.skip(reason="this libsndfile has no MP3 support"))
                if fmt == "opus" and not HAS_OPUS:
                    marks.append(pytest.mark.skip(reason="this libsndfile has no Opus support"))
                cases.append(pytest.param(fmt, ch, rate, marks=marks, id=f"{fmt}-{ch}ch-{rate}"))
    return cases


def _make(tmp_path: Path, fmt: str, ch: int, rate: int, seconds: float = 0.5) -> Path:
    x = tone(rate, ch, seconds)
    if fmt == "m4a":
        src = write_sf(tmp_path / "src.wav", x, rate, "WAV", "FLOAT")
        return ffmpeg_encode(src, tmp_path / "clip.m4a", "-c:a", "aac", "-b:a", "128k")
    ext, sf_format, subtype = SF_FORMATS[fmt]
    return write_sf(tmp_path / f"clip.{ext}", x, rate, sf_format, subtype)


# Codec delay/padding a lossy encoder may add, in samples at the native rate.
SLACK_SAMPLES = {"m4a": 2048, "mp3": 1152, "ogg": 0, "opus": 0}
LOSSLESS = ("wav-16", "wav-24", "wav-32", "wav-float", "flac")


@pytest.mark.parametrize(("fmt", "ch", "rate"), _matrix())
def test_decode_matrix(tmp_path: Path, fmt: str, ch: int, rate: int) -> None:
    path = _make(tmp_path, fmt, ch, rate)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip = load_audio(path, sr=22050)
    assert clip.sr == 22050
    assert clip.original_sr == rate
    assert clip.n_channels == ch
    assert clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert clip.samples.flags.c_contiguous
    assert not clip.truncated and clip.warnings == ()
    slack = 0.02 * 0.5 + SLACK_SAMPLES.get(fmt, 0) / rate
    assert abs(clip.analysed_duration - 0.5) <= slack
    assert clip.duration == pytest.approx(clip.analysed_duration, abs=1e-3)
    assert peak_hz(clip.samples, clip.sr) == pytest.approx(FREQ, abs=3.0)
    expected_rms = AMP / math.sqrt(2)
    if fmt in LOSSLESS:
        assert rms(clip.samples) == pytest.approx(expected_rms, rel=0.02)
    else:  # 5.1 codecs may low-pass the LFE channel (1 of 6), taking out up to 1/6 of the mean
        assert 0.75 * expected_rms <= rms(clip.samples) <= 1.1 * expected_rms


@pytest.mark.parametrize("rate", [8000, 44100, 192000])
def test_native_rate_is_kept_when_sr_is_none(tmp_path: Path, rate: int) -> None:
    x = tone(rate, 2)
    path = write_sf(tmp_path / "x.wav", x, rate, "WAV", "PCM_24")
    clip = load_audio(path, sr=None)
    assert clip.sr == clip.original_sr == rate
    np.testing.assert_allclose(clip.samples, x[:, 0], atol=1e-6)


@pytest.mark.parametrize("target", [8000, 16000, 22050, 48000])
def test_resampling_keeps_pitch_and_length(tmp_path: Path, target: int) -> None:
    path = write_sf(tmp_path / "x.flac", tone(44100, 1, 1.0), 44100, "FLAC", "PCM_16")
    clip = load_audio(path, sr=target)
    assert len(clip.samples) == pytest.approx(target, abs=2)
    assert peak_hz(clip.samples, target) == pytest.approx(FREQ, abs=1.0)


def _one_shot(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    """The reference: downmix the whole signal, then resample it in one soxr call."""
    import soxr

    return soxr.resample(x.mean(axis=1, dtype=np.float32), sr, target, quality="HQ")


@pytest.mark.parametrize(("rate", "target"), [(44100, 16000), (48000, 22050), (8000, 16000)])
@pytest.mark.parametrize("truncate", [False, True])
def test_streamed_resampling_matches_one_shot(
    tmp_path: Path, rate: int, target: int, truncate: bool
) -> None:
    # Over three decode blocks long, noise so that every sample matters; stereo.
    rng = np.random.default_rng(1)
    n = 3 * audio._BLOCK_FRAMES + 4567
    x = (0.3 * rng.standard_normal((n, 2))).clip(-1, 1).astype(np.float32)
    path = write_sf(tmp_path / "x.wav", x, rate, "WAV", "FLOAT")
    max_duration = (2 * audio._BLOCK_FRAMES + 1001) / rate if truncate else 600.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedAudioWarning)
        clip = load_audio(path, sr=target, max_duration=max_duration)
    kept = x[: int(math.floor(max_duration * rate))]
    reference = _one_shot(kept, rate, target)
    assert clip.samples.shape == reference.shape
    np.testing.assert_allclose(clip.samples, reference, rtol=0, atol=1e-6)
    assert clip.truncated is truncate


@needs_ffmpeg
def test_streamed_resampling_matches_one_shot_through_ffmpeg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(2)
    x = (0.3 * rng.standard_normal((5 * 44100, 2))).clip(-1, 1).astype(np.float32)
    path = write_sf(tmp_path / "x.wav", x, 44100, "WAV", "FLOAT")
    _force_ffmpeg(monkeypatch)
    clip = load_audio(path.read_bytes(), sr=16000, name="x.wav")
    np.testing.assert_allclose(clip.samples, _one_shot(x, 44100, 16000), rtol=0, atol=1e-6)


def test_decoding_never_holds_the_native_rate_signal_whole(tmp_path: Path) -> None:
    # 60 s of 44.1 kHz stereo: 10.6 MB as native-rate mono float32, 3.8 MB at 16 kHz.
    import tracemalloc

    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal((60 * 44100, 2))).astype(np.float32)
    data = (
        write_sf(tmp_path / "x.wav", (x * 32767).astype(np.int16), 44100, "WAV", "PCM_16")
    ).read_bytes()
    tracemalloc.start()
    try:
        clip = load_audio(data, sr=16000, name="x.wav")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out_bytes = clip.samples.nbytes
    assert out_bytes == pytest.approx(60 * 16000 * 4, rel=1e-3)
    # The output twice (its blocks, then their concatenation) plus a few decode blocks.
    assert peak < 2 * out_bytes + 4 * 1024 * 1024, peak / 1e6


@pytest.mark.parametrize("ch", [2, 6])
def test_downmix_is_the_mean_of_channels(tmp_path: Path, ch: int) -> None:
    x = np.zeros((4410, ch), dtype=np.float32)
    x[:, ch - 1] = tone(44100, 1, 0.1)[:, 0]  # signal on the last channel only
    path = write_sf(tmp_path / "x.wav", x, 44100, "WAV", "FLOAT")
    clip = load_audio(path, sr=None)
    np.testing.assert_allclose(clip.samples, x[:, ch - 1] / ch, atol=1e-7)


# --------------------------------------------------------------------------- sources


class FakeUpload(io.BytesIO):
    """Shaped like Streamlit's UploadedFile: a BytesIO with name, type and size."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name
        self.type = "audio/wav"
        self.size = len(data)


class Unseekable:
    """A read-only stream that cannot seek (a pipe, a socket)."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(n)

    def seekable(self) -> bool:
        return False


SOURCES = {
    "str": lambda p: str(p),
    "path": lambda p: p,
    "bytes": lambda p: p.read_bytes(),
    "bytearray": lambda p: bytearray(p.read_bytes()),
    "memoryview": lambda p: memoryview(p.read_bytes()),
    "bytesio": lambda p: io.BytesIO(p.read_bytes()),
    "upload": lambda p: FakeUpload(p.read_bytes(), "upload.wav"),
    "unseekable": lambda p: Unseekable(p.read_bytes()),
    "open-file": lambda p: open(p, "rb"),  # noqa: SIM115 - closed by the test
}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_every_source_kind_gives_the_same_samples(tone_wav: Path, kind: str) -> None:
    reference = load_audio(tone_wav)
    source = SOURCES[kind](tone_wav)
    try:
        clip = load_audio(source)
    finally:
        if hasattr(source, "close"):
            source.close()
    np.testing.assert_array_equal(clip.samples, reference.samples)
    assert (clip.sr, clip.original_sr, clip.n_channels) == (22050, 44100, 2)


def test_filelike_is_read_from_start_and_position_restored(tone_wav: Path) -> None:
    upload = FakeUpload(tone_wav.read_bytes(), "song.wav")
    upload.seek(0, io.SEEK_END)  # e.g. st.audio() already consumed it
    end = upload.tell()
    clip = load_audio(upload)
    assert clip.name == "song.wav"
    assert len(clip.samples) == 11025
    assert upload.tell() == end


def test_name_comes_from_argument_path_or_filelike(tone_wav: Path) -> None:
    assert load_audio(tone_wav).name == "tone.wav"
    assert load_audio(tone_wav.read_bytes(), name="x.wav").name == "x.wav"
    assert load_audio(tone_wav.read_bytes()).name is None
    assert load_audio(FakeUpload(tone_wav.read_bytes(), "/a/b/up.wav")).name == "up.wav"


# --------------------------------------------------------------------------- ffmpeg backend


def _force_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise audio._SoundfileFailed("forced")

    monkeypatch.setattr(audio, "_decode_soundfile", refuse)


@needs_ffmpeg
@pytest.mark.parametrize(
    ("ch", "rate", "as_bytes"), [(1, 8000, False), (2, 44100, True), (6, 192000, True)]
)
def test_ffmpeg_backend_matches_soundfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ch: int, rate: int, as_bytes: bool
) -> None:
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((rate // 4, ch))).clip(-1, 1).astype(np.float32)
    path = write_sf(tmp_path / "x.wav", x, rate, "WAV", "PCM_16")
    reference = load_audio(path, sr=None)
    _force_ffmpeg(monkeypatch)
    clip = load_audio(path.read_bytes() if as_bytes else path, sr=None)
    assert (clip.sr, clip.n_channels) == (rate, ch)
    np.testing.assert_allclose(clip.samples, reference.samples, atol=1e-6)


@needs_ffmpeg
@pytest.mark.parametrize(
    ("ext", "codec"),
    [
        ("webm", ("-c:a", "libopus")),
        ("wma", ("-c:a", "wmav2")),
        ("aac", ("-c:a", "aac")),
        ("mka", ("-c:a", "flac")),
    ],
)
def test_ffmpeg_only_containers(tmp_path: Path, ext: str, codec: tuple[str, ...]) -> None:
    src = write_sf(tmp_path / "src.wav", tone(48000, 2), 48000, "WAV", "PCM_16")
    path = ffmpeg_encode(src, tmp_path / f"clip.{ext}", *codec)
    # Uploads arrive as bytes (piped to ffmpeg); the CLI passes paths: alternate them.
    source = path.read_bytes() if ext in ("webm", "aac") else path
    clip = load_audio(source, sr=16000, name=path.name)
    assert clip.n_channels == 2 and clip.original_sr == 48000
    assert abs(clip.analysed_duration - 0.5) < 0.1
    assert peak_hz(clip.samples, 16000) == pytest.approx(FREQ, abs=3.0)


@needs_ffmpeg
def test_m4a_bytes_leave_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = _make(tmp_path, "m4a", 2, 44100)
    clip = load_audio(path.read_bytes(), name="clip.m4a")
    assert clip.n_channels == 2
    with pytest.raises(DecodeError):  # an MP4 signature followed by junk
        load_audio(b"\x00\x00\x00\x18ftypM4A " + b"\x01" * 500, name="bad.m4a")
    assert list(scratch.iterdir()) == []


@needs_ffmpeg
def test_ffmpeg_timeout_is_a_decode_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_sf(tmp_path / "x.wav", tone(8000), 8000, "WAV", "PCM_16")
    _force_ffmpeg(monkeypatch)
    monkeypatch.setattr(audio, "FFMPEG_TIMEOUT_S", 1e-4)
    with pytest.raises(DecodeError, match="took longer"):
        load_audio(path)


@needs_ffmpeg
def test_video_without_audio_track(tmp_path: Path) -> None:
    path = tmp_path / "silent_film.mp4"
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=32x32:rate=5:duration=0.4", "-c:v", "mpeg4", str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    with pytest.raises(DecodeError, match="no audio track"):
        load_audio(path)


def test_probe_ffmpeg_returns_an_existing_file_or_none() -> None:
    found = probe_ffmpeg()
    assert found is None or Path(found).is_file()


# --------------------------------------------------------------------------- bad input


def _text_as_mp3(tmp_path: Path) -> Path:
    path = tmp_path / "song.mp3"
    path.write_text("This is a shopping list, not a song.\n" * 40)
    return path


def _garbage(tmp_path: Path) -> bytes:
    return np.random.default_rng(1).bytes(20_000)


def _cut(tmp_path: Path, fmt: str, n_bytes: int) -> bytes:
    path = _make(tmp_path, fmt, 2, 44100, seconds=1.0)
    return path.read_bytes()[:n_bytes]


BAD_INPUTS = {
    "empty-bytes": (lambda tp: b"", EmptyAudioError, "is empty"),
    "empty-file": (lambda tp: (tp / "e.wav").write_bytes(b"") or tp / "e.wav", EmptyAudioError,
                   "'e.wav' is empty"),
    "empty-bytesio": (lambda tp: io.BytesIO(), EmptyAudioError, "is empty"),
    "zero-frames-wav": (lambda tp: wav_bytes(data=b""), EmptyAudioError, "no audio samples"),
    "text-renamed-mp3": (_text_as_mp3, DecodeError,
                         r"Could not read 'song\.mp3' as audio: the file is damaged or not an "
                         "audio file"),
    "random-bytes": (_garbage, DecodeError, "damaged or not an audio file"),
    "wav-cut-in-header": (lambda tp: _cut(tp, "wav-16", 30), DecodeError, "damaged"),
    "wav-header-only": (lambda tp: _cut(tp, "wav-16", 44), DecodeError, "damaged"),
    "flac-cut": (lambda tp: _cut(tp, "flac", 60), DecodeError, "damaged"),
    "ogg-cut": (lambda tp: _cut(tp, "ogg", 100), DecodeError, "damaged"),
    "mp3-cut": (lambda tp: _cut(tp, "mp3", 54), DecodeError, "damaged"),
    "sr-zero": (lambda tp: wav_bytes(sr=0, data=b"\0\1" * 800), InvalidSamplesError, "0 Hz"),
    "sr-one": (lambda tp: wav_bytes(sr=1, data=b"\0\1" * 800), InvalidSamplesError, "1 Hz"),
    "sr-absurd": (lambda tp: wav_bytes(sr=2_000_000_000, data=b"\0\1" * 800),
                  InvalidSamplesError, "not a real audio rate"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_typed_error(tmp_path: Path, case: str) -> None:
    if case in ("mp3-cut",) and not HAS_MP3:
        pytest.skip("this libsndfile has no MP3 support")
    build, error, message = BAD_INPUTS[case]
    with pytest.raises(error, match=message) as info:
        load_audio(build(tmp_path), name=None)
    assert type(info.value) is error  # not a broader or narrower class


@needs_ffmpeg
def test_unknown_wav_codec_is_unsupported() -> None:
    data = wav_bytes(tag=0x1234, data=b"\0\1" * 800)
    with pytest.raises(UnsupportedFormatError, match="codec is not supported"):
        load_audio(data, name="odd.wav")


def test_ffmpeg_formats_without_ffmpeg_are_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio, "probe_ffmpeg", lambda: None)
    m4a_like = b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 200
    with pytest.raises(UnsupportedFormatError, match=r"\.m4a files need ffmpeg"):
        load_audio(m4a_like, name="voice.m4a")
    with pytest.raises(DecodeError, match="damaged or not an audio file"):
        load_audio(b"\x01" * 300, name="noise.bin")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_raise(tmp_path: Path, bad: float) -> None:
    x = tone(16000, 2)
    x[100, 1] = bad
    path = write_sf(tmp_path / "nan.wav", x, 16000, "WAV", "FLOAT")
    with pytest.raises(InvalidSamplesError, match="NaN or infinite"):
        load_audio(path)


def test_wav_cut_mid_data_loads_with_a_warning(tmp_path: Path) -> None:
    data = _cut(tmp_path, "wav-16", 44 + 44100 * 2)  # half of a 1 s stereo 16-bit file
    clip = load_audio(data, name="half.wav")
    assert clip.analysed_duration == pytest.approx(0.5, abs=0.01)
    assert any("cut short" in text for text in clip.warnings)


def test_missing_path_and_folder(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="folder"):
        load_audio(tmp_path)


# --------------------------------------------------------------------------- size limit


@pytest.mark.parametrize("kind", ["path", "bytes", "bytesio", "upload", "unseekable"])
def test_too_large_is_refused_before_decoding(tmp_path: Path, kind: str) -> None:
    junk = b"\x01" * 5000  # not audio: a decode attempt would raise DecodeError instead
    path = tmp_path / "big.wav"
    path.write_bytes(junk)
    source = {
        "path": path,
        "bytes": junk,
        "bytesio": io.BytesIO(junk),
        "upload": FakeUpload(junk, "big.wav"),
        "unseekable": Unseekable(junk),
    }[kind]
    size = "is larger than the limit" if kind == "unseekable" else r"is 4\.9 kB"
    with pytest.raises(InputTooLargeError, match=size + "; the limit is 1000 bytes"):
        load_audio(source, max_bytes=1000)


def test_upload_size_attribute_is_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    upload = FakeUpload(b"\x01" * 10, "huge.wav")
    upload.size = 300 * 1024 * 1024  # what the browser reported
    with pytest.raises(InputTooLargeError, match="300.0 MB"):
        load_audio(upload)


def test_size_limit_defaults_to_environment(
    tone_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENRECLS_MAX_UPLOAD_MB", "0.01")
    with pytest.raises(InputTooLargeError, match="the limit is 10.2 kB"):
        load_audio(tone_wav)
    assert load_audio(tone_wav, max_bytes=10**9).n_channels == 2


# --------------------------------------------------------------------------- truncation


@pytest.fixture
def long_wav(tmp_path: Path) -> Path:
    """A 30 s stereo 44.1 kHz 16-bit WAV."""
    return write_sf(tmp_path / "long.wav", tone(44100, 2, 30.0), 44100, "WAV", "PCM_16")


def test_long_file_reads_only_max_duration(long_wav: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames_read = []
    original = sf.SoundFile.read

    def counting_read(self: sf.SoundFile, *args: object, **kwargs: object) -> np.ndarray:
        out = original(self, *args, **kwargs)
        frames_read.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting_read)
    start = time.perf_counter()
    with pytest.warns(TruncatedAudioWarning, match=r"Analysing the first 0:02 of 0:30"):
        clip = load_audio(long_wav, max_duration=2)
    elapsed = time.perf_counter() - start
    assert sum(frames_read) <= 2 * 44100 + 1  # never more than the limit plus one frame
    assert clip.truncated
    assert len(clip.samples) == 2 * 22050
    assert clip.analysed_duration == pytest.approx(2.0)
    assert clip.duration == pytest.approx(30.0)
    assert clip.warnings == ("Analysing the first 0:02 of 0:30.",)
    assert elapsed < 5.0


@pytest.mark.parametrize("fmt", ["flac", "ogg", "m4a"])
def test_truncation_in_compressed_formats(tmp_path: Path, fmt: str) -> None:
    if fmt == "m4a" and FFMPEG is None:
        pytest.skip("no ffmpeg found (neither on PATH nor bundled by imageio-ffmpeg)")
    seconds = 10.0 if fmt == "m4a" else 30.0  # AAC encoding is the slow part here
    path = _make(tmp_path, fmt, 1, 16000, seconds=seconds)
    start = time.perf_counter()
    with pytest.warns(TruncatedAudioWarning):
        clip = load_audio(path, sr=16000, max_duration=2)
    assert time.perf_counter() - start < 5.0
    assert clip.truncated and len(clip.samples) == 32000
    assert clip.duration == pytest.approx(seconds, abs=0.1)


def test_exactly_max_duration_is_not_truncated(tmp_path: Path) -> None:
    path = write_sf(tmp_path / "x.wav", tone(8000, 1, 2.0), 8000, "WAV", "PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip = load_audio(path, sr=None, max_duration=2.0)
    assert not clip.truncated and len(clip.samples) == 16000


def test_max_duration_defaults_to_environment(
    tone_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENRECLS_MAX_DURATION_S", "0.25")
    with pytest.warns(TruncatedAudioWarning, match="0:00 of 0:00"):
        clip = load_audio(tone_wav, sr=None)
    assert len(clip.samples) == 11025


# --------------------------------------------------------------------------- silence


@pytest.mark.parametrize(
    ("level", "expected"), [(0.0, "digital silence"), (1e-6, "-1[0-9]{2} dBFS")]
)
def test_silent_audio_warns(tmp_path: Path, level: float, expected: str) -> None:
    rng = np.random.default_rng(2)
    x = (level * rng.standard_normal((8000, 2))).astype(np.float32)
    path = write_sf(tmp_path / "quiet.wav", x, 16000, "WAV", "FLOAT")
    with pytest.warns(SilentAudioWarning, match=expected):
        clip = load_audio(path)
    assert any("silent" in text for text in clip.warnings)
    assert not clip.truncated


def test_normal_audio_has_no_warnings(tone_wav: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_audio(tone_wav).warnings == ()


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sr": 0},
        {"sr": -8000},
        {"sr": 22050.0},
        {"sr": True},
        {"max_duration": 0},
        {"max_duration": -1.0},
        {"max_duration": float("nan")},
        {"max_bytes": 0},
        {"max_bytes": 1.5},
    ],
)
def test_invalid_parameters(tone_wav: Path, kwargs: dict) -> None:
    with pytest.raises(ParameterError):
        load_audio(tone_wav, **kwargs)


@pytest.mark.parametrize("source", [123, None, io.StringIO("text")])
def test_invalid_source_type(source: object) -> None:
    with pytest.raises(ParameterError, match="source"):
        load_audio(source)  # type: ignore[arg-type]


def test_audioclip_validates_and_reports_analysed_duration() -> None:
    clip = AudioClip(np.zeros(441, np.float32), sr=22050, original_sr=44100, n_channels=2,
                     duration=1.0)  # fmt: skip
    assert clip.analysed_duration == pytest.approx(0.02)
    with pytest.raises(ParameterError):
        AudioClip(np.zeros((2, 2), np.float32), 22050, 44100, 2, 1.0)
    with pytest.raises(ParameterError):
        AudioClip(np.zeros(4, np.float64), 22050, 44100, 2, 1.0)
    with pytest.raises(ParameterError):
        AudioClip(np.zeros(4, np.float32), 0, 44100, 2, 1.0)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (7.4, "0:07"), (59.6, "1:00"), (600, "10:00"), (3723, "1:02:03")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "10"])
def test_format_duration_rejects(bad: object) -> None:
    with pytest.raises(ParameterError):
        format_duration(bad)  # type: ignore[arg-type]


def test_supported_extensions() -> None:
    for ext in ("wav", "flac", "ogg", "mp3", "opus", "m4a", "webm"):
        assert ext in SUPPORTED_EXTENSIONS
    assert set(FFMPEG_ONLY_EXTENSIONS) <= set(SUPPORTED_EXTENSIONS)
    assert all(e == e.lower() and not e.startswith(".") for e in SUPPORTED_EXTENSIONS)


def test_too_large_message_distinguishes_sizes_just_over_the_limit():
    from genrecls.audio import _too_large

    limit = 200 * 1024 * 1024
    message = str(_too_large("the upload", limit + 10, limit))
    assert "209,715,210 bytes" in message and "209,715,200 bytes" in message
    assert "300.0 MB" in str(_too_large("the upload", 300 * 1024 * 1024, limit))
