"""A scikit-learn baseline on the 57 Kaggle GTZAN summary features, and its evaluation.

The model is a standardised multinomial logistic regression (:class:`FeatureBaseline`). It
is trained on the rows of the Kaggle ``features_30_sec.csv`` table that belong to the
fault-filtered, artist-disjoint GTZAN split, and predicts a genre for any audio through
:func:`genrecls.summary_features.summary_features`, which reproduces the table's columns.

The fitted model is saved as two small files, with no pickle anywhere: ``<name>.npz``
(the arrays, read with ``allow_pickle=False``) and ``<name>.json`` (classes, feature names,
hyper-parameters, training notes and the SHA-256 of the ``.npz``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    f1_score,
    top_k_accuracy_score,
)
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from genrecls.config import GENRES, data_dir
from genrecls.exceptions import DataError, ModelError, ParameterError
from genrecls.summary_features import SUMMARY_FEATURE_NAMES, summary_feature_vector

__all__ = [
    "FEATURE_TABLE_PATH",
    "SPLIT_DIR",
    "SPLIT_NAMES",
    "TABLE_SR",
    "FeatureBaseline",
    "load_gtzan_feature_table",
    "load_fault_filtered_lists",
    "split_by_fault_filtered_lists",
    "random_stratified_split",
    "table_arrays",
    "default_candidates",
    "select_on_valid",
    "evaluate_predictions",
    "feature_permutation_importance",
    "random_split_scores",
    "predict_clip",
]

#: The Kaggle feature table, relative to :func:`genrecls.config.data_dir`.
FEATURE_TABLE_PATH = Path("gtzan_kaggle") / "features_30_sec.csv"

#: Folder of the fault-filtered split lists, relative to :func:`genrecls.config.data_dir`.
SPLIT_DIR = Path("splits") / "gtzan"

#: The three lists of the fault-filtered split, files ``<name>_filtered.txt``.
SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")

#: Sample rate (Hz) of the audio the table was computed from; the model expects it.
TABLE_SR: int = 22050

_FORMAT = "genrecls.feature_baseline"
_FORMAT_VERSION = 1
_ARRAYS = ("mean", "scale", "coef", "intercept")


# --------------------------------------------------------------------------- data


def _stem(name: str) -> str:
    """``'blues/blues.00029.wav'`` -> ``'blues.00029'``; a stem is returned unchanged."""
    base = name.strip().replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    return stem if dot and ext.isalpha() else base  # '00029' is a track number, not an extension


def load_gtzan_feature_table(*, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read the Kaggle GTZAN 30-second feature table.

    Parameters
    ----------
    path : str, os.PathLike or None
        CSV file; None reads ``data_dir() / FEATURE_TABLE_PATH``.

    Returns
    -------
    table : pandas.DataFrame [shape=(n, 61)]
        Columns ``filename``, ``length``, the 57 :data:`SUMMARY_FEATURE_NAMES` (float64),
        ``label`` (one of :data:`genrecls.config.GENRES`) and ``track``, the file stem
        (``'blues.00029'``) that names the track in every split list.

    Raises
    ------
    DataError
        If the file is missing, a column is missing, a feature is not a finite number, a
        label is not a GTZAN genre, or a track appears twice.
    """
    path = Path(path) if path is not None else data_dir() / FEATURE_TABLE_PATH
    if not path.is_file():
        raise DataError(f"feature table not found: {path}")
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the feature table {path}: {exc}") from exc
    required = ["filename", "length", *SUMMARY_FEATURE_NAMES, "label"]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(f"{path.name} lacks the column(s) {missing[:5]}")
    table = table[required].copy()
    try:
        table[list(SUMMARY_FEATURE_NAMES)] = table[list(SUMMARY_FEATURE_NAMES)].astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path.name}: a feature column is not numeric ({exc})") from exc
    values = table[list(SUMMARY_FEATURE_NAMES)].to_numpy()
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).any(axis=1).sum())
        raise DataError(f"{path.name}: {bad} row(s) hold NaN or infinite features")
    table["label"] = table["label"].astype(str).str.strip()
    unknown = sorted(set(table["label"]) - set(GENRES))
    if unknown:
        raise DataError(f"{path.name}: labels {unknown[:5]} are not GTZAN genres")
    table["track"] = table["filename"].astype(str).map(_stem)
    dupes = table["track"][table["track"].duplicated()].unique().tolist()
    if dupes:
        raise DataError(f"{path.name}: track(s) {dupes[:5]} appear more than once")
    return table.reset_index(drop=True)


