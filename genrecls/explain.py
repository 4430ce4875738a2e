"""Explain a track prediction: Grad-CAM over the analysed segments, stitched to the track.

Glue between :mod:`genrecls.predict` (which segments were classified) and
:mod:`genrecls.saliency` (Grad-CAM, stitching, resynthesis), so the app shows the map of
exactly the segments behind the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from genrecls.exceptions import ParameterError
from genrecls.features import segment_spectrogram
from genrecls.predict import GenrePredictor, TrackPrediction, select_segments
from genrecls.saliency import display_scale, grad_cam, salient_audio, stitch_segments

MapKind = Literal["gradcam", "layercam"]


@dataclass(frozen=True, eq=False)
class TrackExplanation:
    """A Grad-CAM map of a whole track.

    Attributes
    ----------
    saliency : np.ndarray [shape=(n_mels, t)]
        Raw overlap-averaged Grad-CAM on the track's log-mel grid; frames of segments that
        were not analysed (long tracks) are 0.
    scale : float
        The saliency drawn at full colour, one value for every segment of the track
        (:func:`genrecls.saliency.display_scale`: the 99th percentile of the positive
        cells, so a few extreme cells do not wash out the rest).
    target : int
        Index of the class explained.
    layer : str
        Layer the map was taken at.
    kind : {"gradcam", "layercam"}
        Grad-CAM or LayerCAM (see :func:`genrecls.saliency.grad_cam`).
    """

    saliency: np.ndarray
    scale: float
    target: int
    layer: str
    kind: str = "gradcam"


def gradcam_layer_names(predictor: GenrePredictor) -> list[str]:
    """Names of the layers Grad-CAM can hook, shallow to deep."""
    return list(predictor.model.gradcam_layers())


def default_layer_name(predictor: GenrePredictor) -> str:
    """The layer to show first: the model's ``default_gradcam_layer()``, else the deepest."""
    chooser = getattr(predictor.model, "default_gradcam_layer", None)
    return chooser() if callable(chooser) else gradcam_layer_names(predictor)[-1]


def explain_track(
    predictor: GenrePredictor,
    M: np.ndarray,
    *,
    target: int,
    layer: str | None = None,
    kind: MapKind = "gradcam",
) -> TrackExplanation:
    """Compute the Grad-CAM map of a track for one class.

    Parameters
    ----------
    predictor : GenrePredictor
        The model and its segmentation settings (the same segments are explained as
        :meth:`GenrePredictor.predict_spectrogram` classifies).
    M : np.ndarray [shape=(n_mels, t)]
        The track's log-mel spectrogram.
    target : int
        Class to explain (index into ``predictor.labels``).
    layer : str or None
        Grad-CAM layer; ``None`` takes :func:`default_layer_name`.
    kind : {"gradcam", "layercam"}
        Grad-CAM, or LayerCAM's cell-by-cell weighting (:func:`genrecls.saliency.grad_cam`).

    Returns
    -------
    explanation : TrackExplanation

    See Also
    --------
    classify_and_explain : the verdict and the map of its genre from one pass.
    """
    if not 0 <= target < len(predictor.labels):
        raise ParameterError(f"target must be in [0, {len(predictor.labels)}), got {target}")
    return _explain(predictor, M, target=target, layer=layer, kind=kind)[1]


