"""Property tests (hypothesis) for the decoder and the feature functions.

- Any bytes, with any name: ``load_audio`` returns a usable clip or raises an
  ``AudioError`` subclass; never another exception, never a temporary file left behind.
- Any valid audio parameters (rate, channels, length, sample format, container) written
  with soundfile decode to the right rate, channel count and length.
- Any finite full-scale audio gives finite features of the documented shapes.
"""

from __future__ import annotations

import io
import math
import struct
import tempfile
import warnings

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrecls.audio import AudioClip, load_audio
from genrecls.exceptions import AudioError, ParameterError
from genrecls.features import (
    DISPLAY_CONFIG,
    FeatureConfig,
    chroma,
    log_mel,
    mfcc,
    segment_spectrogram,
)


def examples(n: int) -> settings:
    """Hypothesis settings: ``n`` examples, no per-example deadline (decoding is slow)."""
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


#: Starts of real formats, so random bytes reach the parsers' inner paths.
MAGIC = [
    b"",
    b"RIFF\x24\x00\x00\x00WAVEfmt ",
    b"RIFF\xff\xff\xff\xffWAVE",
    b"fLaC\x00\x00\x00\x22",
    b"OggS\x00\x02",
    b"ID3\x03\x00\x00\x00\x00\x00\x00",
    b"\xff\xfb\x90\x64",
    b"FORM\x00\x00\x10\x00AIFF",
    b".snd\x00\x00\x00\x18",
    b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00",
    b"\x1a\x45\xdf\xa3",  # Matroska / WebM
]
NAMES = [None, "x.wav", "x.mp3", "x.ogg", "x.flac", "x.m4a", "x.webm", "x", "x.txt"]


@pytest.fixture(scope="module")
def private_tmp(tmp_path_factory):
    """Point ``tempfile`` at a private folder so leftovers can be seen."""
    folder = tmp_path_factory.mktemp("tempfiles")
    old = tempfile.tempdir
    tempfile.tempdir = str(folder)
    yield folder
    tempfile.tempdir = old


def _check_clip(clip: AudioClip, *, sr: int | None = None) -> None:
    assert isinstance(clip, AudioClip)
    assert clip.samples.ndim == 1 and clip.samples.dtype == np.float32
    assert len(clip.samples) > 0
    assert np.all(np.isfinite(clip.samples))
    if sr is not None:
        assert clip.sr == sr


def _decode_anything(data: bytes, name: str | None) -> AudioClip | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return load_audio(data, name=name, max_duration=5.0)
        except AudioError as exc:
            assert str(exc).strip(), "an AudioError without a message"
            return None


# --------------------------------------------------------------------------- decoder


@examples(40)
@given(prefix=st.sampled_from(MAGIC), body=st.binary(max_size=4096), name=st.sampled_from(NAMES))
def test_random_bytes_give_a_clip_or_an_audio_error(private_tmp, prefix, body, name):
    clip = _decode_anything(prefix + body, name)
    if clip is not None:
        _check_clip(clip, sr=22050)
    assert not list(private_tmp.iterdir()), "temporary files left behind"


