"""Training loop for genre classifiers, reporting progress as a stream of events.

:class:`Trainer` fits any genrecls model (``model(x)["logits"]`` for log-mel segments
``x: [B, n_mels, T]``) on in-memory numpy arrays. It knows nothing about terminals or web
pages: it calls ``on_event(event)`` with a :class:`BatchEnd` after every batch, an
:class:`EpochEnd` after every epoch and a :class:`TrainingDone` at the end, and the CLI
(a progress bar) or the app (live curves) draws them.

Reproducibility: every epoch re-derives its random streams (shuffling, augmentation,
dropout) from ``(config.seed, epoch)``, so a run stopped and resumed from its ``last``
checkpoint follows the same path as one that was never interrupted, and the resume
checkpoint needs no generator state. ``torch.set_num_threads`` is left to the caller.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genrecls.checkpoint import atomic_torch_save
from genrecls.evaluate import confusion_matrix, macro_f1
from genrecls.exceptions import ModelError, ParameterError

__all__ = [
    "BEST_NAME",
    "LAST_NAME",
    "BatchEnd",
    "BatchTransform",
    "EpochEnd",
    "Event",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDone",
    "predict_logits",
    "read_training_checkpoint",
    "soften",
]

#: File name of the best-so-far weights in ``checkpoint_dir``.
BEST_NAME = "best.pt"
#: File name of the resume checkpoint in ``checkpoint_dir``.
LAST_NAME = "last.pt"

_BEST_FORMAT = "genrecls-train-best"
_LAST_FORMAT = "genrecls-train-state"
_STATE_VERSION = 1

Schedule = Literal["onecycle", "cosine", "constant"]

#: ``transform(x, targets, rng) -> (x, targets)`` applied to every training batch:
#: ``x`` [B, n_mels, T], ``targets`` [B, n_classes] class distributions (one-hot unless
#: mixed), ``rng`` the epoch's generator. Must not modify its inputs in place.
BatchTransform = Callable[
    [torch.Tensor, torch.Tensor, np.random.Generator], tuple[torch.Tensor, torch.Tensor]
]


# --------------------------------------------------------------------------------------
# configuration


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run.

    Parameters
    ----------
    epochs : int > 0
        Passes over the training set.
    batch_size : int > 0
        Segments per optimisation step.
    learning_rate : float > 0
        Peak learning rate of AdamW.
    weight_decay : float >= 0
        AdamW decoupled weight decay (not applied to biases and norm parameters).
    seed : int >= 0
        Seed of shuffling, augmentation and dropout.
    label_smoothing : float in [0, 1)
        Label smoothing of the training cross entropy.
    spec_augment : bool
        Mask random frequency bands and time spans of every training batch
        (:func:`genrecls.augment.spec_augment`).
    mixup_alpha : float >= 0
        mixup ``Beta(alpha, alpha)`` parameter (:func:`genrecls.augment.mixup`); 0 = off.
    patience : int > 0 or None
        Stop early after this many epochs without a better validation score; ``None``
        never stops early.
    schedule : {"onecycle", "cosine", "constant"}
        Learning-rate schedule, stepped every batch: one-cycle (Smith & Topin, 2019;
        30 % warm-up), linear warm-up (5 %) then cosine decay to 0, or constant.
    distill_temperature : float > 0
        Temperature ``T`` that softens the teacher's distribution and the student's logits
        in the distillation loss (used only when :meth:`Trainer.fit` is given teacher
        probabilities).
    distill_weight : float in [0, 1]
        Weight of the distillation term; the hard-label cross entropy gets
        ``1 - distill_weight`` (used only with teacher probabilities).
    """

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    label_smoothing: float = 0.0
    spec_augment: bool = False
    mixup_alpha: float = 0.0
    patience: int | None = None
    schedule: Schedule = "onecycle"
    distill_temperature: float = 1.0
    distill_weight: float = 0.5

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ParameterError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not _is_number(self.learning_rate) or self.learning_rate <= 0:
            raise ParameterError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            raise ParameterError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not _is_number(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            raise ParameterError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if not isinstance(self.spec_augment, bool):
            raise ParameterError(f"spec_augment must be True or False, got {self.spec_augment!r}")
        if not _is_number(self.mixup_alpha) or self.mixup_alpha < 0:
            raise ParameterError(f"mixup_alpha must be >= 0 (0 = off), got {self.mixup_alpha!r}")
        if self.patience is not None and (not _is_int(self.patience) or self.patience <= 0):
            raise ParameterError(
                f"patience must be a positive integer or None, got {self.patience!r}"
            )
        if self.schedule not in ("onecycle", "cosine", "constant"):
            raise ParameterError(
                f"schedule must be 'onecycle', 'cosine' or 'constant', got {self.schedule!r}"
            )
        if not _is_number(self.distill_temperature) or self.distill_temperature <= 0:
            raise ParameterError(
                f"distill_temperature must be > 0, got {self.distill_temperature!r}"
            )
        if not _is_number(self.distill_weight) or not 0 <= self.distill_weight <= 1:
            raise ParameterError(f"distill_weight must be in [0, 1], got {self.distill_weight!r}")

    def to_dict(self) -> dict:
        """Return the configuration as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Rebuild a configuration saved with :meth:`to_dict`, rejecting unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ParameterError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**values)


# --------------------------------------------------------------------------------------
# events


@dataclass(frozen=True)
class BatchEnd:
    """One training batch is done.

    Attributes
    ----------
    epoch : int
        Epoch number, from 1.
    batch : int
        Batch number within the epoch, from 1.
    n_batches : int
        Batches per epoch.
    loss : float
        Training loss of this batch (with label smoothing / mixup targets).
    accuracy : float
        Fraction of this batch whose top class is its (unmixed) label.
    """

    epoch: int
    batch: int
    n_batches: int
    loss: float
    accuracy: float


@dataclass(frozen=True, eq=False)
class EpochEnd:
    """One epoch is done (and validated, when validation data was given).

    Attributes
    ----------
    epoch, n_epochs : int
        Epoch number (from 1) and planned number of epochs.
    train_loss, train_accuracy : float
        Means over the epoch's training batches (weighted by batch size).
    valid_loss, valid_accuracy, valid_macro_f1 : float or None
        Plain cross entropy, accuracy and macro-F1 on the validation set (eval mode);
        ``None`` without validation data.
    confusion : np.ndarray [shape=(n_classes, n_classes), dtype=int64] or None
        Validation confusion matrix (rows: true class).
    elapsed_s : float
        Seconds of training so far (summed over resumed sessions).
    eta_s : float
        Estimated seconds left for the remaining epochs.
    is_best : bool
        True when this epoch is the best so far (highest validation accuracy, ties
        broken by lower validation loss; without validation data every epoch is).
    """

    epoch: int
    n_epochs: int
    train_loss: float
    train_accuracy: float
    valid_loss: float | None
    valid_accuracy: float | None
    valid_macro_f1: float | None
    confusion: np.ndarray | None
    elapsed_s: float
    eta_s: float
    is_best: bool

    def to_dict(self) -> dict:
        """Return the event as plain values (the confusion matrix as nested lists)."""
        values = dataclasses.asdict(self)
        if self.confusion is not None:
            values["confusion"] = np.asarray(self.confusion).tolist()
        return values

    @classmethod
    def from_dict(cls, values: dict) -> EpochEnd:
        """Rebuild an event saved with :meth:`to_dict`."""
        values = dict(values)
        if values.get("confusion") is not None:
            values["confusion"] = np.asarray(values["confusion"], dtype=np.int64)
        return cls(**values)


@dataclass(frozen=True)
class TrainingDone:
    """Training has ended (all epochs run, stopped early, or stopped on request).

    Attributes
    ----------
    best_epoch : int or None
        Epoch whose weights are kept (``None`` if no epoch was completed).
    best_valid_accuracy : float or None
        Its validation accuracy (``None`` without validation data).
    stopped_early : bool
        True when early stopping (``TrainConfig.patience``) ended the run.
    checkpoint_path : pathlib.Path or None
        The best-weights file, when a ``checkpoint_dir`` was given and an epoch finished.
    interrupted : bool
        True when the ``stop`` event ended the run before the last epoch.
    """

    best_epoch: int | None
    best_valid_accuracy: float | None
    stopped_early: bool
    checkpoint_path: Path | None
    interrupted: bool = False


Event = BatchEnd | EpochEnd | TrainingDone


@dataclass(eq=False)
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes
    ----------
    history : list of EpochEnd
        Every completed epoch, in order (including epochs from before a resume).
    best_state_dict : dict or None
        Copy of the best weights (already loaded into the model); ``None`` when no epoch
        was completed.
    best_epoch : int or None
        Epoch of ``best_state_dict``.
    best : EpochEnd or None
        Metrics of that epoch.
    stopped_early : bool
        Early stopping ended the run.
    interrupted : bool
        The stop event ended the run.
    checkpoint_path : pathlib.Path or None
        Best-weights file, if written.
    """

    history: list[EpochEnd]
    best_state_dict: dict[str, torch.Tensor] | None
    best_epoch: int | None
    best: EpochEnd | None
    stopped_early: bool
    interrupted: bool
    checkpoint_path: Path | None


# --------------------------------------------------------------------------------------
# helpers


def _check_xy(data: object, *, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise ParameterError(f"{name} must be a pair (X, y)")
    return _check_arrays(data[0], data[1], name=name)


def _check_xyp(data: object, *, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(X, y)`` or ``(X, y, P)`` with teacher probabilities ``P`` [n, n_classes]."""
    if not isinstance(data, tuple | list) or len(data) not in (2, 3):
        raise ParameterError(f"{name} must be a pair (X, y) or a triple (X, y, P) with teacher P")
    X, y = _check_arrays(data[0], data[1], name=name)
    if len(data) == 2:
        return X, y, None
    P = np.asarray(data[2])
    if P.ndim != 2 or P.shape[0] != X.shape[0] or P.shape[1] < 1:
        raise ParameterError(f"{name} P must have shape ({X.shape[0]}, n_classes), got {P.shape}")
    if not np.issubdtype(P.dtype, np.floating) or not np.all(np.isfinite(P)):
        raise ParameterError(f"{name} P must hold finite probabilities")
    if P.min() < 0 or not np.allclose(P.sum(axis=1), 1.0, atol=1e-3):
        raise ParameterError(f"{name} P rows must be probability distributions (>= 0, sum 1)")
    return X, y, P.astype(np.float32, copy=False)


def soften(P: np.ndarray, *, temperature: float) -> np.ndarray:
    """Soften class distributions by a temperature: ``softmax(log(P) / T)``.

    Hinton, Vinyals and Dean, 2015. "Distilling the knowledge in a neural network."
    https://arxiv.org/abs/1503.02531 — ``T > 1`` raises the small probabilities that
    carry the teacher's "dark knowledge" about which wrong classes are similar.

    Parameters
    ----------
    P : np.ndarray [shape=(n, n_classes)]
        Probabilities (rows sum to 1).
    temperature : float > 0

    Returns
    -------
    Q : np.ndarray [shape=(n, n_classes), dtype=float32]
    """
    if not _is_number(temperature) or temperature <= 0:
        raise ParameterError(f"temperature must be > 0, got {temperature!r}")
    z = np.log(np.clip(np.asarray(P, dtype=np.float64), 1e-12, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _check_arrays(X: object, y: object, *, name: str) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 3 or X.shape[0] == 0:
        raise ParameterError(f"{name} X must have shape (n > 0, n_mels, T), got {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        raise ParameterError(f"{name} X must be floating point, got dtype {X.dtype}")
    if y.shape != (X.shape[0],):
        raise ParameterError(f"{name} y must have shape ({X.shape[0]},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ParameterError(f"{name} y must hold integer class indices, got dtype {y.dtype}")
    if y.min() < 0:
        raise ParameterError(f"{name} y holds negative class indices")
    return X.astype(np.float32, copy=False), y.astype(np.int64, copy=False)


def _batch_slices(n: int, batch_size: int) -> list[slice]:
    """Batch boundaries; a last batch of one example is merged into the one before.

    Batch norm cannot train on a batch of one example (no variance to normalise by).
    """
    bounds = list(range(0, n, batch_size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def predict_logits(model: nn.Module, X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """Run a model over segments in eval mode and collect its logits.

    Parameters
    ----------
    model : torch.nn.Module
        A genrecls model; put in eval mode (and left there).
    X : np.ndarray [shape=(n, n_mels, T)]
        Log-mel segments.
    batch_size : int > 0
        Segments per forward pass.

    Returns
    -------
    logits : np.ndarray [shape=(n, n_classes), dtype=float32]
    """
    if not _is_int(batch_size) or batch_size <= 0:
        raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise ParameterError(f"X must have shape (n, n_mels, T), got {X.shape}")
    device = _model_device(model)
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(X[start : start + batch_size]))
            out.append(model(x.to(device))["logits"].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def read_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a ``best.pt`` or ``last.pt`` file written by :class:`Trainer`.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    payload : dict
        ``best.pt``: ``format``, ``epoch``, ``valid_accuracy``, ``valid_loss``,
        ``config``, ``state_dict``. ``last.pt``: the full training state.

    Raises
    ------
    genrecls.exceptions.ModelError
        If the file is missing, unreadable or not a Trainer checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no training checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path.name} is not a readable training checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") not in (_BEST_FORMAT, _LAST_FORMAT):
        raise ModelError(f"{path.name} is not a genrecls training checkpoint")
    if payload.get("version") != _STATE_VERSION:
        raise ModelError(f"{path.name} has unsupported version {payload.get('version')!r}")
    return payload


def _make_scheduler(
    optimizer: torch.optim.Optimizer, *, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.learning_rate,
            total_steps=total_steps,
            pct_start=0.3,
            anneal_strategy="cos",
        )
    if config.schedule == "cosine":
        warmup = max(1, int(0.05 * total_steps))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, _WarmupCosine(warmup, total_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _Constant())


class _WarmupCosine:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to 0 at ``total``."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, total

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))


class _Constant:
    def __call__(self, step: int) -> float:
        return 1.0


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices and kernels only, not on biases and norm scales."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


# --------------------------------------------------------------------------------------
# trainer


class Trainer:
    """Fit a genre model on log-mel segments, emitting progress events.

    AdamW (Loshchilov & Hutter, 2019) with a per-batch learning-rate schedule, softmax
    cross entropy (optionally label-smoothed), optional SpecAugment and mixup. After
    every epoch the model is validated; the best epoch (validation accuracy, ties broken
    by validation loss) is kept and written to ``checkpoint_dir/best.pt``, and the full
    training state to ``checkpoint_dir/last.pt`` (both atomically).

    Parameters
    ----------
    model : torch.nn.Module
        The network: ``model(x)["logits"]`` for ``x: [B, n_mels, T]``. Trained in place
        on the device its parameters are on.
    config : TrainConfig
        Hyper-parameters.
    on_event : callable or None
        Called with every :class:`BatchEnd`, :class:`EpochEnd` and :class:`TrainingDone`,
        in order, from the thread running :meth:`fit`.
    checkpoint_dir : pathlib.Path or None
        Folder for ``best.pt`` and ``last.pt``; ``None`` keeps everything in memory (no
        resume possible).
    batch_transform : BatchTransform or None
        Extra transform of every training batch ``(x, targets, rng) -> (x, targets)``,
        applied after the SpecAugment / mixup that ``config`` asks for.

    Examples
    --------
    >>> import numpy as np
    >>> from genrecls.models.cnn import CompactCNN
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 16, 20)).astype(np.float32)
    >>> y = np.arange(8) % 2
    >>> model = CompactCNN(n_mels=16, n_classes=2, channels=(4, 8), pools=((2, 2), (2, 2)))
    >>> events = []
    >>> trainer = Trainer(model, config=TrainConfig(epochs=1, batch_size=4),
    ...                   on_event=events.append)
    >>> result = trainer.fit((X, y), (X, y))
    >>> [type(e).__name__ for e in events]
    ['BatchEnd', 'BatchEnd', 'EpochEnd', 'TrainingDone']
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        config: TrainConfig,
        on_event: Callable[[Event], None] | None = None,
        checkpoint_dir: str | Path | None = None,
        batch_transform: BatchTransform | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ParameterError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(config, TrainConfig):
            raise ParameterError(f"config must be a TrainConfig, got {type(config).__name__}")
        if on_event is not None and not callable(on_event):
            raise ParameterError("on_event must be callable")
        if batch_transform is not None and not callable(batch_transform):
            raise ParameterError("batch_transform must be callable")
        self.model = model
        self.config = config
        self.on_event = on_event
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.batch_transform = batch_transform

    # -- paths -------------------------------------------------------------------------

    @property
    def best_path(self) -> Path | None:
        """``checkpoint_dir / "best.pt"`` (or ``None`` without a checkpoint folder)."""
        return None if self.checkpoint_dir is None else self.checkpoint_dir / BEST_NAME

    @property
    def last_path(self) -> Path | None:
        """``checkpoint_dir / "last.pt"`` (or ``None`` without a checkpoint folder)."""
        return None if self.checkpoint_dir is None else self.checkpoint_dir / LAST_NAME

    # -- internals ---------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _augment(
        self,
        x: torch.Tensor,
        targets: torch.Tensor,
        rng: np.random.Generator,
        soft: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        cfg = self.config
        if cfg.spec_augment or cfg.mixup_alpha > 0:
            from genrecls import augment

            if cfg.spec_augment:
                x = augment.spec_augment(x, rng=rng)
            if cfg.mixup_alpha > 0:
                # draw once, mix inputs, hard targets and teacher targets alike
                lam, perm = augment.draw_mixup(int(x.shape[0]), alpha=cfg.mixup_alpha, rng=rng)
                x, targets = augment.apply_mixup(x, targets, lam=lam, perm=perm)
                if soft is not None:
                    partner = torch.as_tensor(perm, dtype=torch.long)
                    soft = lam * soft + (1.0 - lam) * soft[partner]
        if self.batch_transform is not None:
            x, targets = self.batch_transform(x, targets, rng)
        return x, targets, soft

    def _n_classes(self, X: np.ndarray) -> int:
        n_classes = getattr(self.model, "n_classes", None)
        if _is_int(n_classes):
            return int(n_classes)
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(X[:2])).to(_model_device(self.model))
            n_classes = int(self.model(x)["logits"].shape[1])
        self.model.train(was_training)
        return n_classes

    def _validate(
        self, X: np.ndarray, y: np.ndarray, n_classes: int
    ) -> tuple[float, float, float, np.ndarray]:
        logits = predict_logits(self.model, X, batch_size=self.config.batch_size)
        loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item())
        pred = logits.argmax(axis=1)
        cm = confusion_matrix(y, pred, n_classes=n_classes)
        return loss, float(np.mean(pred == y)), macro_f1(cm), cm

    def _write_best(self, epoch: int, event: EpochEnd, state: dict) -> None:
        if self.best_path is None:
            return
        atomic_torch_save(
            {
                "format": _BEST_FORMAT,
                "version": _STATE_VERSION,
                "epoch": epoch,
                "valid_accuracy": event.valid_accuracy,
                "valid_loss": event.valid_loss,
                "config": self.config.to_dict(),
                "state_dict": state,
            },
            self.best_path,
        )

    # -- public ------------------------------------------------------------------------

    def fit(
        self,
        train: tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray],
        valid: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        stop: threading.Event | None = None,
        resume: bool = False,
    ) -> TrainResult:
        """Train the model.

        Parameters
        ----------
        train : (X, y) or (X, y, P)
            Training segments ``X`` [shape=(n, n_mels, T)] and their class indices ``y``
            [shape=(n,), dtype=int]; optionally a teacher's probabilities ``P``
            [shape=(n, n_classes)] for knowledge distillation (Hinton et al., 2015): the
            loss is then ``w T² CE(soften(P, T), softmax(z / T)) + (1 - w) CE(y, z)`` with
            ``T = config.distill_temperature`` and ``w = config.distill_weight`` (the
            ``T²`` keeps the gradient scale independent of ``T``). mixup mixes ``P`` with
            the same pairs and weights as the inputs; a ``batch_transform`` must not
            reorder or mix examples when ``P`` is given.
        valid : (np.ndarray [shape=(m, n_mels, T)], np.ndarray [shape=(m,)]) or None
            Validation segments; without them the last epoch counts as the best and early
            stopping is off.
        stop : threading.Event or None
            Checked after every batch; once set, training ends after the current batch.
            A partly trained epoch is dropped (not validated, not checkpointed): the
            model gets the best completed epoch's weights, and ``last.pt`` still
            describes the last completed epoch, so ``resume=True`` redoes the
            interrupted epoch. If the stop comes with an epoch's last batch, that epoch
            is validated and checkpointed first.
        resume : bool
            Continue from ``checkpoint_dir/last.pt`` when it exists (same config and
            training-set size required); start afresh otherwise.

        Returns
        -------
        result : TrainResult
            History and best weights; the model holds the best weights on return.

        Raises
        ------
        genrecls.exceptions.ParameterError
            On malformed data, or a resume checkpoint from a different run.
        genrecls.exceptions.ModelError
            If the resume checkpoint cannot be read.
        """
        cfg = self.config
        X, y, P = _check_xyp(train, name="train")
        Xv, yv = _check_xy(valid, name="valid") if valid is not None else (None, None)
        if Xv is not None and Xv.shape[1:] != X.shape[1:]:
            raise ParameterError(
                f"valid segments have shape {Xv.shape[1:]}, train segments {X.shape[1:]}"
            )
        n_classes = self._n_classes(X)
        for arr, name in ((y, "train"), (yv, "valid")):
            if arr is not None and arr.max() >= n_classes:
                raise ParameterError(
                    f"{name} y holds class {arr.max()} but the model has {n_classes} outputs"
                )
        if stop is not None and not hasattr(stop, "is_set"):
            raise ParameterError("stop must be a threading.Event (or have is_set())")
        if P is not None and P.shape[1] != n_classes:
            raise ParameterError(
                f"train P has {P.shape[1]} classes but the model has {n_classes} outputs"
            )
        Q = soften(P, temperature=cfg.distill_temperature) if P is not None else None

        device = _model_device(self.model)
        slices = _batch_slices(len(X), cfg.batch_size)
        n_batches = len(slices)
        optimizer = torch.optim.AdamW(
            _param_groups(self.model, cfg.weight_decay), lr=cfg.learning_rate
        )
        scheduler = _make_scheduler(optimizer, config=cfg, total_steps=cfg.epochs * n_batches)

        history: list[EpochEnd] = []
        best_state: dict[str, torch.Tensor] | None = None
        best_epoch: int | None = None
        best_key: tuple[float, float] | None = None  # (accuracy, -loss), larger is better
        bad_epochs = 0
        elapsed_before = 0.0
        start_epoch = 1
        finished = False
        stopped_early = False

        if resume and self.last_path is not None and self.last_path.is_file():
            state = read_training_checkpoint(self.last_path)
            if state.get("format") != _LAST_FORMAT:
                raise ModelError(f"{self.last_path} is not a resume checkpoint")
            if state["config"] != cfg.to_dict():
                raise ParameterError(
                    f"{self.last_path} was written with a different TrainConfig "
                    f"({state['config']}); resume with the same config or start afresh"
                )
            if state["n_train"] != len(X):
                raise ParameterError(
                    f"{self.last_path} was trained on {state['n_train']} segments, "
                    f"this training set has {len(X)}"
                )
            self.model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            history = [EpochEnd.from_dict(h) for h in state["history"]]
            best_state = state["best_state"]
            best_epoch = state["best_epoch"]
            best_key = tuple(state["best_key"]) if state["best_key"] is not None else None
            bad_epochs = state["bad_epochs"]
            elapsed_before = state["elapsed_s"]
            start_epoch = state["epoch"] + 1
            finished = state["finished"]
            stopped_early = state["stopped_early"]

        t0 = time.perf_counter()
        interrupted = stop_requested = False
        epoch = start_epoch
        while not finished and epoch <= cfg.epochs:
            torch.manual_seed(_epoch_seed(cfg.seed, epoch))
            rng = np.random.default_rng([cfg.seed, epoch])
            order = rng.permutation(len(X))
            self.model.train()
            loss_sum = correct = seen = 0.0
            for b, sl in enumerate(slices, start=1):
                idx = order[sl]
                xb = torch.from_numpy(X[idx])
                yb = torch.from_numpy(y[idx])
                targets = F.one_hot(yb, n_classes).float()
                soft = torch.from_numpy(Q[idx]) if Q is not None else None
                xb, targets, soft = self._augment(xb, targets, rng, soft)
                xb, targets, yb = xb.to(device), targets.to(device), yb.to(device)
                logits = self.model(xb)["logits"]
                loss = F.cross_entropy(logits, targets, label_smoothing=cfg.label_smoothing)
                if soft is not None:
                    t = cfg.distill_temperature
                    kd = F.cross_entropy(logits / t, soft.to(device)) * t * t
                    loss = cfg.distill_weight * kd + (1.0 - cfg.distill_weight) * loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                batch_loss = float(loss.item())
                batch_correct = float((logits.argmax(dim=1) == yb).sum().item())
                loss_sum += batch_loss * len(idx)
                correct += batch_correct
                seen += len(idx)
                self._emit(BatchEnd(epoch, b, n_batches, batch_loss, batch_correct / len(idx)))
                if stop is not None and stop.is_set():
                    stop_requested = True
                    break
            if stop_requested and seen < len(X):
                interrupted = True  # a partial epoch: dropped (see ``stop``)
                break

            if Xv is not None:
                v_loss, v_acc, v_f1, cm = self._validate(Xv, yv, n_classes)
                key = (v_acc, -v_loss)
            else:
                v_loss = v_acc = v_f1 = cm = None
                key = None
            is_best = key is None or best_key is None or key > best_key
            if is_best:
                best_key, best_epoch = key, epoch
                best_state = _clone_state(self.model)
                bad_epochs = 0
            else:
                bad_epochs += 1
            elapsed = elapsed_before + time.perf_counter() - t0
            eta = elapsed / epoch * (cfg.epochs - epoch)
            event = EpochEnd(
                epoch=epoch,
                n_epochs=cfg.epochs,
                train_loss=loss_sum / seen,
                train_accuracy=correct / seen,
                valid_loss=v_loss,
                valid_accuracy=v_acc,
                valid_macro_f1=v_f1,
                confusion=cm,
                elapsed_s=elapsed,
                eta_s=eta,
                is_best=is_best,
            )
            history.append(event)
            if Xv is not None and cfg.patience is not None and bad_epochs >= cfg.patience:
                stopped_early = epoch < cfg.epochs
            finished = stopped_early or epoch == cfg.epochs
            if is_best:
                self._write_best(epoch, event, best_state)
            if self.last_path is not None:
                atomic_torch_save(
                    {
                        "format": _LAST_FORMAT,
                        "version": _STATE_VERSION,
                        "config": cfg.to_dict(),
                        "n_train": len(X),
                        "epoch": epoch,
                        "finished": finished,
                        "stopped_early": stopped_early,
                        "model": _clone_state(self.model),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "history": [h.to_dict() for h in history],
                        "best_state": best_state,
                        "best_epoch": best_epoch,
                        "best_key": list(best_key) if best_key is not None else None,
                        "bad_epochs": bad_epochs,
                        "elapsed_s": elapsed,
                    },
                    self.last_path,
                )
            self._emit(event)
            if stop_requested and not finished:
                interrupted = True  # stopped right after an epoch's last batch
                break
            epoch += 1

        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.model.eval()
        best = next((h for h in history if h.epoch == best_epoch), None)
        checkpoint_path = (
            self.best_path
            if self.best_path is not None and best_epoch is not None and self.best_path.is_file()
            else None
        )
        self._emit(
            TrainingDone(
                best_epoch=best_epoch,
                best_valid_accuracy=best.valid_accuracy if best is not None else None,
                stopped_early=stopped_early,
                checkpoint_path=checkpoint_path,
                interrupted=interrupted,
            )
        )
        return TrainResult(
            history=history,
            best_state_dict=best_state,
            best_epoch=best_epoch,
            best=best,
            stopped_early=stopped_early,
            interrupted=interrupted,
            checkpoint_path=checkpoint_path,
        )