def classify_and_explain(
    predictor: GenrePredictor,
    M: np.ndarray,
    *,
    layer: str | None = None,
    kind: MapKind = "gradcam",
    duration: float | None = None,
) -> tuple[TrackPrediction, TrackExplanation]:
    """Classify a track and explain the genre it is given, from one forward pass.

    The prediction equals :meth:`GenrePredictor.predict_spectrogram`'s, and the map
    :func:`explain_track`'s for the predicted genre (the track class does not depend on
    the calibration temperature: dividing every logit by the same ``T > 0`` leaves the
    arg-max of the mean log-softmax where it was). A model whose Grad-CAM needs no large
    activations (``gradcam_pass``, see :mod:`genrecls.saliency`) is run once over all
    analysed segments; others classify first and explain after.

    Parameters
    ----------
    predictor : GenrePredictor
    M : np.ndarray [shape=(n_mels, t)]
        The track's log-mel spectrogram.
    layer : str or None
        Grad-CAM layer; ``None`` takes :func:`default_layer_name`.
    kind : {"gradcam", "layercam"}
        As in :func:`explain_track`.
    duration : float or None
        Analysed duration in seconds (see :meth:`GenrePredictor.predict_spectrogram`).

    Returns
    -------
    prediction : TrackPrediction
    explanation : TrackExplanation
    """
    if not callable(getattr(predictor.model, "gradcam_pass", None)):
        prediction = predictor.predict_spectrogram(M, duration=duration)
        target = int(np.argmax(prediction.probabilities))
        return prediction, explain_track(predictor, M, target=target, layer=layer, kind=kind)
    (logits, starts), explanation = _explain(predictor, M, target=None, layer=layer, kind=kind)
    prediction = predictor.prediction_from_logits(
        logits, starts=starts, n_frames=M.shape[1], duration=duration
    )
    return prediction, explanation


def _explain(
    predictor: GenrePredictor,
    M: np.ndarray,
    *,
    target: int | None,
    layer: str | None,
    kind: MapKind,
) -> tuple[tuple[np.ndarray, np.ndarray], TrackExplanation]:
    """Grad-CAM of the analysed segments, stitched; also their logits and first frames.

    ``target=None`` explains the track class, which needs every segment in one call.
    """
    layers = gradcam_layer_names(predictor)
    layer = layer or default_layer_name(predictor)
    if layer not in layers:
        raise ParameterError(f"unknown Grad-CAM layer {layer!r}; choose one of {layers}")
    cfg = predictor.feature_config
    segments, starts = segment_spectrogram(M, config=cfg)
    keep = select_segments(len(segments), max_segments=predictor.max_segments)
    kept = segments[keep]
    # Batched Grad-CAM. Through hooks, in chunks of the predictor's batch size: a large
    # network's activations for every segment at once would take gigabytes (musicnn:
    # ~70 MB each). A model with its own cheap pass keeps no such maps: all at once.
    if target is None or callable(getattr(predictor.model, "gradcam_pass", None)):
        chunk = len(kept)
    else:
        chunk = predictor.batch_size
    results = [
        grad_cam(predictor.model, kept[i : i + chunk], layer=layer, target=target, kind=kind)
        for i in range(0, len(kept), chunk)
    ]
    maps = np.concatenate([r.maps for r in results])
    logits = np.concatenate([r.logits for r in results])
    n_frames = M.shape[1]
    if len(keep) == len(segments):
        stitched = stitch_segments(maps, starts, n_frames=n_frames)
    else:  # long track: only some segments were analysed; the rest stay at 0
        stitched = np.zeros((M.shape[0], n_frames), np.float32)
        for m, s in zip(maps, starts[keep], strict=True):
            stitched[:, s : s + m.shape[1]] = m[:, : n_frames - s]
    explanation = TrackExplanation(
        saliency=stitched,
        scale=display_scale(stitched),
        target=int(results[0].targets[0]),
        layer=layer,
        kind=kind,
    )
    return (logits, starts[keep]), explanation


def model_heard(
    y: np.ndarray,
    explanation: TrackExplanation,
    *,
    predictor: GenrePredictor,
    keep_fraction: float = 0.2,
) -> np.ndarray:
    """Audio with only the most salient time–frequency cells kept (see ``salient_audio``).

    Returns
    -------
    y_salient : np.ndarray [shape=(n,)]
    """
    cfg = predictor.feature_config
    return salient_audio(
        y, sr=cfg.sr, cam_stitched=explanation.saliency, config=cfg, keep_fraction=keep_fraction
    )