@examples(40)
@given(
    tag=st.sampled_from([0, 1, 2, 3, 6, 7, 0x11, 0xFFFE, 0x1234]),
    channels=st.integers(0, 70_000),
    sr=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([8000, 44100, 192000])),
    bits=st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64, 65535]),
    block_align=st.one_of(st.none(), st.integers(0, 65535)),
    data_size=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    payload=st.binary(max_size=3000),
)
def test_wav_headers_that_lie(
    private_tmp, tag, channels, sr, bits, block_align, data_size, payload
):
    """A RIFF/WAVE header with arbitrary fields over arbitrary bytes."""
    channels &= 0xFFFF
    block = (channels * bits // 8) & 0xFFFF if block_align is None else block_align
    size = len(payload) if data_size is None else data_size
    fmt = struct.pack("<HHIIHH", tag, channels, sr, (sr * block) & 0xFFFFFFFF, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", size) + payload
    data = b"RIFF" + struct.pack("<I", len(body)) + body
    clip = _decode_anything(data, "fuzz.wav")
    if clip is not None:
        _check_clip(clip, sr=22050)
    assert not list(private_tmp.iterdir()), "temporary files left behind"


WAV_SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]
FLAC_SUBTYPES = ["PCM_S8", "PCM_16", "PCM_24"]


@st.composite
def audio_params(draw):
    container = draw(st.sampled_from(["WAV", "FLAC"]))
    subtype = draw(st.sampled_from(WAV_SUBTYPES if container == "WAV" else FLAC_SUBTYPES))
    rate = draw(st.integers(8000, 192000))
    if container == "FLAC" and rate > 65535:
        rate -= rate % 10  # libFLAC's streamable subset: above 65535 Hz, multiples of 10
    channels = draw(st.integers(1, 8))
    seconds = draw(st.floats(0.01, 1.5))
    return container, subtype, rate, channels, seconds


@examples(25)
@given(params=audio_params(), seed=st.integers(0, 2**32 - 1), as_bytes=st.booleans())
def test_valid_audio_decodes_to_right_rate_and_length(tmp_path_factory, params, seed, as_bytes):
    container, subtype, rate, channels, seconds = params
    rng = np.random.default_rng(seed)
    n = max(1, int(round(rate * seconds)))
    t = np.arange(n) / rate
    freqs = rng.uniform(50, min(4000, rate / 4), channels)
    x = 0.4 * np.sin(2 * np.pi * t[:, None] * freqs[None, :]) + 0.05 * rng.uniform(
        -1, 1, (n, channels)
    )
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), rate, format=container, subtype=subtype)
    data = buf.getvalue()
    ext = container.lower()
    source = data if as_bytes else tmp_path_factory.mktemp("valid") / f"clip.{ext}"
    if not as_bytes:
        source.write_bytes(data)

    native = load_audio(source, sr=None, name=f"clip.{ext}")
    _check_clip(native, sr=rate)
    assert native.original_sr == rate and native.n_channels == channels
    assert len(native.samples) == n and not native.truncated
    step = 2.0 ** -(7 if subtype in ("PCM_U8", "PCM_S8") else 15)
    np.testing.assert_allclose(native.samples, x.mean(axis=1), atol=2 * step)

    resampled = load_audio(source, sr=22050, name=f"clip.{ext}")
    _check_clip(resampled, sr=22050)
    expected = n * 22050 / rate
    assert abs(len(resampled.samples) - expected) <= 1.0
    assert resampled.duration == pytest.approx(n / rate, abs=1e-6)


@examples(20)
@given(
    rate=st.sampled_from([8000, 16000, 22050, 44100, 48000, 96000]),
    seconds=st.floats(0.2, 3.0),
    limit=st.floats(0.05, 3.0),
)
def test_max_duration_is_honoured(rate, seconds, limit):
    n = int(round(rate * seconds))
    x = 0.3 * np.sin(2 * np.pi * 330 * np.arange(n) / rate)
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clip = load_audio(buf.getvalue(), sr=None, max_duration=limit)
    limit_frames = max(1, math.floor(limit * rate))
    assert len(clip.samples) == min(n, limit_frames)
    assert clip.truncated == (n > limit_frames)
    if clip.truncated:
        assert clip.duration == pytest.approx(n / rate, abs=1e-6)


# --------------------------------------------------------------------------- features

CONFIGS = {
    "musicnn": FeatureConfig(),
    "display": DISPLAY_CONFIG,
    "small": FeatureConfig(sr=8000, n_fft=256, hop_length=64, n_mels=40, fmax=None,
                           compression="db", segment_frames=32, segment_hop_frames=16),
}  # fmt: skip


