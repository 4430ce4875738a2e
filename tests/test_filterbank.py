"""genrecls.filterbank reproduces librosa's mel filterbank exactly, without its imports."""

from __future__ import annotations

import subprocess
import sys

import librosa
import numpy as np
import pytest

from genrecls.exceptions import ParameterError
from genrecls.features import DISPLAY_CONFIG, FeatureConfig
from genrecls.filterbank import hz_to_mel, mel_filterbank, mel_to_hz


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sr": 16000, "n_fft": 512, "n_mels": 96, "fmin": 0.0, "fmax": 8000.0},  # musicnn
        {"sr": 11025, "n_fft": 512, "n_mels": 24, "fmin": 60.0, "fmax": 5000.0},  # musicness
        {"sr": 22050, "n_fft": 2048, "n_mels": 128, "fmin": 0.0, "fmax": None},
        {"sr": 44100, "n_fft": 4096, "n_mels": 40, "fmin": 30.0, "fmax": 16000.0},
    ],
)
def test_equals_librosa(kwargs: dict) -> None:
    expected = librosa.filters.mel(**kwargs)
    got = mel_filterbank(**kwargs)
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("fmin, fmax", [(0.0, 8000.0), (60.0, None)])
def test_unnormalised_equals_librosa(fmin: float, fmax: float | None) -> None:
    kw = {"sr": 16000, "n_fft": 512, "n_mels": 96, "fmin": fmin, "fmax": fmax, "norm": None}
    got = mel_filterbank(**kw)
    np.testing.assert_array_equal(got, librosa.filters.mel(**kw))
    assert got.max() == pytest.approx(1.0, abs=0.02)  # triangles of peak one


@pytest.mark.parametrize("config", [FeatureConfig(), DISPLAY_CONFIG])
def test_equals_librosa_for_the_feature_configs(config: FeatureConfig) -> None:
    kw = {"sr": config.sr, "n_fft": config.n_fft, "n_mels": config.n_mels}
    kw |= {"fmin": config.fmin, "fmax": config.fmax}
    np.testing.assert_array_equal(mel_filterbank(**kw), librosa.filters.mel(**kw))


def test_mel_scale_equals_librosa() -> None:
    f = np.array([0.0, 50.0, 999.9, 1000.0, 1000.1, 4000.0, 22050.0])
    np.testing.assert_array_equal(hz_to_mel(f), librosa.hz_to_mel(f))
    m = hz_to_mel(f)
    np.testing.assert_array_equal(mel_to_hz(m), librosa.mel_to_hz(m))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sr": 0, "n_fft": 512, "n_mels": 8},
        {"sr": 16000, "n_fft": 512, "n_mels": 8, "fmin": 9000.0},
        {"sr": 16000, "n_fft": 512, "n_mels": 8, "norm": "htk"},
    ],
)
def test_rejects_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ParameterError):
        mel_filterbank(**kwargs)


def test_classify_path_skips_slow_imports() -> None:
    # librosa.filters loads scipy.signal and numba (seconds of start-up): the fast path
    # (features, prediction, Grad-CAM, music check, "what the model heard", the Grad-CAM
    # figure) must not need them.
    code = (
        "import sys, numpy as np\n"
        "from genrecls.fast_features import fast_log_mel\n"
        "from genrecls.features import FeatureConfig\n"
        "from genrecls.musicness import assess_music\n"
        "import genrecls.explain\n"
        "y = (0.1 * np.sin(np.arange(48000) / 7)).astype(np.float32)\n"
        "fast_log_mel(y, config=FeatureConfig())\n"
        "assess_music(y, sr=16000)\n"
        "from genrecls.saliency import salient_audio\n"
        "cam = np.random.default_rng(0).random((96, 1 + len(y) // 256))\n"
        "salient_audio(y, sr=16000, cam_stitched=cam, config=FeatureConfig())\n"
        "from genrecls import plots\n"
        "plots.saliency_overlay_figure(0 * cam, cam, config=FeatureConfig(), scale=1.0)\n"
        "bad = sorted(m for m in ('librosa.filters', 'numba', 'scipy.signal', 'scipy.stats',"
        " 'scipy.special', 'scipy.sparse', 'pandas') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
