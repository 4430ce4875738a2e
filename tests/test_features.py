import dataclasses

import numpy as np
import pytest

from genrecls import features
from genrecls.exceptions import ParameterError
from genrecls.features import DISPLAY_CONFIG, FeatureConfig
from genrecls.synth import sine

CONFIGS = [FeatureConfig(), DISPLAY_CONFIG, dataclasses.replace(DISPLAY_CONFIG, n_mels=64)]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seconds", [0.5, 3.0])
def test_log_mel_shape_and_dtype(config, seconds):
    y = sine(440.0, sr=config.sr, seconds=seconds)
    M = features.log_mel(y, config=config)
    assert M.shape == (config.n_mels, 1 + y.size // config.hop_length)
    assert M.dtype == np.float32
    assert np.all(np.isfinite(M))


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("freq", [220.0, 440.0, 1000.0, 3000.0])
def test_sine_peaks_in_the_right_mel_band(config, freq):
    y = sine(freq, sr=config.sr, seconds=1.0)
    M = features.log_mel(y, config=config)
    band = int(np.argmax(M.mean(axis=1)))
    centres = features.mel_frequencies(config=config)
    # The loudest band's centre is the band nearest the tone (within one band's width).
    assert abs(band - int(np.argmin(np.abs(centres - freq)))) <= 1


@pytest.mark.parametrize("config", CONFIGS)
def test_band_centres_and_frame_times_equal_librosa(config):
    import librosa

    fmax = config.fmax if config.fmax is not None else config.sr / 2
    expected = librosa.mel_frequencies(n_mels=config.n_mels + 2, fmin=config.fmin, fmax=fmax)
    np.testing.assert_array_equal(features.mel_frequencies(config=config), expected[1:-1])
    frames = np.arange(5000)
    np.testing.assert_array_equal(
        features.frame_times(frames.size, config=config),
        librosa.frames_to_time(frames, sr=config.sr, hop_length=config.hop_length),
    )


def test_db_compression_respects_top_db():
    config = dataclasses.replace(DISPLAY_CONFIG, top_db=50.0)
    M = features.log_mel(sine(440.0, sr=config.sr, seconds=1.0), config=config)
    assert M.max() == pytest.approx(0.0)
    assert M.min() >= -50.0 - 1e-4


def test_logc_matches_musicnn_formula():
    config = FeatureConfig()
    y = sine(440.0, sr=config.sr, seconds=1.0)
    S = features.mel_power(y, config=config)
    expected = np.log10(10000 * S.astype(np.float16).astype(np.float32) + 1)
    np.testing.assert_allclose(features.log_mel(y, config=config), expected, rtol=1e-6)


def test_chroma_of_a440_peaks_at_A():
    y = sine(440.0, sr=22050, seconds=1.0)
    C = features.chroma(y, config=DISPLAY_CONFIG)
    assert C.shape[0] == 12
    assert features.PITCH_CLASSES[int(np.argmax(C.mean(axis=1)))] == "A"


@pytest.mark.parametrize("n_mfcc", [5, 13, 20])
def test_mfcc_shape(n_mfcc):
    y = sine(440.0, sr=22050, seconds=1.0)
    C = features.mfcc(y, config=DISPLAY_CONFIG, n_mfcc=n_mfcc)
    assert C.shape == (n_mfcc, 1 + y.size // DISPLAY_CONFIG.hop_length)


def test_mfcc_more_than_mels_is_rejected():
    with pytest.raises(ParameterError, match="n_mfcc"):
        features.mfcc(
            np.zeros(1000, np.float32),
            config=dataclasses.replace(DISPLAY_CONFIG, n_mels=32),
            n_mfcc=40,
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sr": 0},
        {"n_mels": -1},
        {"hop_length": 1.5},
        {"fmax": 9000.0},
        {"fmin": -1.0},
        {"compression": "cubic"},
        {"top_db": 0.0},
        {"segment_frames": 0},
    ],
)
def test_invalid_config_is_rejected(kwargs):
    with pytest.raises(ParameterError):
        FeatureConfig(**kwargs)


def test_config_round_trips_through_dict():
    config = dataclasses.replace(FeatureConfig(), n_mels=64, segment_hop_frames=93)
    assert FeatureConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ParameterError, match="unknown"):
        FeatureConfig.from_dict({**config.to_dict(), "bogus": 1})


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 100)), np.array([], np.float32), np.array([0.0, np.nan]), np.arange(10)]
)
def test_invalid_audio_is_rejected(bad):
    with pytest.raises(ParameterError):
        features.log_mel(bad, config=FeatureConfig())


@pytest.mark.parametrize("n_frames", [1, 50, 187, 188, 400, 561, 1000])
def test_segments_cover_the_whole_spectrogram(n_frames):
    config = FeatureConfig()
    M = np.random.default_rng(0).random((config.n_mels, n_frames)).astype(np.float32)
    segments, starts = features.segment_spectrogram(M, config=config)
    assert segments.shape[1:] == (config.n_mels, config.segment_frames)
    assert len(segments) == len(starts)
    if n_frames >= config.segment_frames:
        covered = np.zeros(n_frames, bool)
        for s, seg in zip(starts, segments, strict=True):
            covered[s : s + config.segment_frames] = True
            np.testing.assert_array_equal(seg, M[:, s : s + config.segment_frames])
        assert covered.all()
    else:  # repeat-padded
        np.testing.assert_array_equal(segments[0][:, :n_frames], M)


def test_overlapping_segments():
    config = dataclasses.replace(FeatureConfig(), segment_hop_frames=93)
    segments, starts = features.segment_spectrogram(np.zeros((96, 1000), np.float32), config=config)
    assert np.all(np.diff(starts) <= 93)
    assert starts[-1] + config.segment_frames == 1000


@pytest.mark.parametrize("n", [100, 22050, 70000])
def test_segment_audio(n):
    y = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    windows, starts = features.segment_audio(y, sr=22050, seconds=1.0, hop_seconds=0.5)
    assert windows.shape[1] == 22050
    assert starts[0] == 0
    if n >= 22050:
        assert starts[-1] * 22050 + 22050 == n


def test_waveform_envelope_bounds_the_signal():
    y = np.random.default_rng(2).standard_normal(100_000).astype(np.float32)
    times, lower, upper = features.waveform_envelope(y, sr=1000, n_points=500)
    assert times.shape == lower.shape == upper.shape == (500,)
    assert lower.min() == y.min() and upper.max() == y.max()
    assert np.all(lower <= upper)
    assert 0 < times[0] < times[-1] < 100


def test_warm_up_loads_what_the_pictures_need():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from genrecls import features\n"
        "assert 'librosa.core.spectrum' not in sys.modules\n"
        "assert features.warm_up() >= 0\n"
        "print(all(m in sys.modules for m in ('librosa.core.spectrum', 'librosa.feature',"
        " 'numba')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