def load_fault_filtered_lists(
    *, split_dir: str | os.PathLike | None = None
) -> dict[str, tuple[str, ...]]:
    """Read the fault-filtered GTZAN split lists as track stems.

    Parameters
    ----------
    split_dir : str, os.PathLike or None
        Folder holding ``train_filtered.txt``, ``valid_filtered.txt`` and
        ``test_filtered.txt`` (lines like ``blues/blues.00029.wav``); None reads
        ``data_dir() / SPLIT_DIR``.

    Returns
    -------
    lists : dict[str, tuple[str, ...]]
        ``{"train": (...), "valid": (...), "test": (...)}``, stems in file order.

    Raises
    ------
    DataError
        If a list is missing, or a track is listed twice or in two lists.
    """
    folder = Path(split_dir) if split_dir is not None else data_dir() / SPLIT_DIR
    lists: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for name in SPLIT_NAMES:
        path = folder / f"{name}_filtered.txt"
        if not path.is_file():
            raise DataError(f"split list not found: {path}")
        stems = [_stem(line) for line in path.read_text().splitlines() if line.strip()]
        for stem in stems:
            if stem in seen:
                raise DataError(
                    f"track {stem!r} is listed in both {seen[stem]!r} and {name!r}"
                    if seen[stem] != name
                    else f"track {stem!r} is listed twice in {path.name}"
                )
            seen[stem] = name
        lists[name] = tuple(stems)
    return lists


