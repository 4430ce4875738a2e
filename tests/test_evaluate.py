import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from genrecls.evaluate import (
    Evaluation,
    aggregate_segments,
    apply_temperature,
    confusion_figure_png,
    confusion_matrix,
    evaluate_predictions,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    softmax,
)
from genrecls.exceptions import ParameterError


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_hand_made_case():
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array(
        [
            [0.7, 0.2, 0.1],  # right
            [0.1, 0.6, 0.3],  # wrong (predicts 1)
            [0.2, 0.5, 0.3],  # right
            [0.5, 0.4, 0.1],  # wrong (predicts 0)
            [0.1, 0.1, 0.8],  # right
            [0.3, 0.3, 0.4],  # right
        ]
    )
    ev = evaluate_predictions(y, probs, labels=["a", "b", "c"])
    assert isinstance(ev, Evaluation)
    assert ev.n == 6
    assert ev.accuracy == pytest.approx(4 / 6)
    assert ev.top3_accuracy == 1.0
    assert ev.confusion.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert list(ev.per_class.index) == ["a", "b", "c"]
    assert ev.per_class.loc["c", "precision"] == 1.0
    assert ev.per_class.loc["a", "recall"] == 0.5
    assert ev.per_class["support"].tolist() == [2, 2, 2]
    pred = probs.argmax(axis=1)
    p, r, f, _ = precision_recall_fscore_support(y, pred, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose(ev.per_class["precision"], p)
    np.testing.assert_allclose(ev.per_class["recall"], r)
    np.testing.assert_allclose(ev.per_class["f1"], f)
    assert ev.macro_f1 == pytest.approx(f1_score(y, pred, average="macro"))
    nll = -np.mean(np.log(probs[np.arange(6), y]))
    assert ev.nll == pytest.approx(nll)
    assert set(ev.summary()) == {"accuracy", "top3_accuracy", "macro_f1", "nll", "ece", "n"}


def test_top3_with_many_classes():
    probs = np.full((2, 5), 0.1)
    probs[0] = [0.4, 0.3, 0.2, 0.05, 0.05]
    probs[1] = [0.4, 0.3, 0.2, 0.05, 0.05]
    ev = evaluate_predictions(np.array([2, 3]), probs, labels=list("abcde"))
    assert ev.accuracy == 0.0
    assert ev.top3_accuracy == 0.5


def test_macro_f1_matches_sklearn_random(rng):
    y = rng.integers(0, 6, 300)
    probs = softmax(rng.normal(size=(300, 6)) + 2.0 * np.eye(6)[y] * rng.random((300, 1)))
    ev = evaluate_predictions(y, probs, labels=[str(i) for i in range(6)])
    assert ev.macro_f1 == pytest.approx(f1_score(y, probs.argmax(1), average="macro"))
    assert ev.confusion.sum() == 300


def test_confusion_matrix_counts():
    cm = confusion_matrix(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1]), n_classes=4)
    assert cm.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]


def _calibrated_sample(rng, n, n_classes=4):
    """Predictions whose top-class probability is exactly the chance of being right."""
    conf = rng.uniform(1 / n_classes + 0.05, 1.0, n)
    probs = np.empty((n, n_classes))
    probs[:] = ((1 - conf) / (n_classes - 1))[:, None]
    top = rng.integers(0, n_classes, n)
    probs[np.arange(n), top] = conf
    right = rng.random(n) < conf
    other = (top + rng.integers(1, n_classes, n)) % n_classes
    y = np.where(right, top, other)
    return y, probs


def test_ece_of_calibrated_predictions_is_near_zero(rng):
    y, probs = _calibrated_sample(rng, 200_000)
    assert expected_calibration_error(y, probs) < 0.01


def test_ece_of_overconfident_predictions(rng):
    y, probs = _calibrated_sample(rng, 50_000)
    # always claim 99 % for the same top class: accuracy is ~0.6, so ECE ≈ 0.39
    sharp = np.full_like(probs, 0.01 / 3)
    sharp[np.arange(len(y)), probs.argmax(1)] = 0.99
    acc = np.mean(probs.argmax(1) == y)
    assert expected_calibration_error(y, sharp) == pytest.approx(0.99 - acc, abs=1e-9)


