"""Evaluation of genre predictions: metrics, confusion matrix, calibration, aggregation.

Everything here works on plain numpy arrays of labels, probabilities or logits, so it
applies to any model and to any level (segments or whole tracks).

References
----------
.. [#] Naeini, M. P., Cooper, G. F. and Hauskrecht, M. (2015). "Obtaining Well
   Calibrated Probabilities Using Bayesian Binning." Proc. AAAI.
   https://doi.org/10.1609/aaai.v29i1.9602
.. [#] Guo, C., Pleiss, G., Sun, Y. and Weinberger, K. Q. (2017). "On Calibration of
   Modern Neural Networks." Proc. ICML. https://arxiv.org/abs/1706.04599
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from genrecls.exceptions import ParameterError

# pandas and scipy (optimize, special) load on first use: the classify path needs none of them
# (scipy.special alone took a quarter of a second to import, on the way to the first verdict)
if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Evaluation",
    "aggregate_segments",
    "apply_temperature",
    "confusion_figure_png",
    "confusion_matrix",
    "evaluate_predictions",
    "expected_calibration_error",
    "fit_temperature",
    "macro_f1",
    "reliability_bins",
    "softmax",
]

#: Probabilities are clipped to at least this before taking logs.
_EPS = 1e-12


# --------------------------------------------------------------------------------------
# validators


def _check_probs(probs: np.ndarray, *, name: str = "probs") -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ParameterError(f"{name} must have shape (n > 0, n_classes > 0), got {probs.shape}")
    if not np.all(np.isfinite(probs)):
        raise ParameterError(f"{name} contains NaN or infinite values")
    if np.any(probs < -1e-6) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ParameterError(f"{name} rows must be probability distributions (>= 0, sum 1)")
    return np.clip(probs, 0.0, 1.0)


def _check_logits(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ParameterError(f"logits must have shape (n > 0, n_classes > 0), got {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise ParameterError("logits contain NaN or infinite values")
    return logits


def _check_labels_for(y: np.ndarray, *, n: int, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ParameterError(f"y_true must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ParameterError(f"y_true must hold integer class indices, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ParameterError(
            f"y_true values must lie in [0, {n_classes}), got {y.min()}..{y.max()}"
        )
    return y.astype(np.int64)


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not np.isscalar(temperature):
        raise ParameterError(f"temperature must be a number, got {temperature!r}")
    temperature = float(temperature)
    if not (np.isfinite(temperature) and temperature > 0):
        raise ParameterError(f"temperature must be finite and > 0, got {temperature}")
    return temperature


# --------------------------------------------------------------------------------------
# basic transforms


def softmax(logits: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax.

    Parameters
    ----------
    logits : np.ndarray [shape=(..., n_classes)]
    axis : int
        Axis holding the classes.

    Returns
    -------
    probs : np.ndarray [shape=(..., n_classes)]
    """
    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(logits - np.max(logits, axis=axis, keepdims=True))
    return exp / np.sum(exp, axis=axis, keepdims=True)


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Turn logits into probabilities with temperature scaling.

    Parameters
    ----------
    logits : np.ndarray [shape=(n, n_classes)]
    temperature : float > 0
        ``> 1`` softens over-confident predictions; ``1`` is the plain softmax.

    Returns
    -------
    probs : np.ndarray [shape=(n, n_classes)]
        ``softmax(logits / temperature)``; the arg-max (hence accuracy) is unchanged.

    See Also
    --------
    fit_temperature
    """
    return softmax(_check_logits(logits) / _check_temperature(temperature))


# --------------------------------------------------------------------------------------
# metrics


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, *, n_classes: int) -> np.ndarray:
    """Count predictions per (true class, predicted class).

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,), dtype=int]
        Class indices in ``[0, n_classes)``.
    n_classes : int > 0

    Returns
    -------
    cm : np.ndarray [shape=(n_classes, n_classes), dtype=int64]
        ``cm[i, j]`` = examples of class ``i`` predicted as ``j`` (rows: truth).
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 1:
        raise ParameterError(f"n_classes must be a positive integer, got {n_classes!r}")
    y_true = _check_labels_for(y_true, n=len(np.asarray(y_true)), n_classes=n_classes)
    y_pred = _check_labels_for(y_pred, n=len(y_true), n_classes=n_classes)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def _per_class_from_confusion(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1


def macro_f1(cm: np.ndarray) -> float:
    """Unweighted mean over classes of the F1 score, from a confusion matrix.

    Classes absent from both the truth and the predictions are left out of the mean;
    a class with no correct prediction counts as F1 = 0.

    Parameters
    ----------
    cm : np.ndarray [shape=(n_classes, n_classes)]
        Confusion matrix (rows: truth).

    Returns
    -------
    f1 : float in [0, 1]
    """
    cm = np.asarray(cm)
    _, _, f1 = _per_class_from_confusion(cm)
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return float(f1[present].mean()) if present.any() else 0.0


def reliability_bins(
    y_true: np.ndarray, probs: np.ndarray, *, n_bins: int = 15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence, accuracy and count per equal-width confidence bin.

    The data of a reliability diagram: each example is put in the bin of its top-class
    probability (bins ``(0, 1/n_bins], ..., ((n_bins-1)/n_bins, 1]``).

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,), dtype=int]
    probs : np.ndarray [shape=(n, n_classes)]
    n_bins : int > 0

    Returns
    -------
    confidence : np.ndarray [shape=(n_bins,)]
        Mean top-class probability in each bin (NaN for an empty bin).
    accuracy : np.ndarray [shape=(n_bins,)]
        Fraction correct in each bin (NaN for an empty bin).
    count : np.ndarray [shape=(n_bins,), dtype=int]
    """
    probs = _check_probs(probs)
    y_true = _check_labels_for(y_true, n=probs.shape[0], n_classes=probs.shape[1])
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ParameterError(f"n_bins must be a positive integer, got {n_bins!r}")
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(np.float64)
    # bin b holds conf in (b/n_bins, (b+1)/n_bins]; conf == 0 (impossible for n_classes
    # >= 1 rows summing to 1) would go to bin 0.
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(idx, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return confidence, accuracy, count


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, *, n_bins: int = 15) -> float:
    """Expected calibration error (ECE) of the top-class probability.

    Naeini et al. (2015), in the form Guo et al. (2017) use: examples are grouped into
    ``n_bins`` equal-width bins of confidence (top-class probability), and
    ``ECE = sum_b (n_b / n) * |accuracy_b - confidence_b|``.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,), dtype=int]
        True class indices.
    probs : np.ndarray [shape=(n, n_classes)]
        Predicted class probabilities.
    n_bins : int > 0
        Number of confidence bins (15, as in Guo et al.).

    Returns
    -------
    ece : float in [0, 1]
        0 for perfectly calibrated predictions (up to sampling noise).
    """
    confidence, accuracy, count = reliability_bins(y_true, probs, n_bins=n_bins)
    filled = count > 0
    gaps = np.abs(accuracy[filled] - confidence[filled])
    return float(np.sum(count[filled] * gaps) / count.sum())


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Metrics of a set of predictions.

    Attributes
    ----------
    accuracy : float
        Fraction whose top class is right.
    top3_accuracy : float
        Fraction whose true class is among the three most probable (all of them when
        there are fewer than three classes).
    macro_f1 : float
        Unweighted mean of the per-class F1 scores.
    nll : float
        Mean negative log-likelihood of the true class (log loss, natural log).
    ece : float
        15-bin expected calibration error (:func:`expected_calibration_error`).
    per_class : pandas.DataFrame
        One row per label: ``precision``, ``recall``, ``f1``, ``support``.
    confusion : np.ndarray [shape=(n_classes, n_classes), dtype=int64]
        Rows: true class, columns: predicted class, in ``labels`` order.
    labels : tuple of str
        Class names.
    n : int
        Number of examples.
    """

    accuracy: float
    top3_accuracy: float
    macro_f1: float
    nll: float
    ece: float
    per_class: pd.DataFrame
    confusion: np.ndarray
    labels: tuple[str, ...]
    n: int

    def summary(self) -> dict[str, float]:
        """Return the scalar metrics as a plain dict (for logs and model cards)."""
        return {
            "accuracy": self.accuracy,
            "top3_accuracy": self.top3_accuracy,
            "macro_f1": self.macro_f1,
            "nll": self.nll,
            "ece": self.ece,
            "n": self.n,
        }


