import numpy as np
import pytest

from genrecls.exceptions import ParameterError
from genrecls.explain import explain_track, gradcam_layer_names, model_heard
from genrecls.predict import GenrePredictor
from genrecls.synth import drum_loop


@pytest.fixture
def predictor(tiny_model_path):
    return GenrePredictor.from_file(tiny_model_path)


@pytest.mark.parametrize("seconds", [1.0, 8.0])
def test_explanation_covers_the_track(predictor, seconds):
    y = drum_loop(sr=16000, seconds=seconds)
    M = predictor.spectrogram(y)
    exp = explain_track(predictor, M, target=3)
    assert exp.saliency.shape == M.shape
    assert np.all(exp.saliency >= 0)
    positive = exp.saliency[exp.saliency > 0]
    assert exp.scale == pytest.approx(float(np.percentile(positive, 99.0)), rel=1e-5)
    assert 0 < exp.scale <= float(exp.saliency.max())
    assert exp.layer == gradcam_layer_names(predictor)[-1]
    heard = model_heard(y, exp, predictor=predictor, keep_fraction=0.3)
    assert heard.shape == y.shape


def test_long_track_explains_only_analysed_segments(predictor):
    y = drum_loop(sr=16000, seconds=60.0)
    small = predictor.with_options(max_segments=4)
    M = small.spectrogram(y)
    exp = explain_track(small, M, target=0)
    assert exp.saliency.shape == M.shape


def test_unknown_layer_and_target_are_rejected(predictor):
    M = predictor.spectrogram(drum_loop(sr=16000, seconds=3.0))
    with pytest.raises(ParameterError, match="layer"):
        explain_track(predictor, M, target=0, layer="nope")
    with pytest.raises(ParameterError, match="target"):
        explain_track(predictor, M, target=99)