def test_ece_hand_computed():
    y = np.array([0, 1, 0, 1])
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    # bins: conf 0.9 (×2, acc 0.5), conf 0.6 (×2, acc 1.0)
    assert expected_calibration_error(y, probs) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    conf, acc, count = reliability_bins(y, probs, n_bins=10)
    assert count.sum() == 4
    assert count[8] == 2 and count[5] == 2  # (0.8, 0.9] and (0.5, 0.6]
    assert acc[8] == 0.5 and acc[5] == 1.0
    assert np.isnan(conf[0])


def _sample(rng, probs):
    """One class per row, drawn from that row's distribution."""
    u = rng.random(len(probs))[:, None]
    return np.minimum((np.cumsum(probs, axis=1) < u).sum(axis=1), probs.shape[1] - 1)


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_known_t(rng, true_t):
    n, k = 20_000, 5
    base = rng.normal(scale=2.0, size=(n, k))
    y = _sample(rng, softmax(base))
    logits = base * true_t  # the model is off by a factor true_t
    t = fit_temperature(logits, y)
    assert t == pytest.approx(true_t, rel=0.1)


def test_temperature_scaling_lowers_ece_and_nll(rng):
    n, k = 5000, 4
    base = rng.normal(scale=1.5, size=(n, k))
    y = _sample(rng, softmax(base))
    logits = 3.0 * base
    t = fit_temperature(logits, y)
    before = evaluate_predictions(y, softmax(logits), labels=list("abcd"))
    after = evaluate_predictions(y, apply_temperature(logits, t), labels=list("abcd"))
    assert after.ece < before.ece
    assert after.nll < before.nll
    assert after.accuracy == before.accuracy


def test_apply_temperature():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    np.testing.assert_allclose(apply_temperature(logits, 1.0), softmax(logits))
    soft = apply_temperature(logits, 4.0)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    assert (soft.argmax(1) == logits.argmax(1)).all()
    assert soft.max() < softmax(logits).max()
    with pytest.raises(ParameterError, match="temperature"):
        apply_temperature(logits, 0.0)


def test_aggregate_segments():
    p = np.array([[0.9, 0.1], [0.5, 0.5]])
    np.testing.assert_allclose(aggregate_segments(p, method="mean"), [0.7, 0.3])
    np.testing.assert_allclose(aggregate_segments(p, method="mean_log"), [0.75, 0.25])
    single = np.array([[0.2, 0.3, 0.5]])
    for method in ("mean", "mean_log"):
        np.testing.assert_allclose(aggregate_segments(single, method=method), single[0])


def test_geometric_mean_vetoes_a_class_ruled_out_once():
    p = np.array([[0.7, 0.3], [0.7, 0.3], [0.7, 0.3], [1e-6, 1.0 - 1e-6]])
    assert aggregate_segments(p, method="mean").argmax() == 0
    assert aggregate_segments(p, method="mean_log").argmax() == 1


def test_aggregate_handles_zero_probabilities():
    out = aggregate_segments(np.array([[1.0, 0.0], [1.0, 0.0]]))
    assert np.all(np.isfinite(out)) and out.sum() == pytest.approx(1.0)


def test_confusion_figure_png(tmp_path):
    cm = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 0]])
    path = confusion_figure_png(cm, labels=["rock", "jazz", "pop"], path=tmp_path / "cm.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1000


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: evaluate_predictions(np.array([0]), np.array([[0.5, 0.6]]), labels="ab"),
         "probability distributions"),
        (lambda: evaluate_predictions(np.array([0]), np.array([[0.5, 0.5]]), labels=["a"]),
         "labels given"),
        (lambda: evaluate_predictions(np.array([2]), np.array([[0.5, 0.5]]), labels="ab"),
         "y_true values"),
        (lambda: evaluate_predictions(np.array([0.0]), np.array([[0.5, 0.5]]), labels="ab"),
         "integer"),
        (lambda: evaluate_predictions(np.array([0, 1]), np.array([[0.5, 0.5]]), labels="ab"),
         "shape"),
        (lambda: expected_calibration_error(np.array([0]), np.array([[1.0, 0.0]]), n_bins=0),
         "n_bins"),
        (lambda: fit_temperature(np.array([[np.nan, 0.0]]), np.array([0])), "NaN"),
        (lambda: fit_temperature(np.zeros((2, 2)), np.array([0, 1]), bounds=(2, 1)), "bounds"),
        (lambda: aggregate_segments(np.array([[0.5, 0.5]]), method="max"), "method"),
        (lambda: aggregate_segments(np.zeros((0, 2))), "shape"),
        (lambda: confusion_figure_png(np.eye(2), labels=["a"], path="x.png"), "square"),
    ],
)  # fmt: skip
def test_invalid_inputs(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