def evaluate_predictions(
    y_true: np.ndarray, probs: np.ndarray, *, labels: Sequence[str]
) -> Evaluation:
    """Compute accuracy, top-3 accuracy, macro-F1, log loss, ECE and the confusion matrix.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,), dtype=int]
        True class indices into ``labels``.
    probs : np.ndarray [shape=(n, n_classes)]
        Predicted probabilities (rows sum to 1), columns in ``labels`` order.
    labels : sequence of str [shape=(n_classes,)]
        Class names.

    Returns
    -------
    evaluation : Evaluation

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> ev = evaluate_predictions(np.array([0, 1, 1]), probs, labels=["a", "b"])
    >>> round(ev.accuracy, 3), ev.confusion.tolist()
    (0.667, [[1, 0], [1, 1]])
    """
    probs = _check_probs(probs)
    n, n_classes = probs.shape
    labels = tuple(labels)
    if len(labels) != n_classes:
        raise ParameterError(f"{len(labels)} labels given for {n_classes} probability columns")
    y_true = _check_labels_for(y_true, n=n, n_classes=n_classes)
    y_pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, n_classes=n_classes)
    precision, recall, f1 = _per_class_from_confusion(cm)
    import pandas as pd

    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": cm.sum(axis=1)},
        index=pd.Index(labels, name="label"),
    )
    k = min(3, n_classes)
    topk = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    top3 = float(np.mean(np.any(topk == y_true[:, None], axis=1)))
    nll = float(-np.mean(np.log(np.maximum(probs[np.arange(n), y_true], _EPS))))
    return Evaluation(
        accuracy=float(np.mean(y_pred == y_true)),
        top3_accuracy=top3,
        macro_f1=macro_f1(cm),
        nll=nll,
        ece=expected_calibration_error(y_true, probs),
        per_class=per_class,
        confusion=cm,
        labels=labels,
        n=n,
    )


