"""Distil the bundled musicnn model into a compact student CNN (``python -m genrecls distill``).

The bundled model (a linear probe on frozen musicnn, about 1.3 G multiply–accumulates
per 3 s segment) is accurate but slow on a laptop CPU, and slower still for Grad-CAM. A
:class:`~genrecls.models.cnn.CompactCNN` student with a few percent of its arithmetic is
trained to reproduce the teacher's output distribution (Hinton et al., 2015) on every
training segment, the ±2 semitone pitch-shifted copies included, mixed with the hard
labels. The teacher's logits are cheap here: the musicnn pooled features of those
segments are already cached by ``make model`` (:func:`genrecls.bundle.backbone_outputs`),
so only the probe's standardisation and linear head are applied.

Steps:

1. index the shared data with the bundle's roles (the same training and real-song test
   tracks) and load the cached segments and backbone features;
2. compute the teacher's probabilities on every training segment;
3. optionally score the recipe by grouped k-fold CV on the training tracks (``--cv``);
4. hold out a song-grouped fifth of the training tracks, train a student on the rest and
   fit its track-level temperature on the held-out fifth;
5. train the final student on all training tracks, score it on the real-song test set
   exactly as the model card scores the teacher, and write
   ``models/genre_model_student.pt`` and the ``student`` section of
   ``models/student_card.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genrecls.config import GENRES
from genrecls.exceptions import ModelError, ParameterError
from genrecls.models.cnn import CompactCNN, count_macs
from genrecls.train import TrainConfig, Trainer, predict_logits

#: File name of the student model in ``models/``.
STUDENT_MODEL_FILE = "genre_model_student.pt"
#: File name of the student's card in ``models/``.
STUDENT_CARD_FILE = "student_card.json"


@dataclass(frozen=True)
class StudentConfig:
    """Architecture and training recipe of the student.

    Parameters
    ----------
    channels : tuple of int > 0
        Conv channels of the :class:`~genrecls.models.cnn.CompactCNN` blocks.
    pools : tuple of (int, int)
        (frequency, time) max-pool after each block.
    dropout : float in [0, 1)
        Dropout before the head.
    epochs, batch_size, learning_rate, weight_decay : see :class:`genrecls.train.TrainConfig`
    spec_augment : bool
        SpecAugment on every training batch.
    mixup_alpha : float >= 0
        mixup; the teacher's targets are mixed with the same pairs.
    temperature : float > 0
        Distillation temperature ``T``.
    distill_weight : float in [0, 1]
        Weight of the distillation term (the hard labels get the rest).
    seed : int >= 0
    """

    channels: tuple[int, ...] = (8, 24, 48, 96)
    pools: tuple[tuple[int, int], ...] = ((2, 4), (2, 2), (2, 2), (2, 2))
    dropout: float = 0.3
    epochs: int = 16
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    spec_augment: bool = True
    mixup_alpha: float = 0.2
    temperature: float = 2.0
    distill_weight: float = 0.7
    seed: int = 0

    def train_config(self, *, epochs: int | None = None) -> TrainConfig:
        """The :class:`~genrecls.train.TrainConfig` of this recipe."""
        return TrainConfig(
            epochs=self.epochs if epochs is None else epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            seed=self.seed,
            spec_augment=self.spec_augment,
            mixup_alpha=self.mixup_alpha,
            distill_temperature=self.temperature,
            distill_weight=self.distill_weight,
        )

    def arch_kwargs(self, *, n_classes: int, n_mels: int) -> dict:
        """Constructor arguments of the student :class:`CompactCNN` (plain values)."""
        return {
            "n_mels": n_mels,
            "n_classes": n_classes,
            "channels": list(self.channels),
            "pools": [list(p) for p in self.pools],
            "dropout": self.dropout,
        }

    def to_dict(self) -> dict:
        """Return the recipe as a JSON-serialisable dict."""
        return dataclasses.asdict(self)


def teacher_logits(
    teacher: torch.nn.Module, pooled: np.ndarray, *, tag_probs: np.ndarray | None = None
) -> np.ndarray:
    """Logits of a musicnn probe from its cached backbone features.

    Parameters
    ----------
    teacher : genrecls.models.musicnn_transfer.MusicnnClassifier
        The bundled model.
    pooled : np.ndarray [shape=(n, in_dim)]
        Backbone features of ``n`` segments (:func:`genrecls.bundle.backbone_outputs`).
    tag_probs : np.ndarray [shape=(n, 50)] or None
        The backbone's tag probabilities for the same segments; needed when the teacher
        has a zero-shot tag prior (``tag_prior_weight > 0``).

    Returns
    -------
    logits : np.ndarray [shape=(n, n_classes), dtype=float32]
        The same logits ``teacher(segments)["logits"]`` gives, without re-running musicnn.
    """
    if not hasattr(teacher, "head_logits"):
        raise ModelError("the teacher must be a musicnn probe (MusicnnClassifier)")
    teacher.eval()
    features = torch.from_numpy(np.asarray(pooled, np.float32))
    with torch.inference_mode():
        if getattr(teacher, "tag_prior", None) is None:
            return teacher.head_logits(features).numpy()
        if tag_probs is None:
            raise ModelError("this teacher has a tag prior: pass its tag probabilities too")
        p = torch.from_numpy(np.clip(np.asarray(tag_probs, np.float64), 1e-7, 1 - 1e-7))
        tag_logits = torch.log(p / (1 - p)).float()
        return teacher.genre_logits({"pooled": features, "logits": tag_logits}).numpy()


def make_student(config: StudentConfig, *, n_classes: int, n_mels: int, seed: int) -> CompactCNN:
    """A freshly initialised student network (seeded)."""
    torch.manual_seed(seed)
    return CompactCNN(**config.arch_kwargs(n_classes=n_classes, n_mels=n_mels))


def train_student(
    X: np.ndarray,
    y: np.ndarray,
    P: np.ndarray,
    *,
    config: StudentConfig,
    n_classes: int,
    epochs: int | None = None,
    progress: bool = False,
) -> CompactCNN:
    """Train one student on segments ``X``, labels ``y`` and teacher probabilities ``P``.

    Parameters
    ----------
    X : np.ndarray [shape=(n, n_mels, frames)]
    y : np.ndarray [shape=(n,), dtype=int]
    P : np.ndarray [shape=(n, n_classes)]
        The teacher's probabilities (softmax of its logits, temperature 1).
    config : StudentConfig
    n_classes : int
    epochs : int or None
        Override ``config.epochs`` (quick runs).
    progress : bool
        Print one line per epoch.

    Returns
    -------
    model : CompactCNN
        Trained, in eval mode (the last epoch's weights: no validation set is used).
    """

    def report(event) -> None:
        if progress and type(event).__name__ == "EpochEnd":
            print(
                f"  epoch {event.epoch}/{event.n_epochs}: loss {event.train_loss:.3f}, "
                f"accuracy {event.train_accuracy:.3f}, {event.elapsed_s:.0f} s",
                flush=True,
            )

    model = make_student(config, n_classes=n_classes, n_mels=X.shape[1], seed=config.seed)
    trainer = Trainer(model, config=config.train_config(epochs=epochs), on_event=report)
    trainer.fit((X, y, P))
    return model.eval()


def agreement(student_logits: np.ndarray, teacher_logits_: np.ndarray, data) -> dict:
    """How often the student's track verdict equals the teacher's, and segment-level too."""
    from genrecls.bundle import track_probabilities
    from genrecls.evaluate import softmax

    _, ps = track_probabilities(softmax(student_logits), data.track_index)
    _, pt = track_probabilities(softmax(teacher_logits_), data.track_index)
    return {
        "track_top1_agreement": float((ps.argmax(1) == pt.argmax(1)).mean()),
        "segment_top1_agreement": float(
            (student_logits.argmax(1) == teacher_logits_.argmax(1)).mean()
        ),
    }


def _originals_of(data, index: np.ndarray) -> np.ndarray:
    return index[data.is_original[index]]


def main(
    *,
    out_dir: Path,
    cache_dir: Path = Path(".cache"),
    teacher_path: Path | None = None,
    config: StudentConfig | None = None,
    cv_folds: int = 0,
    quick: bool = False,
    command: str = "python -m genrecls distill",
) -> int:
    """Distil the bundled model into a student; see the module docstring.

    Parameters
    ----------
    out_dir : pathlib.Path
        Where ``genre_model_student.pt`` and ``student_card.json`` are written.
    cache_dir : pathlib.Path
        The ``make model`` cache (``segments/``, ``features/``).
    teacher_path : pathlib.Path or None
        The teacher; ``None`` = the bundled ``models/genre_model.pt``.
    config : StudentConfig or None
        Recipe; ``None`` = the defaults.
    cv_folds : int >= 0
        Grouped CV folds to score the recipe on the training tracks (0 = skip; each fold
        costs one training run).
    quick : bool
        Three epochs everywhere (a smoke run; its numbers mean nothing).
    command : str
        The command line, recorded in the card.

    Returns
    -------
    exit_code : int
    """
    from genrecls.bundle import (
        backbone_outputs,
        fit_track_temperature,
        role_datasets,
        track_probabilities,
        track_scores,
    )
    from genrecls.checkpoint import load_model, save_model
    from genrecls.data import group_holdout, group_kfold, index_shared_data
    from genrecls.evaluate import softmax
    from genrecls.features import FeatureConfig
    from genrecls.model_card import write_json_atomic

    t_start = time.time()
    config = config or StudentConfig()
    epochs = 3 if quick else None
    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir)
    if teacher_path is None:
        from genrecls.config import bundled_models_dir

        teacher_path = bundled_models_dir() / "genre_model.pt"
    teacher_path = Path(teacher_path)
    teacher_blob = teacher_path.read_bytes()  # hashed now: the file may be rebuilt meanwhile
    teacher = load_model(teacher_path)
    fc = teacher.feature_config
    if fc != FeatureConfig():
        raise ParameterError("the teacher must use the default (musicnn) front end")
    if tuple(teacher.labels) != tuple(GENRES):
        raise ParameterError(f"teacher labels {teacher.labels} are not {GENRES}")
    n_classes = len(GENRES)

    tracks = index_shared_data()
    if not tracks:
        print("No shared data found: set GENRECLS_DATA_DIR.")
        return 2
    train, test = role_datasets(tracks, config=fc, cache_dir=cache_dir)
    b_train = backbone_outputs(train, cache_dir=cache_dir / "features")
    b_test = backbone_outputs(test, cache_dir=cache_dir / "features")
    f_train, f_test = b_train["pooled"], b_test["pooled"]
    t_logits = teacher_logits(teacher.model, f_train, tag_probs=b_train["tags"])
    t_test_logits = teacher_logits(teacher.model, f_test, tag_probs=b_test["tags"])
    P = softmax(t_logits.astype(np.float64)).astype(np.float32)
    teacher_test = track_scores(t_test_logits, test)
    print(f"teacher real-song test top1 {teacher_test['top1']:.3f}")

    student_probe = make_student(config, n_classes=n_classes, n_mels=fc.n_mels, seed=0).eval()
    macs = count_macs(student_probe, torch.zeros(1, fc.n_mels, fc.segment_frames))
    teacher_macs = count_macs(teacher.model.eval(), torch.zeros(1, fc.n_mels, fc.segment_frames))
    n_params = sum(p.numel() for p in student_probe.parameters())
    print(
        f"student: {macs / 1e6:.1f} M MACs/segment ({teacher_macs / macs:.0f}x fewer), "
        f"{n_params} parameters"
    )

    # --- optional grouped CV of the recipe on the training tracks --------------------
    track_ids = np.unique(train.track_index)
    groups = [train.tracks[t].group for t in track_ids]
    labels = [train.tracks[t].label for t in track_ids]
    cv = None
    if cv_folds:
        fold_scores = []
        for k, (tr_t, va_t) in enumerate(group_kfold(groups, labels, n_splits=cv_folds, seed=0)):
            tr = np.flatnonzero(np.isin(train.track_index, track_ids[tr_t]))
            va = _originals_of(train, np.flatnonzero(np.isin(train.track_index, track_ids[va_t])))
            model = train_student(
                train.X[tr], train.y[tr], P[tr], config=config, n_classes=n_classes, epochs=epochs
            )
            fold_scores.append(track_scores(predict_logits(model, train.X[va]), train.subset(va)))
            print(f"CV fold {k + 1}/{cv_folds}: top1 {fold_scores[-1]['top1']:.3f}", flush=True)
        keys = ("top1", "top3", "balanced_accuracy", "macro_f1")
        cv = {
            "folds": cv_folds,
            "mean": {k: float(np.mean([f[k] for f in fold_scores])) for k in keys},
            "std": {k: float(np.std([f[k] for f in fold_scores])) for k in keys},
        }

    # --- temperature: fitted on a song-grouped held-out fifth of the training tracks ----
    tr_t, va_t = group_holdout(groups, labels, valid_fraction=0.2, seed=0)
    tr = np.flatnonzero(np.isin(train.track_index, track_ids[tr_t]))
    va = _originals_of(train, np.flatnonzero(np.isin(train.track_index, track_ids[va_t])))
    print(f"holdout run: {len(tr)} training segments, {len(va)} held-out segments", flush=True)
    holdout_model = train_student(
        train.X[tr],
        train.y[tr],
        P[tr],
        config=config,
        n_classes=n_classes,
        epochs=epochs,
        progress=True,
    )
    va_logits = predict_logits(holdout_model, train.X[va])
    temperature = fit_track_temperature(va_logits, train.track_index[va], train.y[va])
    holdout = track_scores(va_logits, train.subset(va))
    holdout["teacher_agreement"] = agreement(va_logits, t_logits[va], train.subset(va))
    print(f"holdout top1 {holdout['top1']:.3f}; temperature {temperature:.3f}", flush=True)

    # --- final student on all training tracks ----------------------------------------
    t_fit = time.time()
    model = train_student(
        train.X, train.y, P, config=config, n_classes=n_classes, epochs=epochs, progress=True
    )
    fit_seconds = time.time() - t_fit
    s_test_logits = predict_logits(model, test.X)
    real_test = track_scores(s_test_logits, test)
    real_test["teacher_agreement"] = agreement(s_test_logits, t_test_logits, test)
    _, p_cal = track_probabilities(softmax(s_test_logits / temperature), test.track_index)
    from genrecls.evaluate import evaluate_predictions

    y_test = np.array([GENRES.index(t.label) for t in test.tracks])
    ev = evaluate_predictions(y_test, p_cal, labels=GENRES)
    kept = real_test["top1"] / teacher_test["top1"]
    print(
        f"student real-song test top1 {real_test['top1']:.3f} (teacher {teacher_test['top1']:.3f}:"
        f" {100 * kept:.1f}% kept)",
        flush=True,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / STUDENT_MODEL_FILE
    save_model(
        model_path,
        model=model,
        architecture="compact_cnn",
        arch_kwargs=config.arch_kwargs(n_classes=n_classes, n_mels=fc.n_mels),
        feature_config=fc,
        labels=GENRES,
        temperature=temperature,
        metadata={
            "candidate": "distilled_student",
            "teacher": teacher_path.name,
            "card": STUDENT_CARD_FILE,
        },
    )
    blob = model_path.read_bytes()
    reference = {}
    teacher_card = teacher_path.parent / "model_card.json"
    if teacher_card.is_file():  # the from-scratch CNN of ``make model``, for comparison
        candidates = json.loads(teacher_card.read_text()).get("candidates", {})
        if "compact_cnn" in candidates:
            reference = {
                "compact_cnn_from_scratch": {
                    "description": candidates["compact_cnn"].get("description"),
                    "real_test": candidates["compact_cnn"].get("real_test"),
                    "source": "model_card.json (make model)",
                }
            }
    section = {
        "model": {
            "file": model_path.name,
            "architecture": "compact_cnn",
            "arch_kwargs": config.arch_kwargs(n_classes=n_classes, n_mels=fc.n_mels),
            "citation": "Choi, Fazekas & Sandler (2016), Automatic tagging using deep "
            "convolutional neural networks, https://arxiv.org/abs/1606.00298; distilled as in "
            "Hinton, Vinyals & Dean (2015), Distilling the knowledge in a neural network, "
            "https://arxiv.org/abs/1503.02531",
            "size_bytes": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "parameters": int(n_params),
            "macs_per_segment": int(macs),
            "teacher_macs_per_segment": int(teacher_macs),
            "macs_ratio": float(teacher_macs / macs),
        },
        "teacher": {
            "file": teacher_path.name,
            "sha256": hashlib.sha256(teacher_blob).hexdigest(),
            "real_test": teacher_test,
        },
        "recipe": config.to_dict(),
        "quick": quick,
        "data": {
            "train_segments": len(train),
            "train_original_segments": int(train.is_original.sum()),
            "train_tracks": len(train.tracks),
            "test_tracks": len(test.tracks),
            "test_segments": len(test),
            "description": "Teacher targets on every training segment (originals and ±2 "
            "semitone pitch shifts) from the cached musicnn features; the real-song test "
            "set is the model card's (the same tracks and segments).",
        },
        "cv": cv,
        "reference": reference,
        "holdout": holdout,
        "calibration": {
            "temperature": temperature,
            "fitted_on": "song-grouped held-out fifth of the training tracks (a separate "
            "student trained on the other four fifths)",
            "ece_test": ev.ece,
        },
        "real_test": real_test,
        "top1_kept_vs_teacher": kept,
        "meets_95_percent": bool(kept >= 0.95),
        "fit_seconds": fit_seconds,
        "command": command,
        "created": time.strftime("%Y-%m-%d"),
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "torch_threads": torch.get_num_threads(),
        },
        "seconds": time.time() - t_start,
    }
    card_path = out_dir / STUDENT_CARD_FILE
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card["student"] = section
    write_json_atomic(card_path, card)
    print(f"wrote {model_path} and {card_path} in {time.time() - t_start:.0f} s")
    return 0


__all__ = [
    "STUDENT_CARD_FILE",
    "STUDENT_MODEL_FILE",
    "StudentConfig",
    "agreement",
    "main",
    "make_student",
    "teacher_logits",
    "train_student",
]
