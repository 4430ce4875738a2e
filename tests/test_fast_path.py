"""The fast classify path computes the same thing as the librosa reference path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrecls.config import bundled_models_dir
from genrecls.fast_features import MelFrontEnd, fast_log_mel, front_end
from genrecls.features import DISPLAY_CONFIG, FeatureConfig, log_mel, mel_power
from genrecls.predict import GenrePredictor, warm_up
from genrecls.synth import drum_loop

#: Largest allowed difference of a log-mel value (logC units; the float16 rounding
#: musicnn applies before the log can move a value by one float16 step, ~2e-4 here).
FEATURE_ATOL = 2e-3
#: Largest allowed difference of any probability (segment or track level).
PROB_ATOL = 1e-3


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def chord_and_noise(seconds: float, *, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 3000.0))
    return (y + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("config", [FeatureConfig(), DISPLAY_CONFIG], ids=["musicnn", "display"])
@pytest.mark.parametrize("seconds", [0.1, 0.5, 3.0, 12.34])
@pytest.mark.parametrize("seed", [0, 1])
def test_features_match_librosa(config, seconds, seed):
    y = chord_and_noise(seconds, sr=config.sr, seed=seed)
    if len(y) < config.n_fft:
        pytest.skip("shorter than one FFT window: the predictor uses librosa there")
    ref = log_mel(y, config=config)
    fast = fast_log_mel(y, config=config)
    assert fast.shape == ref.shape and fast.dtype == np.float32
    atol = FEATURE_ATOL if config.compression == "logC" else 1e-2  # dB
    np.testing.assert_allclose(fast, ref, atol=atol, rtol=0)
    S_ref = mel_power(y, config=config)
    S_fast = front_end(config).mel_power(y)
    np.testing.assert_allclose(S_fast, S_ref, atol=1e-5 * S_ref.max(), rtol=0)


@pytest.mark.parametrize("block_frames", [1, 7, 64])
def test_blocks_do_not_change_the_result(block_frames):
    config = FeatureConfig()
    y = chord_and_noise(2.0, sr=config.sr, seed=3)
    whole = MelFrontEnd(config, block_frames=10**6).mel_power(y)
    blocked = MelFrontEnd(config, block_frames=block_frames).mel_power(y)
    np.testing.assert_allclose(blocked, whole, rtol=1e-5, atol=1e-6 * whole.max())


def test_front_end_is_cached_per_config():
    assert front_end(FeatureConfig()) is front_end(FeatureConfig())
    assert front_end(FeatureConfig()) is not front_end(DISPLAY_CONFIG)


def _model_paths():
    paths = [pytest.param("tiny", id="tiny")]
    for name in (
        "genre_model.pt",
        "genre_model_fast.pt",
        "genre_model_lite.pt",
        "genre_model_student.pt",
    ):
        path = bundled_models_dir() / name
        marks = () if path.is_file() else pytest.mark.skip(reason=f"{name} not built")
        paths.append(pytest.param(str(path), id=name, marks=marks))
    return paths


@pytest.fixture(params=_model_paths())
def predictors(request, tiny_model_path):
    path = tiny_model_path if request.param == "tiny" else request.param
    fast = GenrePredictor.from_file(path)
    return fast, fast.with_options(fast_features=False)


def _assert_same_prediction(fast: GenrePredictor, ref: GenrePredictor, y: np.ndarray) -> None:
    assert fast.fast_features and not ref.fast_features
    M_fast, M_ref = fast.spectrogram(y), ref.spectrogram(y)
    np.testing.assert_allclose(M_fast, M_ref, atol=FEATURE_ATOL, rtol=0)
    a, b = fast.predict_audio(y), ref.predict_audio(y)
    np.testing.assert_allclose(a.segment_probabilities, b.segment_probabilities, atol=PROB_ATOL)
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=PROB_ATOL)
    np.testing.assert_array_equal(a.segment_starts, b.segment_starts)


@pytest.mark.parametrize("seconds", [1.0, 9.5])
def test_fast_path_probabilities_match_reference_on_synthetic_clips(predictors, seconds):
    fast, ref = predictors
    sr = fast.feature_config.sr
    _assert_same_prediction(fast, ref, drum_loop(sr=sr, seconds=seconds))
    _assert_same_prediction(fast, ref, chord_and_noise(seconds, sr=sr, seed=5))


@pytest.mark.data
def test_fast_path_probabilities_match_reference_on_real_songs(predictors, shared_data):
    from genrecls.audio import load_audio

    fast, ref = predictors
    songs = sorted((shared_data / "nazar_full_songs").glob("*/*.mp3"))[:2]
    songs += sorted((shared_data / "gtzan_samples").glob("*/*.au"))[:2]
    if not songs:
        pytest.skip("no real songs in the shared data")
    for path in songs:
        y = load_audio(path, sr=fast.feature_config.sr, max_duration=15.0).samples
        _assert_same_prediction(fast, ref, y)


def test_short_clips_fall_back_to_the_reference(tiny_model_path):
    predictor = GenrePredictor.from_file(tiny_model_path)
    y = chord_and_noise(0.01, sr=16000, seed=0)  # 160 samples < n_fft
    np.testing.assert_array_equal(
        predictor.spectrogram(y), log_mel(y, config=predictor.feature_config)
    )


def test_warm_up_runs_the_whole_path(tiny_model_path):
    predictor = GenrePredictor.from_file(tiny_model_path)
    assert warm_up(predictor, seconds=3.5) > 0
    with pytest.raises(Exception, match="seconds"):
        warm_up(predictor, seconds=0)


def test_automatic_batch_size_follows_the_model_cost(tiny_model_path):
    from genrecls.models.cnn import count_macs
    from genrecls.predict import BATCH_MACS

    predictor = GenrePredictor.from_file(tiny_model_path)
    macs = count_macs(predictor.model, torch.zeros(1, 96, 187))
    assert predictor.batch_size == min(64, max(1, BATCH_MACS // macs))
    assert predictor.with_options(batch_size=3).batch_size == 3
    with pytest.raises(Exception, match="batch_size"):
        GenrePredictor.from_file(tiny_model_path, batch_size=0)


def test_chunked_grad_cam_equals_one_batch(tiny_model_path):
    from genrecls.explain import explain_track

    predictor = GenrePredictor.from_file(tiny_model_path, batch_size=64)
    M = predictor.spectrogram(drum_loop(sr=16000, seconds=20.0))
    whole = explain_track(predictor, M, target=2)
    chunked = explain_track(predictor.with_options(batch_size=3), M, target=2)
    np.testing.assert_allclose(chunked.saliency, whole.saliency, rtol=1e-4, atol=1e-6)