# --------------------------------------------------------------------------------------
# calibration


def fit_temperature(
    logits: np.ndarray, y: np.ndarray, *, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """Fit the softmax temperature that minimises the validation log loss.

    Temperature scaling (Guo et al., 2017): one scalar ``T`` divides all logits; it
    changes confidence but never the predicted class. The negative log-likelihood is
    convex in ``1 / T``, hence unimodal in ``log T``, so a bounded 1-D Brent search on
    ``log T`` finds the optimum.

    Parameters
    ----------
    logits : np.ndarray [shape=(n, n_classes)]
        Held-out logits (not the training set's).
    y : np.ndarray [shape=(n,), dtype=int]
        True class indices.
    bounds : (float > 0, float > 0)
        Search interval for ``T``.

    Returns
    -------
    temperature : float
        Fitted ``T`` (``> 1`` means the model was over-confident).

    See Also
    --------
    apply_temperature, expected_calibration_error
    """
    logits = _check_logits(logits)
    y = _check_labels_for(y, n=logits.shape[0], n_classes=logits.shape[1])
    lo, hi = (float(b) for b in bounds)
    if not 0 < lo < hi or not np.isfinite(hi):
        raise ParameterError(f"bounds must satisfy 0 < low < high < inf, got {bounds}")
    rows = np.arange(len(y))
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    def nll(log_t: float) -> float:
        return float(-np.mean(log_softmax(logits / np.exp(log_t), axis=1)[rows, y]))

    result = minimize_scalar(
        nll, bounds=(np.log(lo), np.log(hi)), method="bounded", options={"xatol": 1e-5}
    )
    return float(np.exp(result.x))


# --------------------------------------------------------------------------------------
# track-level aggregation


def aggregate_segments(
    probs_per_segment: np.ndarray, *, method: Literal["mean_log", "mean"] = "mean_log"
) -> np.ndarray:
    """Combine segment probabilities into one track-level distribution.

    Parameters
    ----------
    probs_per_segment : np.ndarray [shape=(n_segments, n_classes)]
        Class probabilities of each segment of one track.
    method : {"mean_log", "mean"}
        ``"mean_log"`` (default): average the log-probabilities, then renormalise
        (softmax) — the normalised geometric mean, a product of experts. A genre must be
        plausible in every segment to win; one confident outlier segment cannot carry
        the track, but one segment that rules a class out (probability near 0) pulls
        it down hard (log-probabilities are floored at ``log(1e-12)``).
        ``"mean"``: arithmetic mean of the probabilities — a mixture; more forgiving of
        segments that disagree (an intro, a break), and already normalised.

    Returns
    -------
    probs : np.ndarray [shape=(n_classes,)]
        Track-level probabilities, summing to 1.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.5, 0.5]])
    >>> aggregate_segments(p, method="mean").round(3).tolist()
    [0.7, 0.3]
    >>> aggregate_segments(p, method="mean_log").round(3).tolist()
    [0.75, 0.25]
    """
    probs = _check_probs(probs_per_segment, name="probs_per_segment")
    if method == "mean":
        out = probs.mean(axis=0)
        return out / out.sum()
    if method == "mean_log":
        return softmax(np.log(np.maximum(probs, _EPS)).mean(axis=0))
    raise ParameterError(f"method must be 'mean_log' or 'mean', got {method!r}")


# --------------------------------------------------------------------------------------
# figure


def confusion_figure_png(
    cm: np.ndarray,
    *,
    labels: Sequence[str],
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Draw a confusion matrix to a PNG file.

    Cell colour is the row-normalised rate (recall of the true class, 0–1) so classes of
    different sizes compare; the text in each cell is the raw count.

    Parameters
    ----------
    cm : np.ndarray [shape=(n_classes, n_classes)]
        Counts, rows = true class, columns = predicted class.
    labels : sequence of str [shape=(n_classes,)]
        Class names.
    path : str or os.PathLike
        Output PNG file (its folder must exist).
    title : str or None
        Optional figure title.

    Returns
    -------
    path : pathlib.Path
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cm = np.asarray(cm)
    labels = list(labels)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(labels):
        raise ParameterError(
            f"cm must be square with one row per label ({len(labels)}), got {cm.shape}"
        )
    if np.any(cm < 0):
        raise ParameterError("cm holds negative counts")
    k = len(labels)
    row_sums = cm.sum(axis=1, keepdims=True)
    rates = np.divide(cm, row_sums, out=np.zeros(cm.shape), where=row_sums > 0)

    size = max(4.0, 0.55 * k + 2.0)
    fig = Figure(figsize=(size + 1.0, size), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(k), labels=labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                colour = "white" if rates[i, j] > 0.5 else "black"
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", color=colour)
    path = Path(path)
    fig.savefig(path, format="png")
    return path