def split_by_fault_filtered_lists(
    table: pd.DataFrame,
    *,
    split_dir: str | os.PathLike | None = None,
    lists: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Split the feature table by the fault-filtered, artist-disjoint GTZAN lists.

    Tracks the lists leave out (the faulty ones: repetitions, distortions and
    mislabellings found by Sturm) are dropped.

    Parameters
    ----------
    table : pandas.DataFrame
        A table from :func:`load_gtzan_feature_table` (needs a ``track`` column).
    split_dir : str, os.PathLike or None
        Where the lists are; see :func:`load_fault_filtered_lists`.
    lists : mapping of str to sequence of str, or None
        Lists already read (keys ``train``, ``valid``, ``test``; stems or list lines);
        overrides ``split_dir``.

    Returns
    -------
    splits : dict[str, pandas.DataFrame]
        ``{"train": ..., "valid": ..., "test": ...}``, rows in list order. No track is in
        two of them.

    Raises
    ------
    DataError
        If a listed track is not in the table, or a track is in two lists.
    """
    if "track" not in table.columns:
        raise ParameterError("table has no 'track' column; use load_gtzan_feature_table")
    if lists is None:
        lists = load_fault_filtered_lists(split_dir=split_dir)
    stems = {name: [_stem(s) for s in lists.get(name, ())] for name in SPLIT_NAMES}
    owner: dict[str, str] = {}
    for name, names in stems.items():
        for stem in names:
            if stem in owner and owner[stem] != name:
                raise DataError(f"track {stem!r} is in both {owner[stem]!r} and {name!r}")
            owner[stem] = name
    indexed = table.set_index("track", drop=False)
    absent = [s for s in owner if s not in indexed.index]
    if absent:
        raise DataError(f"{len(absent)} listed track(s) are not in the table, e.g. {absent[:3]}")
    return {name: indexed.loc[names].reset_index(drop=True) for name, names in stems.items()}


def random_stratified_split(
    table: pd.DataFrame, *, test_size: int | float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split table rows at random, stratified by label (what most GTZAN notebooks do).

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with a ``label`` column.
    test_size : int > 0 or float in (0, 1)
        Number (or fraction) of test rows.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    train, test : pandas.DataFrame
        Disjoint row sets whose label proportions match the table's.
    """
    train, test = train_test_split(
        table, test_size=test_size, stratify=table["label"], random_state=seed
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def table_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return the feature matrix and the labels of table rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows with the 57 :data:`SUMMARY_FEATURE_NAMES` columns and ``label``.

    Returns
    -------
    X : np.ndarray [shape=(n, 57)], float64
        Features in :data:`SUMMARY_FEATURE_NAMES` order.
    y : np.ndarray [shape=(n,)], str
        Genre labels.
    """
    X = frame[list(SUMMARY_FEATURE_NAMES)].to_numpy(dtype=np.float64)
    y = frame["label"].to_numpy(dtype=str)
    return X, y


# -------------------------------------------------------------------------- model


def _valid_c(C: float) -> float:
    if isinstance(C, bool) or not isinstance(C, int | float) or not math.isfinite(C) or C <= 0:
        raise ParameterError(f"C must be a finite number > 0, got {C!r}")
    return float(C)


def _check_matrix(X: Any, n_features: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[np.newaxis, :]
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ParameterError(f"X must have shape (n, {n_features}), got {X.shape}")
    if not np.isfinite(X).all():
        raise ParameterError("X contains NaN or infinite values")
    return X


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FeatureBaseline(ClassifierMixin, BaseEstimator):
    """Standardised multinomial logistic regression on clip-level summary features.

    The classic GTZAN recipe of Tzanetakis and Cook [#]_: a few timbral, rhythmic and pitch
    statistics summarised over a whole clip, fed to a shallow classifier. Here the features
    are the 57 columns of the Kaggle table and the classifier is a logistic regression on
    z-scored features. Its fitted state is four arrays, so it is saved without pickle.

    Parameters
    ----------
    C : float > 0
        Inverse L2 regularisation strength of the logistic regression.
    max_iter : int > 0
        Iterations of the L-BFGS solver.
    feature_names : sequence of str
        Names of the columns of ``X``; saved with the model and checked on load.

    Attributes
    ----------
    classes_ : np.ndarray [shape=(n_classes,)], str
        Sorted class labels.
    mean_, scale_ : np.ndarray [shape=(n_features,)]
        Standardisation of each feature.
    coef_ : np.ndarray [shape=(n_classes, n_features)]
        Weights on the standardised features.
    intercept_ : np.ndarray [shape=(n_classes,)]
        Bias of each class.

    References
    ----------
    .. [#] G. Tzanetakis and P. Cook, "Musical genre classification of audio signals",
       IEEE Transactions on Speech and Audio Processing 10(5), 293-302, 2002.
       https://doi.org/10.1109/TSA.2002.800560
    """

    def __init__(
        self,
        C: float = 0.01,
        max_iter: int = 5000,
        feature_names: Sequence[str] = SUMMARY_FEATURE_NAMES,
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.feature_names = feature_names

    def _pipeline(self) -> Pipeline:
        return Pipeline(
            [
                ("scale", StandardScaler()),
                ("logreg", LogisticRegression(C=_valid_c(self.C), max_iter=int(self.max_iter))),
            ]
        )

    def fit(self, X: np.ndarray, y: Sequence[str]) -> FeatureBaseline:
        """Fit the scaler and the logistic regression.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_features)]
            Finite features, columns in ``feature_names`` order.
        y : sequence of str [shape=(n,)]
            Labels; at least two classes.

        Returns
        -------
        self : FeatureBaseline
        """
        X = _check_matrix(X, len(self.feature_names))
        y = np.asarray(y, dtype=str)
        if y.shape != (X.shape[0],):
            raise ParameterError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        if len(np.unique(y)) < 2:
            raise ParameterError("y must hold at least two classes")
        pipe = self._pipeline().fit(X, y)
        scaler, logreg = pipe.named_steps["scale"], pipe.named_steps["logreg"]
        self.classes_ = np.asarray(logreg.classes_, dtype=str)
        self.mean_ = np.asarray(scaler.mean_, dtype=np.float64)
        self.scale_ = np.asarray(scaler.scale_, dtype=np.float64)
        coef = np.asarray(logreg.coef_, dtype=np.float64)
        intercept = np.asarray(logreg.intercept_, dtype=np.float64)
        if len(self.classes_) == 2:  # binary: one row of weights -> two symmetric logits
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        self.coef_, self.intercept_ = coef, intercept
        self.n_features_in_ = X.shape[1]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ModelError("the FeatureBaseline is not fitted; call fit() or load()")

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Return the class logits.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_features) or (n_features,)]
            Features in ``feature_names`` order.

        Returns
        -------
        logits : np.ndarray [shape=(n, n_classes)]
        """
        self._check_fitted()
        X = _check_matrix(X, self.coef_.shape[1])
        return ((X - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return class probabilities (softmax of the logits).

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_features) or (n_features,)]
            Features in ``feature_names`` order.

        Returns
        -------
        proba : np.ndarray [shape=(n, n_classes)]
            Rows sum to 1; columns follow ``classes_``.
        """
        logits = self.decision_function(X)
        logits = logits - logits.max(axis=1, keepdims=True)
        expo = np.exp(logits)
        return expo / expo.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return the most probable label of each row.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_features) or (n_features,)]
            Features in ``feature_names`` order.

        Returns
        -------
        labels : np.ndarray [shape=(n,)], str
        """
        logits = self.decision_function(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def save(
        self, path: str | os.PathLike, *, metadata: Mapping[str, Any] | None = None
    ) -> tuple[Path, Path]:
        """Write the model as ``<stem>.npz`` (arrays) and ``<stem>.json`` (description).

        Parameters
        ----------
        path : str or os.PathLike
            Target path; its suffix is replaced by ``.npz`` and ``.json``.
        metadata : mapping or None
            Extra JSON-serialisable notes stored under ``"metadata"`` (training data,
            scores, ...).

        Returns
        -------
        npz_path, json_path : pathlib.Path
        """
        self._check_fitted()
        path = Path(path)
        npz_path, json_path = path.with_suffix(".npz"), path.with_suffix(".json")
        npz_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            npz_path,
            mean=self.mean_,
            scale=self.scale_,
            coef=self.coef_,
            intercept=self.intercept_,
        )
        doc = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "model": "StandardScaler + multinomial LogisticRegression (L2, lbfgs)",
            "params": {"C": float(self.C), "max_iter": int(self.max_iter)},
            "classes": [str(c) for c in self.classes_],
            "feature_names": list(self.feature_names),
            "arrays": {
                "file": npz_path.name,
                "sha256": _sha256(npz_path),
                "names": list(_ARRAYS),
            },
            "sklearn_version": sklearn.__version__,
            "metadata": dict(metadata or {}),
        }
        json_path.write_text(json.dumps(doc, indent=2) + "\n")
        return npz_path, json_path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureBaseline:
        """Load a model written by :meth:`save`, checking its integrity.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.npz`` or ``.json`` file (or their common stem).

        Returns
        -------
        model : FeatureBaseline
            Fitted; ``model.metadata_`` holds the saved description.

        Raises
        ------
        ModelError
            If a file is missing, is not a genrecls feature baseline, was modified after
            saving (hash mismatch), or holds arrays of inconsistent shapes.
        """
        path = Path(path)
        npz_path, json_path = path.with_suffix(".npz"), path.with_suffix(".json")
        for p in (npz_path, json_path):
            if not p.is_file():
                raise ModelError(f"model file not found: {p}")
        try:
            doc = json.loads(json_path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{json_path.name} is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ModelError(f"{json_path.name} does not describe a genrecls feature baseline")
        if doc.get("format_version") != _FORMAT_VERSION:
            raise ModelError(
                f"{json_path.name} has format version {doc.get('format_version')!r}; "
                f"this genrecls reads version {_FORMAT_VERSION}"
            )
        try:
            expected = doc["arrays"]["sha256"]
            classes = [str(c) for c in doc["classes"]]
            names = [str(n) for n in doc["feature_names"]]
            params = doc["params"]
            model = cls(C=float(params["C"]), max_iter=int(params["max_iter"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{json_path.name} lacks a field: {exc}") from exc
        if _sha256(npz_path) != expected:
            raise ModelError(f"{npz_path.name} does not match the hash in {json_path.name}")
        try:
            with np.load(npz_path, allow_pickle=False) as arrays:
                loaded = {k: np.asarray(arrays[k], dtype=np.float64) for k in _ARRAYS}
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot read {npz_path.name}: {exc}") from exc
        n_classes, n_features = len(classes), len(names)
        shapes = {
            "mean": (n_features,),
            "scale": (n_features,),
            "coef": (n_classes, n_features),
            "intercept": (n_classes,),
        }
        for key, shape in shapes.items():
            if loaded[key].shape != shape or not np.isfinite(loaded[key]).all():
                raise ModelError(
                    f"{npz_path.name}: array {key!r} has shape {loaded[key].shape}, "
                    f"expected {shape} of finite values"
                )
        if not (loaded["scale"] > 0).all():
            raise ModelError(f"{npz_path.name}: the feature scales must be > 0")
        model.feature_names = tuple(names)
        model.classes_ = np.asarray(classes, dtype=str)
        model.mean_, model.scale_ = loaded["mean"], loaded["scale"]
        model.coef_, model.intercept_ = loaded["coef"], loaded["intercept"]
        model.n_features_in_ = n_features
        model.metadata_ = doc
        return model


def default_candidates() -> dict[str, BaseEstimator]:
    """Return the model families compared on the validation split.

    Returns
    -------
    candidates : dict[str, sklearn estimator]
        Name -> unfitted estimator: logistic regression over a grid of ``C``
        (``logreg C=...``), RBF and linear SVMs, random forests and one histogram gradient
        boosting model, each behind a ``StandardScaler``.
    """
    cands: dict[str, BaseEstimator] = {}
    for C in (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
        cands[f"logreg C={C:g}"] = FeatureBaseline(C=C)
    for C in (1.0, 3.0, 10.0, 30.0):
        for gamma in ("scale", 0.003, 0.01, 0.03):
            cands[f"svm-rbf C={C:g} gamma={gamma}"] = Pipeline(
                [("scale", StandardScaler()), ("svc", SVC(C=C, gamma=gamma))]
            )
    for C in (0.01, 0.1, 1.0):
        cands[f"svm-linear C={C:g}"] = Pipeline(
            [("scale", StandardScaler()), ("svc", SVC(kernel="linear", C=C))]
        )
    for leaf in (1, 3):
        cands[f"random-forest min_samples_leaf={leaf}"] = RandomForestClassifier(
            n_estimators=500, min_samples_leaf=leaf, random_state=0, n_jobs=1
        )
    cands["hist-gradient-boosting lr=0.1"] = HistGradientBoostingClassifier(
        learning_rate=0.1, max_iter=200, early_stopping=False, random_state=0
    )
    return cands


def select_on_valid(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    *,
    candidates: Mapping[str, BaseEstimator] | None = None,
) -> list[dict[str, Any]]:
    """Fit each candidate on ``train`` and score it on ``valid``.

    Parameters
    ----------
    train, valid : pandas.DataFrame
        Table rows (see :func:`table_arrays`).
    candidates : mapping of str to estimator, or None
        Unfitted estimators; None uses :func:`default_candidates`.

    Returns
    -------
    results : list of dict
        One ``{"name", "valid_accuracy", "valid_macro_f1"}`` per candidate, best first
        (ties keep the candidates' order).
    """
    candidates = default_candidates() if candidates is None else candidates
    X_tr, y_tr = table_arrays(train)
    X_va, y_va = table_arrays(valid)
    results = []
    for name, est in candidates.items():
        pred = clone(est).fit(X_tr, y_tr).predict(X_va)
        results.append(
            {
                "name": name,
                "valid_accuracy": float(accuracy_score(y_va, pred)),
                "valid_macro_f1": float(f1_score(y_va, pred, average="macro", zero_division=0)),
            }
        )
    return sorted(results, key=lambda r: -r["valid_accuracy"])


# --------------------------------------------------------------------- evaluation


def evaluate_predictions(
    y_true: Sequence[str], proba: np.ndarray, *, classes: Sequence[str]
) -> dict[str, Any]:
    """Score class probabilities against true labels.

    Parameters
    ----------
    y_true : sequence of str [shape=(n,)]
        True labels, each in ``classes``.
    proba : np.ndarray [shape=(n, n_classes)]
        Scores; columns follow ``classes``.
    classes : sequence of str [shape=(n_classes,)]
        Class names, in column order.

    Returns
    -------
    report : dict
        ``n``, ``accuracy`` (top-1), ``top3_accuracy``, ``macro_f1``, ``per_class``
        (precision / recall / F1 / support from
        :func:`sklearn.metrics.classification_report`), ``classes`` and
        ``confusion_matrix`` (list of rows: true class, columns: predicted class, both in
        ``classes`` order).
    """
    classes = [str(c) for c in classes]
    y_true = np.asarray(y_true, dtype=str)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape != (len(y_true), len(classes)):
        raise ParameterError(
            f"proba must have shape ({len(y_true)}, {len(classes)}), got {proba.shape}"
        )
    unknown = sorted(set(y_true) - set(classes))
    if unknown:
        raise ParameterError(f"labels {unknown[:5]} are not among the classes")
    y_pred = np.asarray(classes)[np.argmax(proba, axis=1)]
    if len(classes) > 3:  # sklearn wants the label columns sorted
        order = np.argsort(classes)
        top3 = top_k_accuracy_score(y_true, proba[:, order], k=3, labels=np.asarray(classes)[order])
    else:  # three classes or fewer: the true one is always among the top 3
        top3 = 1.0
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "top3_accuracy": float(top3),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)
        ),
        "per_class": classification_report(
            y_true, y_pred, labels=classes, output_dict=True, zero_division=0
        ),
        "classes": classes,
        "confusion_matrix": sk_confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def feature_permutation_importance(
    model: BaseEstimator,
    X: np.ndarray,
    y: Sequence[str],
    *,
    feature_names: Sequence[str] = SUMMARY_FEATURE_NAMES,
    n_repeats: int = 30,
    seed: int = 0,
) -> pd.DataFrame:
    """Drop in accuracy when each feature column is shuffled (permutation importance).

    Parameters
    ----------
    model : fitted sklearn classifier
        E.g. a fitted :class:`FeatureBaseline`.
    X : np.ndarray [shape=(n, n_features)]
        Held-out features.
    y : sequence of str [shape=(n,)]
        Their labels.
    feature_names : sequence of str [shape=(n_features,)]
        Column names.
    n_repeats : int > 0
        Shuffles per feature.
    seed : int
        Seed of the shuffles.

    Returns
    -------
    importance : pandas.DataFrame [shape=(n_features, 3)]
        Columns ``feature``, ``importance_mean``, ``importance_std`` (accuracy points, as
        fractions), sorted by decreasing mean.
    """
    if len(feature_names) != np.asarray(X).shape[1]:
        raise ParameterError("feature_names must name every column of X")
    if n_repeats < 1:
        raise ParameterError(f"n_repeats must be >= 1, got {n_repeats}")
    result = permutation_importance(
        model, X, np.asarray(y, dtype=str), scoring="accuracy", n_repeats=n_repeats,
        random_state=seed, n_jobs=1,
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "feature": list(feature_names),
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return frame.sort_values("importance_mean", ascending=False, kind="stable").reset_index(
        drop=True
    )


def random_split_scores(
    table: pd.DataFrame,
    *,
    C: float,
    test_size: int,
    seeds: Iterable[int] = range(10),
) -> dict[str, Any]:
    """Score :class:`FeatureBaseline` on random stratified splits of the table.

    Random splits put excerpts of the same artist (and GTZAN's repeated tracks) on both
    sides; the difference from the artist-disjoint split is the leakage gap.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows to split (see :func:`table_arrays`).
    C : float > 0
        Regularisation of the model.
    test_size : int > 0
        Test rows per split.
    seeds : iterable of int
        One split per seed.

    Returns
    -------
    scores : dict
        ``accuracy`` / ``top3_accuracy`` / ``macro_f1``: each a dict with ``mean``,
        ``std`` (population) and ``values`` (one per seed); plus ``seeds``, ``n_train``,
        ``n_test``.
    """
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("seeds must not be empty")
    per: dict[str, list[float]] = {"accuracy": [], "top3_accuracy": [], "macro_f1": []}
    n_train = 0
    for seed in seeds:
        train, test = random_stratified_split(table, test_size=test_size, seed=seed)
        model = FeatureBaseline(C=C).fit(*table_arrays(train))
        X_te, y_te = table_arrays(test)
        rep = evaluate_predictions(y_te, model.predict_proba(X_te), classes=model.classes_)
        for key in per:
            per[key].append(rep[key])
        n_train = len(train)
    out: dict[str, Any] = {
        key: {"mean": float(np.mean(v)), "std": float(np.std(v)), "values": v}
        for key, v in per.items()
    }
    out.update({"seeds": seeds, "n_train": n_train, "n_test": int(test_size)})
    return out


def predict_clip(model: FeatureBaseline, y: np.ndarray, *, sr: int = TABLE_SR) -> dict[str, float]:
    """Predict genre probabilities for one clip from its summary features.

    Parameters
    ----------
    model : FeatureBaseline
        A fitted or loaded model over :data:`SUMMARY_FEATURE_NAMES`.
    y : np.ndarray [shape=(n,)]
        Mono audio at ``sr``; the table's features were computed on 30 s clips.
    sr : int
        Must be :data:`TABLE_SR` (22050 Hz): the features depend on the rate.

    Returns
    -------
    proba : dict[str, float]
        Genre -> probability, in ``model.classes_`` order.
    """
    if sr != TABLE_SR:
        raise ParameterError(f"the feature baseline needs audio at {TABLE_SR} Hz, got sr={sr}")
    if tuple(model.feature_names) != SUMMARY_FEATURE_NAMES:
        raise ModelError("this model was not trained on the 57 Kaggle summary features")
    proba = model.predict_proba(summary_feature_vector(y, sr=sr))[0]
    return {str(c): float(p) for c, p in zip(model.classes_, proba, strict=True)}
