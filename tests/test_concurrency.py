"""Many users share one model object (the app caches it with ``st.cache_resource``).

Concurrent sessions run in threads of one server process and call the same predictor at
the same time; their results must be exactly what each would get alone.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from genrecls.explain import default_layer_name, explain_track
from genrecls.predict import GenrePredictor
from genrecls.saliency import grad_cam
from genrecls.synth import band_noise, bass_line, chord_progression, drum_loop, piano_melody

SR = 16000


def _clips() -> list[np.ndarray]:
    s = 4.0
    return [
        drum_loop(sr=SR, seconds=s, seed=1),
        chord_progression(sr=SR, seconds=s, seed=2),
        piano_melody(sr=SR, seconds=s, seed=3),
        bass_line(sr=SR, seconds=s, seed=4),
        band_noise(sr=SR, seconds=s, low_hz=200, high_hz=3000, seed=5),
        0.5 * drum_loop(sr=SR, seconds=s, seed=6) + 0.5 * piano_melody(sr=SR, seconds=s, seed=6),
    ]


@pytest.fixture(scope="module")
def predictor(tiny_model_path) -> GenrePredictor:
    return GenrePredictor.from_file(tiny_model_path)


@pytest.fixture(autouse=True)
def _one_thread_each():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_concurrent_predictions_equal_serial_ones(predictor):
    """Six sessions classify different clips at once, three times over: no mixing."""
    clips = _clips()
    serial = [predictor.predict_audio(y).probabilities for y in clips]
    barrier = threading.Barrier(len(clips))

    def run(i: int) -> np.ndarray:
        barrier.wait(timeout=30) if i < len(clips) else None
        return predictor.predict_audio(clips[i % len(clips)]).probabilities

    with ThreadPoolExecutor(len(clips)) as pool:
        results = list(pool.map(run, range(3 * len(clips))))
    for i, probs in enumerate(results):
        np.testing.assert_allclose(probs, serial[i % len(clips)], rtol=1e-5, atol=1e-6)


def test_gradcam_is_not_disturbed_by_another_sessions_forward_pass(predictor):
    """A forward pass of another thread in the middle of Grad-CAM does not reach its hook."""
    M = predictor.spectrogram(_clips()[0])
    layer = default_layer_name(predictor)
    alone = explain_track(predictor, M, target=0, layer=layer)
    other = predictor.spectrogram(_clips()[1])
    module = dict(predictor.model.named_modules())[layer]
    owner, fired = threading.get_ident(), []

    def another_session_runs_now(_module, _inputs):
        if threading.get_ident() == owner and not fired:
            fired.append(True)
            t = threading.Thread(target=predictor.predict_spectrogram, args=(other,))
            t.start()
            t.join(timeout=60)

    handle = module.register_forward_pre_hook(another_session_runs_now)
    try:
        together = explain_track(predictor, M, target=0, layer=layer)
    finally:
        handle.remove()
    assert fired
    np.testing.assert_allclose(together.saliency, alone.saliency, rtol=1e-5, atol=1e-6)


def test_concurrent_gradcam_maps_equal_serial_ones(predictor):
    """Sessions explaining different clips at once get their own maps."""
    clips = _clips()
    layer = default_layer_name(predictor)
    spectrograms = [predictor.spectrogram(y) for y in clips]
    serial = [explain_track(predictor, M, target=1, layer=layer).saliency for M in spectrograms]
    barrier = threading.Barrier(len(clips))

    def run(i: int):
        barrier.wait(timeout=30)
        return explain_track(predictor, spectrograms[i], target=1, layer=layer).saliency

    with ThreadPoolExecutor(len(clips)) as pool:
        results = list(pool.map(run, range(len(clips))))
    for got, want in zip(results, serial, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_grad_cam_direct_call_matches_after_concurrent_use(predictor):
    """The shared model is left clean: no hook survives a concurrent run."""
    module = dict(predictor.model.named_modules())[default_layer_name(predictor)]
    assert not module._forward_hooks and not module._forward_pre_hooks
    segments = np.random.default_rng(0).normal(size=(2, 96, 187)).astype(np.float32)
    a = grad_cam(predictor.model, segments, layer=default_layer_name(predictor), target=0)
    b = grad_cam(predictor.model, segments, layer=default_layer_name(predictor), target=0)
    np.testing.assert_allclose(a.maps, b.maps)
