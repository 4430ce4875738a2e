"""Model files: save and load a trained classifier with everything needed to use it.

A genrecls model file is a ``torch.save`` of one plain dict::

    {"format": "genrecls-model", "version": 1,
     "architecture": "compact_cnn", "arch_kwargs": {...},
     "feature_config": FeatureConfig.to_dict(), "labels": [...],
     "temperature": 1.0, "metadata": {...}, "state_dict": {...}}

It holds only tensors and plain Python values, so :func:`load_model` reads it with
``torch.load(..., weights_only=True)``: a file cannot run code when it is opened.
The network is rebuilt from :data:`ARCHITECTURES` by name, with the saved constructor
arguments, and the feature configuration travels with the weights, so prediction
recomputes exactly the features the model was trained on.

Files are written atomically (temporary file in the same folder, ``fsync``,
``os.replace``): a crash mid-write never leaves a half-written model under the final name.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genrecls.config import bundled_models_dir, user_models_dir
from genrecls.exceptions import ModelError, ParameterError
from genrecls.features import FeatureConfig
from genrecls.models.cnn import CompactCNN

__all__ = [
    "ARCHITECTURES",
    "FORMAT",
    "MODEL_SUFFIX",
    "VERSION",
    "LoadedModel",
    "atomic_torch_save",
    "get_architecture",
    "load_model",
    "register_architecture",
    "safe_model_name",
    "save_model",
    "user_model_path",
]

#: Value of the ``"format"`` key of every genrecls model file.
FORMAT = "genrecls-model"
#: Current version of the model-file layout.
VERSION = 1
#: File-name suffix of model files.
MODEL_SUFFIX = ".pt"

#: Architecture name → factory called as ``factory(**arch_kwargs)``.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}

#: Architectures imported on first use: name → (module, attribute). Imported lazily so
#: that loading a CompactCNN never needs the optional modules.
_LAZY_ARCHITECTURES: dict[str, tuple[str, str]] = {
    "musicnn_transfer": ("genrecls.models.musicnn_transfer", "MusicnnClassifier"),
    "efficientnet_lite": ("genrecls.models.efficientnet_lite", "EfficientNetLiteGenre"),
}

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_MAX_NAME = 64
# Device names Windows refuses as file names; rejected so model folders stay portable.
_RESERVED_NAMES = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{i}" for i in range(1, 10)]
    + [f"lpt{i}" for i in range(1, 10)]
)


def register_architecture(name: str, factory: Callable[..., nn.Module]) -> None:
    """Make an architecture loadable from model files.

    Parameters
    ----------
    name : str
        Name stored in model files (``"compact_cnn"``); letters, digits and ``_``.
    factory : callable
        Called as ``factory(**arch_kwargs)``; returns the ``nn.Module``.

    Raises
    ------
    genrecls.exceptions.ParameterError
        If the name is malformed or the factory is not callable.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ParameterError(f"architecture name must match [a-z][a-z0-9_]*, got {name!r}")
    if not callable(factory):
        raise ParameterError(f"factory for {name!r} is not callable: {factory!r}")
    ARCHITECTURES[name] = factory


register_architecture("compact_cnn", CompactCNN)


def get_architecture(name: str) -> Callable[..., nn.Module]:
    """Return the factory of a registered architecture, importing lazy ones on demand.

    Raises
    ------
    genrecls.exceptions.ModelError
        If no architecture of that name exists (or its module cannot be imported).
    """
    if name in ARCHITECTURES:
        return ARCHITECTURES[name]
    if name in _LAZY_ARCHITECTURES:
        module_name, attribute = _LAZY_ARCHITECTURES[name]
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ModelError(
                f"architecture {name!r} needs {module_name}.{attribute}, which is not "
                f"available: {exc}"
            ) from exc
        register_architecture(name, factory)
        return factory
    known = sorted(set(ARCHITECTURES) | set(_LAZY_ARCHITECTURES))
    raise ModelError(f"unknown architecture {name!r}; known: {', '.join(known)}")


# --------------------------------------------------------------------------------------
# Atomic writes


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically.

    Writes a temporary file in the destination folder, flushes and ``fsync``-s it, then
    ``os.replace``-s it over ``path``; the folder is created if needed. On any error
    the temporary file is removed and ``path`` is left as it was.

    Returns
    -------
    path : pathlib.Path
        The written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    # Make the rename itself durable (POSIX; not possible on every platform).
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


# --------------------------------------------------------------------------------------
# Validation of what goes into a file

_PLAIN_SCALARS = (str, int, float, bool, type(None))


