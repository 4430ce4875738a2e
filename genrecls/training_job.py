"""Training runs that outlive the page: one background thread per run, polled for state.

A web page is re-executed on every click, so a training loop cannot live in it. A
:class:`TrainingJob` owns a daemon thread that prepares the data (log-mel segments,
optional waveform augmentations, pretrained-backbone features), runs
:class:`genrecls.train.Trainer` once per validation fold, and records every event in a
history guarded by a lock. The page keeps the job object in its own session state and
redraws from :meth:`TrainingJob.snapshot` (a consistent copy) as often as it likes; the
job never calls the page. Two sessions hold two job objects and never share one.

:func:`leakage_demo` trains the same small model on a song-level split and on a
segment-level random split of the same data, to show how much a leaky split inflates
validation accuracy. :class:`BackgroundTask` runs such a one-off computation in a thread
in the same pollable way.

Nothing here imports streamlit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from genrecls.augment import WaveformAugmentation
from genrecls.checkpoint import save_model, user_model_path
from genrecls.config import PROJECT_ROOT
from genrecls.data import (
    DEFAULT_CACHE_DIR,
    SegmentDataset,
    Track,
    build_segment_dataset,
    group_holdout,
    group_kfold,
    random_segment_split,
)
from genrecls.evaluate import (
    aggregate_segments,
    apply_temperature,
    confusion_figure_png,
    evaluate_predictions,
    fit_temperature,
)
from genrecls.exceptions import DataError, GenreclsError, ModelError, ParameterError
from genrecls.features import FeatureConfig
from genrecls.model_card import write_json_atomic
from genrecls.models.cnn import CompactCNN
from genrecls.train import BatchEnd, EpochEnd, TrainConfig, Trainer, TrainingDone, predict_logits

__all__ = [
    "ARCHITECTURES",
    "MIN_CLIPS_PER_CLASS",
    "BackgroundTask",
    "StopRequested",
    "JobConfig",
    "JobSnapshot",
    "TrainingJob",
    "data_overview",
    "leakage_demo",
    "prepare_segments",
]

Architecture = Literal["cnn", "musicnn_frozen", "musicnn_finetune"]
Status = Literal["preparing", "training", "stopping", "done", "failed"]

#: Architectures a job can train, with the name people see.
ARCHITECTURES: dict[str, str] = {
    "cnn": "Compact CNN from scratch (Choi et al., 2016)",
    "musicnn_frozen": "Pretrained musicnn, frozen backbone: train the head only",
    "musicnn_finetune": "Pretrained musicnn, fine-tuned end to end (slow on a CPU)",
}

#: Below this many clips (songs) a class gets a warning: too few to learn or to validate.
MIN_CLIPS_PER_CLASS = 5

#: Where jobs keep their per-fold checkpoints unless told otherwise (git-ignored).
DEFAULT_WORK_ROOT: Path = PROJECT_ROOT / ".cache" / "training_jobs"

_FEATURE_CACHE = "musicnn_features"


# --------------------------------------------------------------------------------------
# configuration


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class JobConfig:
    """Everything a training run is set up with (apart from the data).

    Parameters
    ----------
    architecture : {"cnn", "musicnn_frozen", "musicnn_finetune"}
        :class:`~genrecls.models.cnn.CompactCNN` from scratch; pretrained musicnn with a
        new linear head on a frozen backbone (its features are computed once, then only
        the head trains: fast); or musicnn fine-tuned end to end (slow on a CPU).
    train : TrainConfig
        Epochs, batch size, learning rate, SpecAugment, mixup, ...
    validation : {"holdout", "kfold"}
        One song-grouped hold-out split, or ``n_folds`` song-grouped folds (one model per
        fold; the best fold's model is kept and the mean over folds reported).
    valid_fraction : float in (0, 1)
        Share of each class's songs held out (``"holdout"``).
    n_folds : int >= 2
        Folds (``"kfold"``).
    split_seed : int >= 0
        Seed of the split.
    stretch_rates : tuple of float
        Time-stretch variants added to the training songs (e.g. ``(0.9, 1.1)``).
    pitch_steps : tuple of float
        Pitch-shift variants in semitones (e.g. ``(-2, 2)``).
    cnn_channels : tuple of int
        Channels of the CompactCNN blocks.
    max_seconds : float > 0 or None
        Seconds read from the start of each file.
    feature_config : FeatureConfig
        Front end (the musicnn architectures need the default).
    n_threads : int > 0
        CPU threads of the training thread (``torch.set_num_threads`` inside it; with
        PyTorch's OpenMP backend this applies to that thread only, so the app's other
        work keeps its own setting). One thread is the default: on a small shared
        machine more threads fight over the cores and slow everything down.
    """

    architecture: Architecture = "cnn"
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=8, batch_size=16, learning_rate=3e-3)
    )
    validation: Literal["holdout", "kfold"] = "holdout"
    valid_fraction: float = 0.25
    n_folds: int = 4
    split_seed: int = 0
    stretch_rates: tuple[float, ...] = ()
    pitch_steps: tuple[float, ...] = ()
    cnn_channels: tuple[int, ...] = (8, 16, 32, 32)
    max_seconds: float | None = 30.0
    feature_config: FeatureConfig = field(default_factory=FeatureConfig)
    n_threads: int = 1

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ParameterError(
                f"architecture must be one of {sorted(ARCHITECTURES)}, got {self.architecture!r}"
            )
        if not isinstance(self.train, TrainConfig):
            raise ParameterError(f"train must be a TrainConfig, got {type(self.train).__name__}")
        if self.validation not in ("holdout", "kfold"):
            raise ParameterError(
                f"validation must be 'holdout' or 'kfold', got {self.validation!r}"
            )
        if isinstance(self.valid_fraction, bool) or not 0 < float(self.valid_fraction) < 1:
            raise ParameterError(f"valid_fraction must lie in (0, 1), got {self.valid_fraction}")
        if not _is_int(self.n_folds) or self.n_folds < 2:
            raise ParameterError(f"n_folds must be an integer >= 2, got {self.n_folds!r}")
        if not _is_int(self.n_threads) or self.n_threads <= 0:
            raise ParameterError(f"n_threads must be a positive integer, got {self.n_threads!r}")
        if not _is_int(self.split_seed) or self.split_seed < 0:
            raise ParameterError(f"split_seed must be an integer >= 0, got {self.split_seed!r}")
        object.__setattr__(self, "stretch_rates", tuple(float(r) for r in self.stretch_rates))
        object.__setattr__(self, "pitch_steps", tuple(float(s) for s in self.pitch_steps))
        object.__setattr__(self, "cnn_channels", tuple(self.cnn_channels))
        WaveformAugmentation(
            sr=self.feature_config.sr,
            stretch_rates=self.stretch_rates,
            pitch_steps=self.pitch_steps,
        )  # validates them
        if not self.cnn_channels or not all(_is_int(c) and c > 0 for c in self.cnn_channels):
            raise ParameterError(f"cnn_channels must be positive integers, got {self.cnn_channels}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ParameterError(f"max_seconds must be > 0 or None, got {self.max_seconds}")
        if not isinstance(self.feature_config, FeatureConfig):
            raise ParameterError("feature_config must be a FeatureConfig")
        if self.architecture != "cnn" and self.feature_config != FeatureConfig():
            raise ParameterError(
                "the pretrained musicnn backbone needs the default FeatureConfig "
                "(16 kHz, 96 mel bands, log compression)"
            )
        if self.architecture == "musicnn_frozen" and self.train.spec_augment:
            raise ParameterError(
                "SpecAugment masks spectrograms, but a frozen backbone trains its head on "
                "precomputed features; switch SpecAugment off or fine-tune the backbone"
            )

    @property
    def augmentation(self) -> WaveformAugmentation | None:
        """The waveform variants to precompute, or None."""
        if not (self.stretch_rates or self.pitch_steps):
            return None
        return WaveformAugmentation(
            sr=self.feature_config.sr,
            stretch_rates=self.stretch_rates,
            pitch_steps=self.pitch_steps,
        )

    def to_dict(self) -> dict:
        """Return the settings as plain values (for model cards)."""
        values = dataclasses.asdict(self)
        values["train"] = self.train.to_dict()
        values["feature_config"] = self.feature_config.to_dict()
        for key in ("stretch_rates", "pitch_steps", "cnn_channels"):
            values[key] = list(values[key])
        return values


# --------------------------------------------------------------------------------------
# data


def data_overview(
    tracks: Sequence[Track], *, min_clips: int = MIN_CLIPS_PER_CLASS
) -> tuple[pd.DataFrame, list[str]]:
    """Count clips and songs per class, and say which classes are too small.

    Parameters
    ----------
    tracks : sequence of Track
        The training data.
    min_clips : int > 0
        Fewer songs than this in a class gives a warning.

    Returns
    -------
    table : pandas.DataFrame
        One row per class (``class``, ``clips``, ``songs``), in label order.
    warnings : list of str
        One sentence per problem (too few songs in a class, a single class).
    """
    clips = Counter(t.label for t in tracks)
    songs = Counter(label for label, _ in {(t.label, t.group) for t in tracks})
    labels = sorted(clips)
    table = pd.DataFrame(
        {
            "class": labels,
            "clips": [clips[c] for c in labels],
            "songs": [songs[c] for c in labels],
        }
    )
    problems = []
    if len(labels) < 2:
        problems.append(f"Only {len(labels)} class: a classifier needs at least two.")
    for c in labels:
        if songs[c] < 2:
            problems.append(
                f"Class '{c}' has {songs[c]} song: it can never be validated on an unseen song."
            )
        elif songs[c] < min_clips:
            problems.append(
                f"Class '{c}' has only {songs[c]} songs (fewer than {min_clips}): its "
                "validation score rests on one or two songs and will be noisy."
            )
    return table, problems


def _concat(
    parts: list[tuple[int, SegmentDataset]], tracks: list[Track], template: SegmentDataset
) -> SegmentDataset:
    if not parts:
        return template
    return dataclasses.replace(
        template,
        X=np.concatenate([p.X for _, p in parts]),
        y=np.concatenate([p.y for _, p in parts]),
        groups=np.concatenate([p.groups for _, p in parts]),
        track_index=np.concatenate([p.track_index + offset for offset, p in parts]),
        starts=np.concatenate([p.starts for _, p in parts]),
        variants=np.concatenate([p.variants for _, p in parts]),
        tracks=tracks,
        skipped=[s for _, p in parts for s in p.skipped],
    )


class StopRequested(GenreclsError):
    """Work was stopped on request before it produced a result."""


def prepare_segments(
    tracks: Sequence[Track],
    *,
    labels: Sequence[str],
    config: FeatureConfig,
    max_seconds: float | None = 30.0,
    augmentation: WaveformAugmentation | None = None,
    cache_dir: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    chunk: int = 4,
) -> SegmentDataset:
    """Compute (or read from the cache) the segments of ``tracks``, a few at a time.

    :func:`genrecls.data.build_segment_dataset` in chunks, so that progress can be
    reported and a stop request honoured between chunks. Undecodable files are skipped
    (listed in :attr:`~genrecls.data.SegmentDataset.skipped`).

    Parameters
    ----------
    tracks : sequence of Track
        What to compute.
    labels : sequence of str
        Class names (``y`` indexes into them).
    config : FeatureConfig
        Front end.
    max_seconds : float > 0 or None
        Seconds decoded per file.
    augmentation : WaveformAugmentation or None
        Waveform variants computed beside the originals.
    cache_dir : pathlib.Path or None
        Segment cache (None: :data:`genrecls.data.DEFAULT_CACHE_DIR`).
    on_progress : callable or None
        Called as ``on_progress(done, total)`` after every chunk.
    stop : threading.Event or None
        Checked between chunks.
    chunk : int > 0
        Tracks per chunk.

    Returns
    -------
    dataset : SegmentDataset

    Raises
    ------
    genrecls.exceptions.DataError
        No track could be decoded.
    StopRequested
        ``stop`` was set.
    """
    tracks = list(tracks)
    if not tracks:
        raise DataError("there is no audio to train on")
    variants = augmentation.variants() if augmentation is not None else None
    parts: list[tuple[int, SegmentDataset]] = []
    template = None
    for start in range(0, len(tracks), chunk):
        if stop is not None and stop.is_set():
            raise StopRequested("preparing the data was stopped")
        part = build_segment_dataset(
            tracks[start : start + chunk],
            config=config,
            cache_dir=cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR,
            labels=labels,
            max_seconds=max_seconds,
            augment_variants=variants,
            progress=False,
            on_error="skip",
        )
        template = template or part
        parts.append((start, part))
        if on_progress is not None:
            on_progress(min(start + chunk, len(tracks)), len(tracks))
    dataset = _concat(parts, tracks, template)
    if len(dataset) == 0:
        reasons = "; ".join(f"{p.name}: {r}" for p, r in dataset.skipped[:3])
        raise DataError(f"none of the {len(tracks)} files could be decoded ({reasons})")
    return dataset


def _split_folds(dataset: SegmentDataset, config: JobConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Song-grouped (train, valid) segment indices; augmented variants only in train."""
    original = np.flatnonzero(dataset.is_original)
    groups = dataset.groups[original]
    labels = dataset.y[original].astype(str)
    if config.validation == "holdout":
        folds = [
            group_holdout(
                groups,
                labels,
                valid_fraction=config.valid_fraction,
                seed=config.split_seed,
            )
        ]
    else:
        n_groups = len(set(groups.tolist()))
        if config.n_folds > n_groups:
            raise DataError(
                f"{config.n_folds}-fold validation needs at least {config.n_folds} songs; "
                f"the data has {n_groups}"
            )
        folds = group_kfold(groups, labels, n_splits=config.n_folds, seed=config.split_seed)
    out = []
    for _train, va in folds:
        if len(va) == 0:
            raise DataError(
                "no class has two songs, so nothing can be held out for validation; "
                "add more songs per class"
            )
        valid_groups = set(groups[va].tolist())
        train_idx = np.flatnonzero(~np.isin(dataset.groups, sorted(valid_groups)))
        out.append((train_idx, original[va]))
    return out


# --------------------------------------------------------------------------------------
# models


def _cnn_kwargs(config: JobConfig, n_classes: int) -> dict[str, Any]:
    n = len(config.cnn_channels)
    pools = ((2, 4),) + ((2, 2),) * (n - 1)
    return {
        "n_mels": config.feature_config.n_mels,
        "n_classes": n_classes,
        "channels": tuple(config.cnn_channels),
        "pools": pools,
        "dropout": 0.3,
    }


def _musicnn_kwargs(config: JobConfig, n_classes: int) -> dict[str, Any]:
    return {
        "n_classes": n_classes,
        "n_mels": config.feature_config.n_mels,
        "feature": "pooled",
        "dropout": 0.0,
        "freeze_backbone": config.architecture == "musicnn_frozen",
    }


class _HeadOnly(nn.Module):
    """The head of a :class:`MusicnnClassifier` on precomputed features ``[B, D, 1]``.

    Shares the classifier's head module, so training this trains the classifier's head;
    its state dict holds only the head (cheap to copy every epoch).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.head = model.head
        self.n_classes = model.head.out_features
        self._model = [model]  # not a submodule: keeps the backbone out of state_dict()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self._model[0].head_logits(x[:, :, 0])  # [B, D, 1] -> [B, n_classes]
        return {"logits": logits}


# --------------------------------------------------------------------------------------
# snapshots


@dataclass(frozen=True, eq=False)
class JobSnapshot:
    """A consistent copy of a job's state, for drawing.

    Attributes
    ----------
    status : {"preparing", "training", "stopping", "done", "failed"}
    message : str
        What is happening now, in words.
    error : str or None
        Why the job failed.
    labels : tuple of str
        Class names.
    prep_done, prep_total : int
        Units of data preparation done and planned (files, then feature batches).
    batches : pandas.DataFrame
        One row per training batch: ``fold``, ``epoch``, ``batch``, ``step`` (global
        batch number within the fold), ``epoch_progress`` (epochs as a real number),
        ``loss``, ``accuracy``.
    epochs : pandas.DataFrame
        One row per epoch: ``fold``, ``epoch``, ``train_loss``, ``train_accuracy``,
        ``valid_loss``, ``valid_accuracy``, ``valid_macro_f1``, ``is_best``,
        ``elapsed_s``.
    confusion : np.ndarray [shape=(n_classes, n_classes)] or None
        The latest validation confusion matrix.
    fold, n_folds : int
        Current fold (from 1) and number of folds.
    n_epochs : int
        Planned epochs per fold.
    elapsed_s : float
        Seconds since the job started.
    eta_s : float or None
        Estimated seconds left (None until the first batches are done).
    progress : float in [0, 1]
        Share of the planned training batches done.
    result : dict or None
        Summary once done (validation metrics, best epoch, folds).
    stopped : bool
        A stop was requested.
    can_save : bool
        A trained model is available to save.
    saved_path : pathlib.Path or None
        Where the model was last saved.
    warnings : tuple of str
        Things worth telling (skipped files, small classes).
    """

    status: Status
    message: str
    error: str | None
    labels: tuple[str, ...]
    prep_done: int
    prep_total: int
    batches: pd.DataFrame
    epochs: pd.DataFrame
    confusion: np.ndarray | None
    fold: int
    n_folds: int
    n_epochs: int
    elapsed_s: float
    eta_s: float | None
    progress: float
    result: dict | None
    stopped: bool
    can_save: bool
    saved_path: Path | None
    warnings: tuple[str, ...]

    @property
    def running(self) -> bool:
        """True while the thread works (preparing, training or stopping)."""
        return self.status in ("preparing", "training", "stopping")


_BATCH_COLUMNS = ["fold", "epoch", "batch", "step", "epoch_progress", "loss", "accuracy"]
_EPOCH_COLUMNS = [
    "fold",
    "epoch",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_accuracy",
    "valid_macro_f1",
    "is_best",
    "elapsed_s",
]


# --------------------------------------------------------------------------------------
# the job


class TrainingJob:
    """One training run in a background thread, observable and stoppable.

    Parameters
    ----------
    tracks : sequence of Track
        Labelled audio (tracks with role ``"test"`` are left out: they are never used
        for training or model selection).
    config : JobConfig
        Architecture, training and validation settings.
    labels : sequence of str or None
        Class names in output order; None uses the sorted labels of ``tracks``.
    data_name : str
        How the data is described in the model card ("built-in synthesized set", ...).
    cache_dir : pathlib.Path or None
        Segment cache (None: :data:`genrecls.data.DEFAULT_CACHE_DIR`); pretrained features
        are cached in a subfolder.
    work_dir : pathlib.Path or None
        Folder for the per-fold checkpoints; None creates a fresh one under
        :data:`DEFAULT_WORK_ROOT`. Removed by :meth:`cleanup`.

    Examples
    --------
    >>> job = TrainingJob(tracks, config=JobConfig()).start()  # doctest: +SKIP
    >>> job.snapshot().status  # doctest: +SKIP
    'preparing'
    >>> job.wait(timeout=120); job.save("my-model")  # doctest: +SKIP
    """

    def __init__(
        self,
        tracks: Sequence[Track],
        *,
        config: JobConfig,
        labels: Sequence[str] | None = None,
        data_name: str = "",
        cache_dir: Path | None = None,
        work_dir: Path | None = None,
    ) -> None:
        if not isinstance(config, JobConfig):
            raise ParameterError(f"config must be a JobConfig, got {type(config).__name__}")
        all_tracks = list(tracks)
        self.tracks = [t for t in all_tracks if t.role == "train"]
        if not self.tracks:
            raise DataError("there is no training audio (every track has the test role)")
        self.labels = (
            tuple(labels) if labels is not None else tuple(sorted({t.label for t in self.tracks}))
        )
        if len(self.labels) < 2:
            raise DataError(f"training needs at least two classes, got {list(self.labels)}")
        foreign = sorted({t.label for t in self.tracks} - set(self.labels))
        if foreign:
            raise ParameterError(f"track labels {foreign} are not among the labels")
        self.config = config
        self.data_name = data_name
        self.cache_dir = cache_dir
        self.n_test_left_out = len(all_tracks) - len(self.tracks)
        if work_dir is None:
            DEFAULT_WORK_ROOT.mkdir(parents=True, exist_ok=True)
            work_dir = Path(tempfile.mkdtemp(prefix="job-", dir=DEFAULT_WORK_ROOT))
        self.work_dir = Path(work_dir)
        self.id = self.work_dir.name

        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: Status = "preparing"
        self._message = "Waiting to start"
        self._error: str | None = None
        self._prep = (0, len(self.tracks))
        self._batches: list[tuple] = []
        self._epochs: list[tuple] = []
        self._confusion: np.ndarray | None = None
        self._fold = 1
        self._n_folds = config.n_folds if config.validation == "kfold" else 1
        self._n_batches_per_epoch: int | None = None
        self._started = time.monotonic()
        self._train_started: float | None = None
        self._finished: float | None = None
        self._result: dict | None = None
        self._final: dict | None = None  # model + everything save() needs
        self._saved_path: Path | None = None
        self._warnings: list[str] = data_overview(self.tracks)[1]

    # -- public API -------------------------------------------------------------------

    def start(self) -> TrainingJob:
        """Start the background thread (once); return the job."""
        with self._lock:
            if self._thread is not None:
                raise ParameterError("this job was already started")
            self._started = time.monotonic()
            self._message = "Starting"
            self._thread = threading.Thread(
                target=self._run, name=f"genrecls-train-{self.id}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the run to stop after the current batch; the best epoch so far is kept."""
        self._stop.set()
        with self._lock:
            if self._status in ("preparing", "training"):
                self._status = "stopping"
                self._message = "Stopping after the current batch…"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; return True when it has."""
        if self._thread is None:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def status(self) -> Status:
        """Current status."""
        with self._lock:
            return self._status

    def snapshot(self) -> JobSnapshot:
        """Return a consistent copy of the job's state (cheap; call it every second)."""
        with self._lock:
            now = self._finished or time.monotonic()
            batches = pd.DataFrame(self._batches, columns=_BATCH_COLUMNS)
            epochs = pd.DataFrame(self._epochs, columns=_EPOCH_COLUMNS)
            eta, progress = self._eta_locked(now)
            return JobSnapshot(
                status=self._status,
                message=self._message,
                error=self._error,
                labels=self.labels,
                prep_done=self._prep[0],
                prep_total=self._prep[1],
                batches=batches,
                epochs=epochs,
                confusion=None if self._confusion is None else self._confusion.copy(),
                fold=self._fold,
                n_folds=self._n_folds,
                n_epochs=self.config.train.epochs,
                elapsed_s=now - self._started,
                eta_s=eta,
                progress=progress,
                result=None if self._result is None else dict(self._result),
                stopped=self._stop.is_set(),
                can_save=self._final is not None,
                saved_path=self._saved_path,
                warnings=tuple(self._warnings),
            )

    def save(self, name: str, *, overwrite: bool = False) -> Path:
        """Save the trained model under the user-models folder, with its model card.

        Writes ``<name>.pt`` (:func:`genrecls.checkpoint.save_model`),
        ``<name>.card.json`` (data, settings, measured validation metrics, confusion
        matrix) and ``<name>.confusion.png`` in
        :func:`genrecls.config.user_models_dir`; never in the bundled ``models/``.

        Parameters
        ----------
        name : str
            Model name (:func:`genrecls.checkpoint.safe_model_name`).
        overwrite : bool
            Replace an existing user model of that name.

        Returns
        -------
        path : pathlib.Path
            The model file.

        Raises
        ------
        genrecls.exceptions.ParameterError
            Invalid name, or the name is taken and ``overwrite`` is False.
        genrecls.exceptions.ModelError
            No trained model yet (still running, failed, or stopped before one epoch).
        """
        path = user_model_path(name)
        with self._lock:
            final = self._final
            result = None if self._result is None else dict(self._result)
        if final is None or result is None:
            raise ModelError("there is no trained model to save yet")
        if path.exists() and not overwrite:
            raise ParameterError(f"a model called {name!r} exists already; choose another name")
        card = self._card(name, result)
        save_model(
            path,
            model=final["model"],
            architecture=final["architecture"],
            arch_kwargs=final["arch_kwargs"],
            feature_config=self.config.feature_config,
            labels=self.labels,
            temperature=final["temperature"],
            metadata={
                "name": name,
                "trained_on": self.data_name,
                "created": card["created"],
                "validation": card["validation"]["summary"],
                "settings": card["settings"],
            },
        )
        png = path.with_suffix(".confusion.png")
        confusion_figure_png(
            np.asarray(result["confusion"]),
            labels=self.labels,
            path=png,
            title=f"{name}: validation confusion",
        )
        card["files"] = {"model": path.name, "confusion_png": png.name}
        write_json_atomic(path.with_suffix(".card.json"), card)
        with self._lock:
            self._saved_path = path
        return path

    def cleanup(self) -> None:
        """Remove the job's checkpoint folder (after the thread has ended)."""
        if self._thread is None or not self._thread.is_alive():
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- state updates from the worker thread -----------------------------------------

    def _eta_locked(self, now: float) -> tuple[float | None, float]:
        per_epoch = self._n_batches_per_epoch
        if per_epoch is None or self._train_started is None:
            return None, 0.0
        planned = self._n_folds * self.config.train.epochs * per_epoch
        done = len(self._batches)
        progress = min(1.0, done / planned) if planned else 0.0
        if self._status in ("done", "failed"):
            return 0.0, progress
        if done == 0:
            return None, progress
        rate = (now - self._train_started) / done
        return rate * (planned - done), progress

    def _set(self, **values: Any) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self, f"_{key}", value)

    def _on_prep(self, done: int, total: int, what: str) -> None:
        with self._lock:
            self._prep = (done, total)
            if self._status != "stopping":
                self._message = f"{what} {done}/{total}"

    def _on_event(self, event: BatchEnd | EpochEnd | TrainingDone) -> None:
        with self._lock:
            fold = self._fold
            if isinstance(event, BatchEnd):
                if self._n_batches_per_epoch is None:
                    self._n_batches_per_epoch = event.n_batches
                step = (event.epoch - 1) * event.n_batches + event.batch
                self._batches.append(
                    (
                        fold,
                        event.epoch,
                        event.batch,
                        step,
                        event.epoch - 1 + event.batch / event.n_batches,
                        event.loss,
                        event.accuracy,
                    )
                )
                if self._status == "training":
                    self._message = (
                        f"Fold {fold}/{self._n_folds} · " if self._n_folds > 1 else ""
                    ) + (
                        f"epoch {event.epoch}/{self.config.train.epochs}, "
                        f"batch {event.batch}/{event.n_batches}"
                    )
            elif isinstance(event, EpochEnd):
                self._epochs.append(
                    (
                        fold,
                        event.epoch,
                        event.train_loss,
                        event.train_accuracy,
                        event.valid_loss,
                        event.valid_accuracy,
                        event.valid_macro_f1,
                        event.is_best,
                        event.elapsed_s,
                    )
                )
                if event.confusion is not None:
                    self._confusion = np.asarray(event.confusion).copy()

    # -- the worker -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            torch.set_num_threads(self.config.n_threads)
            self._work()
        except StopRequested:
            self._set(status="done", message="Stopped before training began: no model.")
        except GenreclsError as exc:
            self._set(status="failed", error=str(exc), message="Failed")
        except Exception as exc:  # an unexpected bug: keep the traceback for the page
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._set(status="failed", error=f"unexpected error: {detail}", message="Failed")
            traceback.print_exc()
        finally:
            with self._lock:
                self._finished = time.monotonic()

    def _work(self) -> None:
        cfg = self.config
        dataset = prepare_segments(
            self.tracks,
            labels=self.labels,
            config=cfg.feature_config,
            max_seconds=cfg.max_seconds,
            augmentation=cfg.augmentation,
            cache_dir=self.cache_dir,
            on_progress=lambda d, t: self._on_prep(d, t, "Computing spectrograms"),
            stop=self._stop,
        )
        if dataset.skipped:
            with self._lock:
                self._warnings.append(
                    f"{len(dataset.skipped)} file(s) could not be decoded and were left out, "
                    f"e.g. {dataset.skipped[0][0].name}: {dataset.skipped[0][1]}"
                )
        folds = _split_folds(dataset, cfg)

        features = None
        backbone_state = None
        if cfg.architecture.startswith("musicnn"):
            from genrecls.pretrained import load_musicnn

            backbone = load_musicnn(which="msd")
            backbone_state = backbone.state_dict()
            # Frozen: the head trains on these. Fine-tuned: they give the head's input
            # standardisation at the start (one pass; cached on disk for the next run).
            features = self._backbone_features(backbone, dataset)

        with self._lock:
            if self._status != "stopping":
                self._status = "training"
                self._message = "Training"
            self._train_started = time.monotonic()

        best: dict | None = None
        fold_results = []
        for k, (train_idx, valid_idx) in enumerate(folds, start=1):
            if self._stop.is_set():
                break
            with self._lock:
                self._fold = k
            outcome = self._train_fold(
                dataset, train_idx, valid_idx, features=features, backbone_state=backbone_state
            )
            if outcome is None:  # stopped before the fold's first epoch ended
                break
            fold_results.append(outcome)
            if best is None or outcome["valid_accuracy"] > best["valid_accuracy"]:
                if best is not None:
                    best.pop("model")  # keep one network in memory, not one per fold
                best = outcome
            else:
                outcome.pop("model")

        if best is None:
            self._set(
                status="done",
                message="Stopped before the first epoch ended: no model to save.",
            )
            return
        result = self._summarise(dataset, folds, fold_results, best)
        with self._lock:
            self._final = best
            self._result = result
            self._status = "done"
            stopped = self._stop.is_set()
            self._message = (
                "Stopped; the best epoch so far is kept." if stopped else "Training finished."
            )

    def _backbone_features(self, backbone: nn.Module, dataset: SegmentDataset) -> np.ndarray:
        """Pooled musicnn features of every segment, cached per track on disk."""
        cache = (self.cache_dir or DEFAULT_CACHE_DIR) / _FEATURE_CACHE
        cache.mkdir(parents=True, exist_ok=True)
        out = np.zeros((len(dataset), 1506), np.float32)
        keys = np.char.add(
            dataset.track_index.astype(str), np.char.add("|", dataset.variants.astype(str))
        )
        blocks = [np.flatnonzero(keys == k) for k in dict.fromkeys(keys.tolist())]
        for i, idx in enumerate(blocks):
            if self._stop.is_set():
                raise StopRequested("computing the musicnn features was stopped")
            X = np.ascontiguousarray(dataset.X[idx])
            digest = hashlib.sha1(X.view(np.uint8)).hexdigest()[:20]
            path = cache / f"msd_pooled_{digest}.npy"
            try:
                out[idx] = np.load(path)
            except (OSError, ValueError):
                with torch.inference_mode():
                    feats = np.concatenate(
                        [
                            backbone(torch.from_numpy(X[j : j + 16]).transpose(1, 2))[
                                "pooled"
                            ].numpy()
                            for j in range(0, len(X), 16)
                        ]
                    )
                tmp = path.with_name(f".{path.stem}.{threading.get_ident()}.tmp.npy")
                np.save(tmp, feats)
                tmp.replace(path)
                out[idx] = feats
            self._on_prep(i + 1, len(blocks), "Computing musicnn features")
        return out

    def _new_model(self, backbone_state: dict | None) -> tuple[nn.Module, str, dict]:
        cfg = self.config
        n_classes = len(self.labels)
        if cfg.architecture == "cnn":
            kwargs = _cnn_kwargs(cfg, n_classes)
            return CompactCNN(**kwargs), "compact_cnn", kwargs
        from genrecls.models.musicnn_transfer import MusicnnClassifier

        kwargs = _musicnn_kwargs(cfg, n_classes)
        model = MusicnnClassifier(**kwargs)
        model.backbone.load_state_dict(backbone_state)
        return model, "musicnn_transfer", kwargs

    def _train_fold(
        self,
        dataset: SegmentDataset,
        train_idx: np.ndarray,
        valid_idx: np.ndarray,
        *,
        features: np.ndarray | None,
        backbone_state: dict | None,
    ) -> dict | None:
        cfg = self.config
        fold = self._fold
        torch.manual_seed(cfg.train.seed + fold)
        model, architecture, arch_kwargs = self._new_model(backbone_state)
        if features is not None:
            F_train = features[train_idx]
            mean = F_train.mean(axis=0)
            scale = F_train.std(axis=0) + 1e-5
            with torch.no_grad():
                model.feature_mean.copy_(torch.from_numpy(mean))
                model.feature_scale.copy_(torch.from_numpy(scale))
        if cfg.architecture == "musicnn_frozen":
            net: nn.Module = _HeadOnly(model)
            X_train, X_valid = features[train_idx][:, :, None], features[valid_idx][:, :, None]
        else:
            net = model
            X_train, X_valid = dataset.X[train_idx], dataset.X[valid_idx]
        y_train, y_valid = dataset.y[train_idx], dataset.y[valid_idx]
        trainer = Trainer(
            net,
            config=cfg.train,
            on_event=self._on_event,
            checkpoint_dir=self.work_dir / f"fold{fold}",
        )
        result = trainer.fit((X_train, y_train), (X_valid, y_valid), stop=self._stop)
        if result.best is None:
            return None
        # net holds the best weights now (Trainer loads them back).
        logits = predict_logits(net, X_valid, batch_size=cfg.train.batch_size)
        model.eval()
        return {
            "fold": fold,
            "model": model,
            "architecture": architecture,
            "arch_kwargs": arch_kwargs,
            "valid_accuracy": float(result.best.valid_accuracy),
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "valid_idx": valid_idx,
            "train_idx": train_idx,
            "logits": logits,
            "confusion": np.asarray(result.best.confusion),
            "interrupted": result.interrupted,
            "stopped_early": result.stopped_early,
        }

    def _summarise(
        self,
        dataset: SegmentDataset,
        folds: list,
        fold_results: list[dict],
        best: dict,
    ) -> dict:
        labels = self.labels
        y_valid = dataset.y[best["valid_idx"]]
        try:
            temperature = fit_temperature(best["logits"], y_valid)
        except GenreclsError:
            temperature = 1.0
        best["temperature"] = temperature
        probs = apply_temperature(best["logits"], temperature)
        ev = evaluate_predictions(y_valid, probs, labels=labels)
        # Clip level: geometric mean of each clip's segment probabilities.
        tracks = dataset.track_index[best["valid_idx"]]
        clip_probs, clip_y = [], []
        for t in np.unique(tracks):
            rows = tracks == t
            clip_probs.append(aggregate_segments(probs[rows]))
            clip_y.append(y_valid[rows][0])
        clip_ev = evaluate_predictions(np.asarray(clip_y), np.stack(clip_probs), labels=labels)
        accs = [r["valid_accuracy"] for r in fold_results]
        pooled = np.sum([r["confusion"] for r in fold_results], axis=0)
        original = dataset.is_original
        return {
            "fold": best["fold"],
            "best_epoch": best["best_epoch"],
            "epochs_run": best["epochs_run"],
            "interrupted": any(r["interrupted"] for r in fold_results),
            "folds_completed": len(fold_results),
            "n_folds": len(folds),
            "fold_valid_accuracy": accs,
            "mean_valid_accuracy": float(np.mean(accs)),
            "std_valid_accuracy": float(np.std(accs)) if len(accs) > 1 else None,
            "valid_accuracy": ev.accuracy,
            "valid_macro_f1": ev.macro_f1,
            "valid_nll": ev.nll,
            "valid_ece": ev.ece,
            "clip_accuracy": clip_ev.accuracy,
            "temperature": temperature,
            "confusion": ev.confusion.tolist(),
            "pooled_confusion": pooled.tolist(),
            "per_class": ev.per_class.reset_index().to_dict(orient="records"),
            "n_valid_segments": int(len(best["valid_idx"])),
            "n_valid_clips": int(len(np.unique(tracks))),
            "n_train_segments": int(len(best["train_idx"])),
            "n_train_clips": int(len(np.unique(dataset.track_index[best["train_idx"]]))),
            "n_segments": int(original.sum()),
            "n_augmented_segments": int((~original).sum()),
        }

    def _card(self, name: str, result: dict) -> dict:
        table, problems = data_overview(self.tracks)
        cfg = self.config
        summary = {
            k: result[k]
            for k in (
                "valid_accuracy",
                "valid_macro_f1",
                "clip_accuracy",
                "valid_nll",
                "valid_ece",
                "temperature",
                "mean_valid_accuracy",
                "std_valid_accuracy",
                "n_valid_segments",
                "n_valid_clips",
            )
        }
        scheme = (
            f"song-grouped hold-out ({cfg.valid_fraction:.0%} of each class's songs)"
            if cfg.validation == "holdout"
            else f"song-grouped {cfg.n_folds}-fold cross-validation"
        )
        return {
            "name": name,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model": {
                "architecture": ARCHITECTURES[cfg.architecture],
                "labels": list(self.labels),
            },
            "data": {
                "name": self.data_name,
                "classes": table.to_dict(orient="records"),
                "n_clips": len(self.tracks),
                "test_role_left_out": self.n_test_left_out,
                "warnings": problems,
            },
            "settings": cfg.to_dict(),
            "validation": {
                "scheme": scheme,
                "summary": summary,
                "fold": result["fold"],
                "best_epoch": result["best_epoch"],
                "epochs_run": result["epochs_run"],
                "stopped_by_user": result["interrupted"],
                "fold_valid_accuracy": result["fold_valid_accuracy"],
                "confusion": result["confusion"],
                "pooled_confusion_over_folds": result["pooled_confusion"],
                "per_class": result["per_class"],
            },
            "notes": [
                "Validation metrics are segment-level on songs the model never trained on; "
                "the same validation set chose the best epoch and fitted the temperature, "
                "so they are slightly optimistic. No separate test set was used.",
                "Clip accuracy: geometric mean of each validation clip's segment probabilities.",
            ],
        }


