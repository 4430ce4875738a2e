import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genrecls.config import data_dir
from genrecls.exceptions import ParameterError
from genrecls.summary_features import (
    SUMMARY_FEATURE_NAMES,
    summary_feature_vector,
    summary_features,
)

SR = 22050

TABLE = data_dir() / "gtzan_kaggle" / "features_30_sec.csv"
SAMPLES = data_dir() / "gtzan_samples"

# Relative tolerance per column, against the Kaggle table, measured on all 10 gtzan_samples
# clips (max relative error seen in brackets). Most columns agree to float32 round-off
# (<= 2.3e-6). harmony_mean / perceptr_mean are tiny numbers near zero that the CSV prints
# with only ~3 significant digits (e.g. -4.53e-05), so their error is the CSV's rounding
# (2.0e-3 / 1.1e-3); perceptr_var is printed with 3 digits for classical (6.03e-05: 4.9e-4).
# tempo is a value on librosa's BPM grid and matches exactly on all 10 clips.
DEFAULT_RTOL = 1e-5
RTOL = {"harmony_mean": 5e-3, "perceptr_mean": 5e-3, "perceptr_var": 1e-3, "tempo": 1e-7}

requires_data = pytest.mark.skipif(
    not (TABLE.is_file() and SAMPLES.is_dir()),
    reason=f"shared data not found ({TABLE.parent}, {SAMPLES}); set GENRECLS_DATA_DIR",
)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _sine(freq=440.0, seconds=2.0, amp=0.5):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _clicks(bpm=120.0, seconds=8.0):
    y = 0.01 * _rng(1).standard_normal(int(seconds * SR)).astype(np.float32)
    period = int(round(60.0 / bpm * SR))
    for start in range(0, len(y) - 200, period):
        y[start : start + 200] += np.hanning(200).astype(np.float32)
    return y


# --------------------------------------------------------------------- reproduction


@pytest.fixture(scope="module")
def table():
    frame = pd.read_csv(TABLE)
    frame["track"] = frame["filename"].str.replace(".wav", "", regex=False)
    return frame.set_index("track")


@pytest.mark.data
@requires_data
@pytest.mark.parametrize("genre", ["blues", "country", "pop"])
def test_reproduces_kaggle_table_row(genre, table):
    y, sr = sf.read(SAMPLES / genre / f"{genre}.00000.au", dtype="float32")
    assert sr == SR
    assert len(y) == table.loc[f"{genre}.00000", "length"]
    feats = summary_features(y, sr=sr)
    for name in SUMMARY_FEATURE_NAMES:
        expected = table.loc[f"{genre}.00000", name]
        np.testing.assert_allclose(
            feats[name], expected, rtol=RTOL.get(name, DEFAULT_RTOL), err_msg=name
        )


# ------------------------------------------------------------------------ synthetic


def test_names_are_the_kaggle_columns_in_order():
    assert len(SUMMARY_FEATURE_NAMES) == 57
    assert len(set(SUMMARY_FEATURE_NAMES)) == 57
    assert SUMMARY_FEATURE_NAMES[:2] == ("chroma_stft_mean", "chroma_stft_var")
    assert SUMMARY_FEATURE_NAMES[12:17] == (
        "harmony_mean",
        "harmony_var",
        "perceptr_mean",
        "perceptr_var",
        "tempo",
    )
    assert SUMMARY_FEATURE_NAMES[-2:] == ("mfcc20_mean", "mfcc20_var")


@pytest.mark.parametrize(
    "signal",
    [
        _sine(),
        0.1 * _rng().standard_normal(3 * SR).astype(np.float32),
        _clicks(seconds=3.0),
        np.zeros(SR, dtype=np.float32),
        _rng(2).uniform(-1, 1, 2048).astype(np.float32),  # one frame: the shortest input
    ],
    ids=["sine", "noise", "clicks", "silence", "one-frame"],
)
def test_ordered_finite_floats(signal):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # librosa: no tuning estimate on silence
        feats = summary_features(signal, sr=SR)
    assert tuple(feats) == SUMMARY_FEATURE_NAMES
    assert all(isinstance(v, float) and np.isfinite(v) for v in feats.values())
    assert all(feats[n] >= 0 for n in SUMMARY_FEATURE_NAMES if n.endswith("_var"))


def test_vector_matches_dict():
    y = _sine(330.0)
    vec = summary_feature_vector(y, sr=SR)
    feats = summary_features(y, sr=SR)
    assert vec.shape == (57,)
    assert vec.dtype == np.float64
    np.testing.assert_array_equal(vec, [feats[n] for n in SUMMARY_FEATURE_NAMES])


def test_float64_input_matches_float32():
    y = _sine(550.0)
    a = summary_feature_vector(y, sr=SR)
    b = summary_feature_vector(y.astype(np.float64), sr=SR)
    np.testing.assert_allclose(a, b)


def test_sine_values_make_physical_sense():
    amp, freq = 0.5, 440.0
    feats = summary_features(_sine(freq, seconds=3.0, amp=amp), sr=SR)
    assert feats["spectral_centroid_mean"] == pytest.approx(freq, rel=0.05)
    assert feats["rms_mean"] == pytest.approx(amp / np.sqrt(2), rel=0.02)
    assert feats["zero_crossing_rate_mean"] == pytest.approx(2 * freq / SR, rel=0.02)
    assert feats["harmony_var"] > 10 * feats["perceptr_var"]  # a steady tone is harmonic
    chroma_a = summary_features(_sine(freq), sr=SR)["chroma_stft_mean"]
    assert 0 < chroma_a <= 1


def test_click_track_tempo():
    feats = summary_features(_clicks(bpm=120.0), sr=SR)
    assert feats["tempo"] == pytest.approx(120.0, rel=0.05)
    assert feats["perceptr_var"] > feats["harmony_var"]  # clicks are percussive


@pytest.mark.parametrize(
    ("y", "sr", "match"),
    [
        (np.zeros((2, 4096), dtype=np.float32), SR, "mono"),
        (np.zeros(100, dtype=np.float32), SR, "too short"),
        (np.full(4096, np.nan, dtype=np.float32), SR, "NaN"),
        (np.zeros(4096, dtype=np.int16), SR, "floating-point"),
        (np.zeros(4096, dtype=np.float32), 0, "positive integer"),
        (np.zeros(4096, dtype=np.float32), 22050.0, "positive integer"),
        (np.zeros(4096, dtype=np.float32), True, "positive integer"),
    ],
)
def test_invalid_input_raises(y, sr, match):
    with pytest.raises(ParameterError, match=match):
        summary_features(y, sr=sr)
