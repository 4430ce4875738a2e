import numpy as np
import pytest

from genrecls.config import bundled_models_dir
from genrecls.exceptions import ParameterError
from genrecls.explain import (
    classify_and_explain,
    explain_track,
    gradcam_layer_names,
    model_heard,
)
from genrecls.model_store import BUNDLED_FAST_FILE
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


def _same_as_separate(predictor, M):
    prediction, explanation = classify_and_explain(predictor, M, duration=M.shape[1] * 0.016)
    reference = predictor.predict_spectrogram(M, duration=M.shape[1] * 0.016)
    target = int(np.argmax(reference.probabilities))
    separate = explain_track(predictor, M, target=target)
    np.testing.assert_allclose(prediction.probabilities, reference.probabilities, atol=1e-5)
    np.testing.assert_allclose(
        prediction.segment_probabilities, reference.segment_probabilities, atol=1e-5
    )
    np.testing.assert_array_equal(prediction.segment_starts, reference.segment_starts)
    np.testing.assert_array_equal(prediction.segment_ends, reference.segment_ends)
    assert explanation.target == target and explanation.layer == separate.layer
    tol = 1e-4 * max(float(separate.saliency.max()), 1e-6)
    np.testing.assert_allclose(explanation.saliency, separate.saliency, atol=tol, rtol=1e-3)
    return prediction, explanation


def test_classify_and_explain_equals_classifying_then_explaining(predictor):
    """A model without a cheap Grad-CAM pass: classify first, explain the verdict after."""
    M = predictor.spectrogram(drum_loop(sr=16000, seconds=8.0))
    _same_as_separate(predictor, M)


def test_classify_and_explain_in_one_pass_with_the_fast_bundled_model():
    """musicnn explains from the forward pass that classifies (all segments at once)."""
    path = bundled_models_dir() / BUNDLED_FAST_FILE
    if not path.is_file():
        pytest.skip(f"{path} is not built (python -m genrecls compress)")
    fast = GenrePredictor.from_file(path)
    assert callable(getattr(fast.model, "gradcam_pass", None))
    M = fast.spectrogram(drum_loop(sr=16000, seconds=10.0))
    prediction, explanation = _same_as_separate(fast, M)
    assert len(prediction.segment_probabilities) > 2
    assert explanation.saliency.max() > 0
    # a long track: the spread of segments the predictor analyses, no others
    capped = fast.with_options(max_segments=2)
    prediction, _ = _same_as_separate(capped, M)
    assert len(prediction.segment_probabilities) == 2