@st.composite
def finite_audio(draw, max_seconds: float = 3.0):
    """Full-scale audio of one of several characters, or arbitrary samples in [-1, 1]."""
    sr = 22050
    kind = draw(st.sampled_from(["noise", "sine", "silence", "impulse", "dc", "square", "raw"]))
    if kind == "raw":
        values = draw(
            st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=1, max_size=3000)
        )
        return np.asarray(values, dtype=np.float32)
    n = draw(st.integers(1, int(sr * max_seconds)))
    amp = draw(st.floats(0.0, 1.0))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = np.arange(n) / sr
    if kind == "noise":
        y = rng.uniform(-1, 1, n)
    elif kind == "sine":
        y = np.sin(2 * np.pi * rng.uniform(20, 10000) * t)
    elif kind == "silence":
        y = np.zeros(n)
    elif kind == "impulse":
        y = np.zeros(n)
        y[rng.integers(0, n)] = 1.0
    elif kind == "dc":
        y = np.ones(n)
    else:
        y = np.sign(np.sin(2 * np.pi * rng.uniform(20, 2000) * t))
    return (amp * y).astype(np.float32)


@examples(30)
@given(y=finite_audio(), config_name=st.sampled_from(sorted(CONFIGS)))
def test_features_are_finite_with_documented_shapes(y, config_name):
    config = CONFIGS[config_name]
    frames = 1 + len(y) // config.hop_length
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa: n_fft larger than a very short input
        M = log_mel(y, config=config)
        C = mfcc(y, config=config, n_mfcc=13)
        K = chroma(y, config=config)
    assert M.shape == (config.n_mels, frames) and M.dtype == np.float32
    assert C.shape == (13, frames)
    assert K.shape == (12, frames)
    for name, F in (("log_mel", M), ("mfcc", C), ("chroma", K)):
        assert np.all(np.isfinite(F)), f"{name} is not finite"
    segments, starts = segment_spectrogram(M, config=config)
    assert segments.shape == (len(starts), config.n_mels, config.segment_frames)
    assert np.all(np.isfinite(segments))


@examples(60)
@given(
    n_mels=st.integers(1, 16),
    t=st.integers(1, 400),
    length=st.integers(1, 64),
    hop=st.integers(1, 64),
)
def test_segments_cover_the_whole_spectrogram(n_mels, t, length, hop):
    config = FeatureConfig(n_mels=max(n_mels, 1), segment_frames=length, segment_hop_frames=hop)
    M = np.arange(n_mels * t, dtype=np.float32).reshape(n_mels, t)
    segments, starts = segment_spectrogram(M, config=config)
    assert segments.shape == (len(starts), n_mels, length)
    assert np.all(np.diff(starts) > 0) and starts[0] == 0
    if t >= length:
        covered = np.zeros(t, bool)
        for s in starts:
            covered[s : s + length] = True
        assert starts[-1] + length == t  # the tail is always covered
        assert covered.all() or hop > length  # gaps only when segments are spaced apart
        for seg, s in zip(segments, starts, strict=True):
            np.testing.assert_array_equal(seg, M[:, s : s + length])
    else:
        assert len(starts) == 1  # a short spectrogram is repeated to fill one segment
        np.testing.assert_array_equal(segments[0][:, :t], M)


@pytest.mark.parametrize("y", [np.zeros(0, np.float32), np.full(10, np.nan, np.float32)])
def test_features_reject_empty_and_non_finite(y):
    with pytest.raises(ParameterError):
        log_mel(y, config=FeatureConfig())


# Loud float input: a float WAV may hold samples far beyond full scale; load_audio keeps them.
@pytest.mark.parametrize("amplitude", [30.0, 1e4, 1e30])
def test_features_of_audio_beyond_full_scale(amplitude):
    """Finite but loud input gives finite features, or genrecls' ParameterError."""
    sr = FeatureConfig().sr
    y = (amplitude * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fn in (log_mel, mfcc, chroma):
            try:
                out = fn(y, config=FeatureConfig())
            except ParameterError:
                continue
            assert np.all(np.isfinite(out)), f"{fn.__name__} is not finite"