def _check_plain(value: Any, *, where: str) -> Any:
    """Return ``value`` with numpy scalars turned into Python ones; reject other types.

    Only values ``torch.load(weights_only=True)`` can read back are allowed: str, int,
    float, bool, None, and lists / tuples / str-keyed dicts of them.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, _PLAIN_SCALARS):
        return value
    if isinstance(value, list | tuple):
        items = [_check_plain(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ParameterError(f"{where} keys must be strings, got {k!r}")
            out[k] = _check_plain(v, where=f"{where}[{k!r}]")
        return out
    raise ParameterError(
        f"{where} must hold only str, int, float, bool, None, lists and dicts; "
        f"got {type(value).__name__}"
    )


def _check_labels(labels: Sequence[str]) -> list[str]:
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise ParameterError(f"labels must be a sequence of strings, got {labels!r}")
    labels = list(labels)
    if not labels:
        raise ParameterError("labels is empty")
    if not all(isinstance(label, str) and label for label in labels):
        raise ParameterError(f"labels must be non-empty strings, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise ParameterError(f"labels must be unique, got {labels!r}")
    return labels


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float | np.floating):
        raise ParameterError(f"temperature must be a number, got {temperature!r}")
    temperature = float(temperature)
    if not (np.isfinite(temperature) and temperature > 0):
        raise ParameterError(f"temperature must be finite and > 0, got {temperature}")
    return temperature


def _check_n_classes(model: nn.Module, labels: list[str]) -> None:
    n_classes = getattr(model, "n_classes", None)
    if n_classes is not None and n_classes != len(labels):
        raise ParameterError(
            f"the model has {n_classes} outputs but {len(labels)} labels were given"
        )


# --------------------------------------------------------------------------------------
# Save / load


def save_model(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    architecture: str,
    arch_kwargs: Mapping[str, Any],
    feature_config: FeatureConfig,
    labels: Sequence[str],
    temperature: float = 1.0,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model file that :func:`load_model` can rebuild the model from.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file (overwritten atomically). For a model a user names, get it
        from :func:`user_model_path`.
    model : torch.nn.Module
        The trained network; its ``state_dict`` is saved (moved to CPU).
    architecture : str
        Registered architecture name (see :data:`ARCHITECTURES`).
    arch_kwargs : dict
        Constructor arguments; ``ARCHITECTURES[architecture](**arch_kwargs)`` must build a
        network with the same state-dict layout. Plain values only.
    feature_config : FeatureConfig
        Front end the model was trained on.
    labels : sequence of str
        Class names in output order.
    temperature : float > 0
        Softmax temperature fitted on validation data (1.0 = uncalibrated).
    metadata : dict or None
        Anything else worth keeping (training metrics, dataset, date); plain values only.

    Returns
    -------
    path : pathlib.Path
        The written file.

    Raises
    ------
    genrecls.exceptions.ParameterError
        On an invalid argument (unknown architecture, labels that do not match the
        model, values a ``weights_only`` load could not read back).

    See Also
    --------
    load_model, user_model_path
    """
    if not isinstance(model, nn.Module):
        raise ParameterError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    try:
        get_architecture(architecture)
    except ModelError as exc:
        raise ParameterError(str(exc)) from exc
    if not isinstance(feature_config, FeatureConfig):
        raise ParameterError(
            f"feature_config must be a FeatureConfig, got {type(feature_config).__name__}"
        )
    labels = _check_labels(labels)
    _check_n_classes(model, labels)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": architecture,
        "arch_kwargs": _check_plain(dict(arch_kwargs), where="arch_kwargs"),
        "feature_config": feature_config.to_dict(),
        "labels": labels,
        "temperature": _check_temperature(temperature),
        "metadata": _check_plain(dict(metadata or {}), where="metadata"),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    return atomic_torch_save(payload, path)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model rebuilt from a model file, ready for inference.

    Attributes
    ----------
    model : torch.nn.Module
        The network, in eval mode, on CPU.
    feature_config : FeatureConfig
        Front end to compute its input with.
    labels : tuple of str
        Class names in output order.
    temperature : float
        Softmax temperature: probabilities are ``softmax(logits / temperature)``.
    metadata : dict
        Whatever was saved with the model.
    architecture : str
        Registered architecture name.
    arch_kwargs : dict
        Constructor arguments the model was built with.
    path : pathlib.Path or None
        The file it was read from.
    """

    model: nn.Module
    feature_config: FeatureConfig
    labels: tuple[str, ...]
    temperature: float
    metadata: dict
    architecture: str
    arch_kwargs: dict = field(default_factory=dict)
    path: Path | None = None


_REQUIRED_KEYS = (
    "version",
    "architecture",
    "arch_kwargs",
    "feature_config",
    "labels",
    "temperature",
    "metadata",
    "state_dict",
)


def _check_archive(path: Path) -> None:
    """Verify the CRC-32 of every member of a zip-format model file.

    ``torch.load`` does not check them, so a flipped weight byte would otherwise load as a
    silently different model.
    """
    import zipfile

    if not zipfile.is_zipfile(path):
        return  # not a zip: torch.load rejects it below with a clear message
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{path.name} is damaged: {exc}") from exc
    if bad is not None:
        raise ModelError(f"{path.name} is damaged: member {bad!r} fails its checksum")


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Read a model file written by :func:`save_model`.

    The file is read with ``torch.load(map_location="cpu", weights_only=True)``, so it
    cannot execute code; the network is rebuilt from :data:`ARCHITECTURES` and its
    weights loaded strictly.

    Parameters
    ----------
    path : str or os.PathLike
        A genrecls model file.

    Returns
    -------
    loaded : LoadedModel
        Model in eval mode with its feature configuration, labels and temperature.

    Raises
    ------
    genrecls.exceptions.ModelError
        If the file is missing, unreadable, truncated, not a torch file, holds anything
        but plain data, is not a genrecls model (wrong ``format``), has an unsupported
        version, names an unknown architecture, or its weights do not fit the network.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no model file at {path}")
    _check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, random bytes, foreign pickle, I/O error...
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(
            f"{path.name} is not a readable genrecls model file "
            f"({type(exc).__name__}: {first_line[:200]})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{path.name} is not a genrecls model file (no format={FORMAT!r})")
    missing = [k for k in _REQUIRED_KEYS if k not in payload]
    if missing:
        raise ModelError(f"{path.name} is missing fields: {', '.join(missing)}")
    if payload["version"] != VERSION:
        raise ModelError(
            f"{path.name} has model-file version {payload['version']!r}; "
            f"this genrecls reads version {VERSION}"
        )
    try:
        feature_config = FeatureConfig.from_dict(payload["feature_config"])
        labels = tuple(_check_labels(payload["labels"]))
        temperature = _check_temperature(payload["temperature"])
    except (ParameterError, TypeError) as exc:
        raise ModelError(f"{path.name} has an invalid field: {exc}") from exc
    architecture = payload["architecture"]
    arch_kwargs = payload["arch_kwargs"]
    metadata = payload["metadata"]
    state_dict = payload["state_dict"]
    if not isinstance(arch_kwargs, dict) or not isinstance(metadata, dict):
        raise ModelError(f"{path.name}: arch_kwargs and metadata must be dicts")
    if not isinstance(state_dict, dict) or not all(
        isinstance(v, torch.Tensor) for v in state_dict.values()
    ):
        raise ModelError(f"{path.name}: state_dict must map names to tensors")
    factory = get_architecture(architecture) if isinstance(architecture, str) else None
    if factory is None:
        raise ModelError(f"{path.name}: architecture must be a string, got {architecture!r}")
    try:
        model = factory(**arch_kwargs)
    except Exception as exc:
        raise ModelError(
            f"{path.name}: cannot build {architecture!r} from {arch_kwargs!r}: {exc}"
        ) from exc
    try:
        _check_n_classes(model, list(labels))
        model.load_state_dict(state_dict, strict=True)
    except (RuntimeError, ParameterError) as exc:
        raise ModelError(f"{path.name}: the weights do not fit {architecture!r}: {exc}") from exc
    model.eval()
    return LoadedModel(
        model=model,
        feature_config=feature_config,
        labels=labels,
        temperature=temperature,
        metadata=metadata,
        architecture=architecture,
        arch_kwargs=arch_kwargs,
        path=path,
    )


# --------------------------------------------------------------------------------------
# User-chosen model names


def safe_model_name(name: str) -> str:
    """Validate a model name a user typed.

    Parameters
    ----------
    name : str
        1–64 characters from ``A–Z a–z 0–9 _ -``, starting with a letter or digit
        (so no path separators, no dots, no leading ``-``), and not a reserved device
        name (``con``, ``nul``, ``com1``...).

    Returns
    -------
    name : str
        The same name.

    Raises
    ------
    genrecls.exceptions.ParameterError
        If the name is not allowed; the message says why.
    """
    if not isinstance(name, str):
        raise ParameterError(f"model name must be a string, got {type(name).__name__}")
    if not name:
        raise ParameterError("model name is empty")
    if len(name) > _MAX_NAME:
        raise ParameterError(f"model name is longer than {_MAX_NAME} characters")
    if not _NAME_RE.fullmatch(name):
        raise ParameterError(
            f"model name {name!r} may only use letters, digits, '-' and '_', "
            "and must start with a letter or digit"
        )
    if name.lower() in _RESERVED_NAMES:
        raise ParameterError(f"model name {name!r} is reserved by the operating system")
    return name


def user_model_path(name: str) -> Path:
    """Return where a user model called ``name`` is stored.

    Parameters
    ----------
    name : str
        Model name, validated by :func:`safe_model_name`.

    Returns
    -------
    path : pathlib.Path
        ``user_models_dir() / f"{name}.pt"``, resolved.

    Raises
    ------
    genrecls.exceptions.ParameterError
        If the name is invalid, or the path would fall outside the user-models folder
        (a symlink, say) or inside the bundled ``models/`` folder.
    """
    name = safe_model_name(name)
    root = user_models_dir().resolve()
    bundled = bundled_models_dir().resolve()
    if root == bundled or root.is_relative_to(bundled):
        raise ParameterError(
            f"the user-models folder {root} lies inside the bundled models folder {bundled}; "
            "set GENRECLS_USER_MODELS to another folder"
        )
    path = (root / f"{name}{MODEL_SUFFIX}").resolve()
    if not path.is_relative_to(root) or path.parent != root:
        raise ParameterError(f"model name {name!r} resolves outside {root}")
    if path.is_relative_to(bundled):
        raise ParameterError(f"model name {name!r} resolves into the bundled models folder")
    return path
