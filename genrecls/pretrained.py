"""Pretrained musicnn taggers: loading, tagging audio, and zero-shot genre scores.

The weights are the ``MSD_musicnn`` and ``MTT_musicnn`` models of Pons & Serra (2019),
converted from the ``musicnn`` 0.1.0 wheel by ``scripts/convert_musicnn.py`` and
shipped in ``models/`` (ISC licence; provenance and licence text in
``models/musicnn.json``).

Zero-shot genres: musicnn was never trained on GTZAN, but several of its tags are
genres. :data:`GENRE_TAGS` maps the GTZAN genres onto those tags and
:func:`zero_shot_genre_scores` turns tag probabilities into a genre distribution.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from genrecls.config import GENRES, bundled_models_dir
from genrecls.exceptions import ModelError, ParameterError
from genrecls.models.musicnn import (
    MSD_TAGS,
    MTT_TAGS,
    PATCH_FRAMES,
    Musicnn,
    musicnn_logmel,
    musicnn_patches,
)

__all__ = [
    "GENRE_TAGS",
    "MUSICNN_FILES",
    "load_musicnn",
    "musicnn_tag_probs",
    "musicnn_taggram",
    "musicnn_tags",
    "zero_shot_genre_scores",
]

#: Bundled weight files (in :func:`genrecls.config.bundled_models_dir`), by model.
MUSICNN_FILES: dict[str, str] = {"msd": "musicnn_msd.pt", "mtt": "musicnn_mtt.pt"}
_PROVENANCE_FILE = "musicnn.json"
_TAGS: dict[str, tuple[str, ...]] = {"msd": MSD_TAGS, "mtt": MTT_TAGS}

#: GTZAN genre → tags that count as evidence for it, per tag vocabulary.
#: ``"msd"`` names columns of ``MSD_musicnn`` output, ``"mtt"`` of ``MTT_musicnn``.
#: A genre's zero-shot score is the largest probability among its tags.
#:
#: - disco has no tag of its own; dance, funk, 70s, soul and House are its nearest tags.
#: - classical is not an MSD tag; it is scored only when MTT probabilities are given.
#: - reggae is in neither vocabulary, so it can **never** be predicted zero-shot (its
#:   score is always 0).
GENRE_TAGS: dict[str, dict[str, tuple[str, ...]]] = {
    "blues": {"msd": ("blues",)},
    "classical": {"mtt": ("classical", "classic")},
    "country": {"msd": ("country",)},
    "disco": {"msd": ("dance", "funk", "70s", "soul", "House")},
    "hiphop": {"msd": ("Hip-Hop", "rnb")},
    "jazz": {"msd": ("jazz",)},
    "metal": {"msd": ("metal", "heavy metal")},
    "pop": {"msd": ("pop", "indie pop")},
    "reggae": {},
    "rock": {"msd": ("rock", "classic rock", "hard rock")},
}


def _valid_which(which: str) -> str:
    if which not in MUSICNN_FILES:
        raise ParameterError(f"which must be one of {sorted(MUSICNN_FILES)}, got {which!r}")
    return which


def musicnn_tags(*, which: str = "msd") -> tuple[str, ...]:
    """Return the 50 output tags of a pretrained musicnn model, in output order.

    Parameters
    ----------
    which : {"msd", "mtt"}
        ``"msd"``: Million Song Dataset / last.fm tags (genres, eras, moods);
        ``"mtt"``: MagnaTagATune tags (instruments, voice, a few genres).

    Returns
    -------
    tags : tuple of str [length 50]
    """
    return _TAGS[_valid_which(which)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expected_sha256(which: str) -> str | None:
    """Checksum recorded by the converter in ``models/musicnn.json`` (None if absent)."""
    json_path = bundled_models_dir() / _PROVENANCE_FILE
    if not json_path.is_file():
        return None
    try:
        return json.loads(json_path.read_text())["models"][which]["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{json_path} is not a valid musicnn provenance file: {exc}") from exc


def load_musicnn(*, which: str = "msd", path: str | Path | None = None) -> Musicnn:
    """Load a pretrained musicnn tagger in evaluation mode.

    Parameters
    ----------
    which : {"msd", "mtt"}
        ``"msd"``: ``MSD_musicnn`` (Million Song Dataset tags, the best start for
        genres, validation ROC-AUC 0.880); ``"mtt"``: ``MTT_musicnn`` (MagnaTagATune,
        test ROC-AUC 0.907).
    path : str or pathlib.Path or None
        Weight file to load instead of the bundled one. The bundled files are checked
        against the sha256 recorded in ``models/musicnn.json``; other paths are not.

    Returns
    -------
    model : Musicnn
        In ``eval()`` mode, on the CPU, float32.

    Raises
    ------
    genrecls.exceptions.ParameterError
        If ``which`` is not ``"msd"`` or ``"mtt"``.
    genrecls.exceptions.ModelError
        If the file is missing, is not a plain state dict (``torch.load`` is called
        with ``weights_only=True``), does not match the architecture, or differs from
        the converted file.
    """
    which = _valid_which(which)
    bundled = path is None
    file = bundled_models_dir() / MUSICNN_FILES[which] if bundled else Path(path)
    if not file.is_file():
        raise ModelError(
            f"musicnn weights not found at {file}. The bundled files are created by "
            "scripts/convert_musicnn.py."
        )
    if bundled:
        expected = _expected_sha256(which)
        if expected is not None and _sha256(file) != expected:
            raise ModelError(
                f"{file} differs from the converted musicnn weights (sha256 mismatch); "
                "re-run scripts/convert_musicnn.py"
            )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle errors, or a forbidden (unsafe) object
        raise ModelError(f"{file} is not a readable PyTorch weight file: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{file} does not hold a state dict of tensors")
    bias = state.get("classifier.bias")
    if bias is None or bias.ndim != 1:
        raise ModelError(f"{file} is not a musicnn state dict (no classifier.bias)")
    model = Musicnn(n_tags=int(bias.shape[0]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # missing/unexpected keys or shape mismatch
        raise ModelError(f"{file} does not match the musicnn architecture: {exc}") from exc
    return model.eval()


def musicnn_taggram(
    y: np.ndarray,
    *,
    sr: int,
    model: Musicnn,
    hop_frames: int | None = None,
    batch_size: int = 16,
) -> np.ndarray:
    """Tag probabilities of every 3-s patch of a recording (musicnn's "taggram").

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
        Mono audio.
    sr : int > 0
        Sample rate of ``y`` (resampled to 16 kHz internally).
    model : Musicnn
        A loaded tagger, e.g. from :func:`load_musicnn`; used as is (call ``eval()``).
    hop_frames : int > 0 or None
        Stride between patches in frames; ``None`` = 187 (no overlap, musicnn's default).
    batch_size : int > 0
        Patches per forward pass.

    Returns
    -------
    taggram : np.ndarray [shape=(n_patches, n_tags), dtype=float32]
        Sigmoid outputs in [0, 1]. Audio shorter than one patch is repeat-padded.

    Raises
    ------
    genrecls.exceptions.ParameterError
        If the audio or a parameter is invalid.
    """
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
    patches = musicnn_patches(
        musicnn_logmel(y, sr=sr), n_frames=PATCH_FRAMES, hop_frames=hop_frames
    )
    device = next(model.parameters()).device
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(patches), batch_size):
            batch = torch.from_numpy(patches[start : start + batch_size]).to(device)
            outputs.append(torch.sigmoid(model(batch)["logits"]).float().cpu().numpy())
    return np.concatenate(outputs, axis=0)


def musicnn_tag_probs(
    y: np.ndarray, *, sr: int, model: Musicnn, hop_frames: int | None = None
) -> np.ndarray:
    """Clip-level tag probabilities: the taggram averaged over time, as musicnn does.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
        Mono audio.
    sr : int > 0
        Sample rate of ``y``.
    model : Musicnn
        A loaded tagger.
    hop_frames : int > 0 or None
        Stride between patches in frames (``None``: no overlap).

    Returns
    -------
    probs : np.ndarray [shape=(n_tags,), dtype=float32]
        Mean sigmoid output per tag, in the model's tag order (:func:`musicnn_tags`).

    See Also
    --------
    musicnn_taggram
    """
    return musicnn_taggram(y, sr=sr, model=model, hop_frames=hop_frames).mean(axis=0)


def _valid_probs(probs: np.ndarray, tags: tuple[str, ...] | list[str], name: str) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 0 or probs.shape[-1] != len(tags):
        raise ParameterError(
            f"{name} must have {len(tags)} entries in its last axis (one per tag), "
            f"got shape {probs.shape}"
        )
    if not np.all(np.isfinite(probs)) or probs.min() < 0.0 or probs.max() > 1.0:
        raise ParameterError(f"{name} must be probabilities in [0, 1]")
    return probs


def zero_shot_genre_scores(
    tag_probs: np.ndarray,
    *,
    tags: tuple[str, ...] | list[str] = MSD_TAGS,
    mtt_probs: np.ndarray | None = None,
    mtt_tags: tuple[str, ...] | list[str] = MTT_TAGS,
) -> np.ndarray:
    """Score the ten GTZAN genres from musicnn tag probabilities, without training.

    Each genre's evidence is the largest probability among its tags in
    :data:`GENRE_TAGS`; the evidence is then normalised to sum to 1 over the genres.

    Parameters
    ----------
    tag_probs : np.ndarray [shape=(..., n_tags)]
        ``MSD_musicnn`` sigmoid outputs (e.g. from :func:`musicnn_tag_probs`).
    tags : sequence of str [length n_tags]
        Tag name of each column of ``tag_probs`` (default: :data:`MSD_TAGS`).
    mtt_probs : np.ndarray [shape=(..., n_mtt_tags)] or None
        ``MTT_musicnn`` outputs for the same audio. Needed to score classical; without
        them classical scores 0.
    mtt_tags : sequence of str [length n_mtt_tags]
        Tag name of each column of ``mtt_probs`` (default: :data:`MTT_TAGS`).

    Returns
    -------
    scores : np.ndarray [shape=(..., 10), dtype=float64]
        Non-negative, summing to 1 over the last axis, in the order of
        :data:`genrecls.config.GENRES`. reggae is always 0 (no musicnn tag covers it).
        If no genre has any evidence, the scoreable genres share the mass equally.

    Raises
    ------
    genrecls.exceptions.ParameterError
        If the probabilities are not in [0, 1], their last axis does not match the tag
        list, the batch shapes differ, or a mapped tag is missing from a tag list.

    Examples
    --------
    >>> probs = np.zeros(50)
    >>> probs[MSD_TAGS.index("jazz")] = 0.9
    >>> scores = zero_shot_genre_scores(probs, tags=MSD_TAGS)
    >>> GENRES[int(scores.argmax())]
    'jazz'
    """
    sources: dict[str, tuple[np.ndarray, tuple[str, ...] | list[str]]] = {
        "msd": (_valid_probs(tag_probs, tags, "tag_probs"), tags)
    }
    if mtt_probs is not None:
        mtt = _valid_probs(mtt_probs, mtt_tags, "mtt_probs")
        if mtt.shape[:-1] != sources["msd"][0].shape[:-1]:
            raise ParameterError(
                f"mtt_probs batch shape {mtt.shape[:-1]} differs from tag_probs "
                f"{sources['msd'][0].shape[:-1]}"
            )
        sources["mtt"] = (mtt, mtt_tags)
    batch_shape = sources["msd"][0].shape[:-1]
    evidence = np.zeros((*batch_shape, len(GENRES)))
    scoreable = np.zeros(len(GENRES), dtype=bool)
    for g, genre in enumerate(GENRES):
        for source, genre_tags in GENRE_TAGS.get(genre, {}).items():
            if source not in sources:
                continue
            probs, names = sources[source]
            missing = [t for t in genre_tags if t not in names]
            if missing:
                raise ParameterError(f"{source} tag list lacks the tags {missing} for {genre}")
            columns = [list(names).index(t) for t in genre_tags]
            evidence[..., g] = np.maximum(evidence[..., g], probs[..., columns].max(axis=-1))
            scoreable[g] = True
    total = evidence.sum(axis=-1, keepdims=True)
    fallback = np.broadcast_to(scoreable / scoreable.sum(), evidence.shape)
    return np.where(total > 0, evidence / np.where(total > 0, total, 1.0), fallback)