# --------------------------------------------------------------------------------------
# leakage demonstration


def _segment_stats(X: np.ndarray) -> np.ndarray:
    """Per-band mean and standard deviation over time: ``[n, 2 * n_mels]``."""
    return np.concatenate([X.mean(axis=2), X.std(axis=2)], axis=1)


def leakage_demo(
    dataset: SegmentDataset,
    *,
    model: Literal["cnn", "linear"] = "cnn",
    epochs: int = 6,
    valid_fraction: float = 0.25,
    seed: int = 0,
    cnn_channels: tuple[int, ...] = (8, 16, 32, 32),
    stop: threading.Event | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> dict:
    """Train one model on a leaky and on a song-grouped split of the same segments.

    The leaky split (:func:`genrecls.data.random_segment_split`) scatters segments at
    random, so most validation segments have a sibling from the same song in training;
    the grouped split (:func:`genrecls.data.group_holdout`) keeps every song on one side.
    Same data, same model, same settings, same validation size: the difference in
    validation accuracy is what the leak adds.

    Parameters
    ----------
    dataset : SegmentDataset
        Segments (only the un-augmented ones are used).
    model : {"cnn", "linear"}
        A small :class:`~genrecls.models.cnn.CompactCNN` trained for ``epochs`` epochs,
        or a logistic regression on per-band log-mel mean and standard deviation
        (seconds; averaged over five seeds).
    epochs : int > 0
        CNN epochs.
    valid_fraction : float in (0, 1)
        Share held out by both splits.
    seed : int
        Seed of the splits and the training.
    cnn_channels : tuple of int
        CNN width.
    stop : threading.Event or None
        Checked after every batch (CNN); a stopped demo raises :class:`StopRequested`.
    on_progress : callable or None
        Called with a sentence about what is being trained.

    Returns
    -------
    report : dict
        ``"random"`` and ``"grouped"``: ``valid_accuracy``, ``n_train``, ``n_valid``,
        ``valid_songs_also_in_train`` (share of validation segments whose song has
        segments in training); ``"gap"`` (random minus grouped accuracy), ``"chance"``
        (share of the most common class in the data), ``"model"``, ``"repeats"``,
        ``"seconds"``.
    """
    if model not in ("cnn", "linear"):
        raise ParameterError(f"model must be 'cnn' or 'linear', got {model!r}")
    if not _is_int(epochs) or epochs <= 0:
        raise ParameterError(f"epochs must be a positive integer, got {epochs!r}")
    t0 = time.perf_counter()
    data = dataset.subset(dataset.is_original)
    n = len(data)
    if n < 4:
        raise DataError(f"the leakage demo needs at least 4 segments, got {n}")
    labels = data.y.astype(str)
    n_classes = len(dataset.labels)
    repeats = 5 if model == "linear" else 1

    def splits(kind: str, s: int) -> tuple[np.ndarray, np.ndarray]:
        if kind == "random":
            return random_segment_split(n, valid_fraction=valid_fraction, seed=s)
        tr, va = group_holdout(data.groups, labels, valid_fraction=valid_fraction, seed=s)
        if len(va) == 0:
            raise DataError("no class has two songs: a song-grouped split is impossible")
        return tr, va

    stats = _segment_stats(data.X) if model == "linear" else None

    def fit_score(tr: np.ndarray, va: np.ndarray, s: int, what: str) -> float:
        if stats is not None:
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            F = stats
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
            clf.fit(F[tr], data.y[tr])
            return float(clf.score(F[va], data.y[va]))
        torch.manual_seed(s)
        net = CompactCNN(
            n_mels=data.X.shape[1],
            n_classes=n_classes,
            channels=tuple(cnn_channels),
            pools=((2, 4),) + ((2, 2),) * (len(cnn_channels) - 1),
        )

        def report(event) -> None:
            if on_progress is not None and isinstance(event, EpochEnd):
                on_progress(f"{what}: epoch {event.epoch}/{epochs} done")

        config = TrainConfig(epochs=epochs, batch_size=16, learning_rate=3e-3, seed=s)
        result = Trainer(net, config=config, on_event=report).fit(
            (data.X[tr], data.y[tr]), (data.X[va], data.y[va]), stop=stop
        )
        if stop is not None and stop.is_set():
            raise StopRequested("the leakage demo was stopped")
        # The last epoch, not the best: picking the best epoch on the validation set
        # would add a selection bias of its own to both numbers.
        return float(result.history[-1].valid_accuracy)

    report: dict[str, Any] = {"model": model, "repeats": repeats, "epochs": epochs}
    for kind in ("random", "grouped"):
        accs, shared, sizes = [], [], []
        for r in range(repeats):
            tr, va = splits(kind, seed + r)
            if on_progress is not None:
                on_progress(f"Training on the {kind} split ({r + 1}/{repeats})")
            accs.append(fit_score(tr, va, seed + r, f"{kind} split"))
            train_groups = set(data.groups[tr].tolist())
            shared.append(float(np.mean([g in train_groups for g in data.groups[va]])))
            sizes.append((len(tr), len(va)))
        report[kind] = {
            "valid_accuracy": float(np.mean(accs)),
            "valid_accuracy_runs": accs,
            "n_train": int(np.mean([s[0] for s in sizes])),
            "n_valid": int(np.mean([s[1] for s in sizes])),
            "valid_songs_also_in_train": float(np.mean(shared)),
        }
    report["gap"] = report["random"]["valid_accuracy"] - report["grouped"]["valid_accuracy"]
    report["chance"] = float(np.bincount(data.y).max() / n)
    report["seconds"] = time.perf_counter() - t0
    return report


# --------------------------------------------------------------------------------------
# a one-off computation in the background


class BackgroundTask:
    """Run ``fn(progress, stop)`` in a daemon thread; poll its state from the page.

    Parameters
    ----------
    fn : callable
        Called as ``fn(progress, stop)`` with ``progress(message: str)`` to report and
        ``stop`` a :class:`threading.Event`; its return value becomes :attr:`result`.
    name : str
        Thread name suffix.
    """

    def __init__(
        self, fn: Callable[[Callable[[str], None], threading.Event], Any], *, name: str = "task"
    ) -> None:
        if not callable(fn):
            raise ParameterError("fn must be callable")
        self._fn = fn
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.status: Literal["running", "done", "failed"] = "running"
        self.message = "Starting"
        self.result: Any = None
        self.error: str | None = None
        self.started = time.monotonic()
        self.finished: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"genrecls-{name}", daemon=True)
        self._thread.start()

    def _progress(self, message: str) -> None:
        with self._lock:
            self.message = message

    def _run(self) -> None:
        try:
            result = self._fn(self._progress, self._stop)
        except GenreclsError as exc:
            with self._lock:
                self.status, self.error = "failed", str(exc)
        except Exception as exc:
            traceback.print_exc()
            with self._lock:
                self.status, self.error = "failed", f"unexpected error: {exc!r}"
        else:
            with self._lock:
                self.status, self.result = "done", result
        finally:
            with self._lock:
                self.finished = time.monotonic()

    @property
    def running(self) -> bool:
        """True until ``fn`` has returned or raised."""
        return self._thread.is_alive()

    @property
    def elapsed_s(self) -> float:
        """Seconds since the start (until the end once finished)."""
        return (self.finished or time.monotonic()) - self.started

    def stop(self) -> None:
        """Set the stop event ``fn`` was given."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the end; True when finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
