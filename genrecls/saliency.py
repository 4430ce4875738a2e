r"""Saliency maps: Grad-CAM by hand, checks that the maps can be trusted, and resynthesis.

Grad-CAM [#]_ asks which time–frequency regions of a log-mel segment raised the score of a
class. For a convolutional layer with activation maps :math:`A_c` (channel ``c``), the
weight of each channel is the spatial average of the gradient of the class **logit**
:math:`y` with respect to it, and the map is the rectified weighted sum,

.. math:: w_c = \frac{1}{Z} \sum_{f,t} \frac{\partial y}{\partial A_c[f, t]}, \qquad
          L = \mathrm{ReLU}\Big(\sum_c w_c A_c\Big),

upsampled to the segment's ``[n_mels, frames]`` grid.

A saliency map is only worth showing if it depends on what the model learned. Two checks
are provided: the model-randomization test [#]_ (a map that barely changes when the
weights are re-initialised explains the input, not the model) and the deletion curve [#]_
(removing the most salient cells first should destroy the prediction faster than
removing cells at random). :func:`salient_audio` finally turns a map into sound: the
parts of the recording the model relied on, so a person can *listen* to the evidence.

Model conventions
-----------------
``model(x)`` takes ``x: [B, n_mels, T]`` log-mel segments and returns a dict with
``"logits"`` ``[B, n_classes]``; ``model.gradcam_layers()`` returns an ordered
``dict[str, nn.Module]`` (shallow to deep) whose modules output ``[B, C, F', T']`` maps
(frequency before time; row 0 = lowest band). A module may instead output ``[B, C, T']``
(a 1-D, time-only layer): its map is spread evenly over frequency. A model whose 2-D
maps are laid out time-first (``[B, C, T', F']``, as musicnn's front end) says so with
an optional ``model.gradcam_layouts()`` returning ``{name: "tf"}``.

A model may also offer ``model.gradcam_pass(x, layer=...)``, a cheaper forward pass
that computes the same maps (musicnn's, see
:meth:`genrecls.models.musicnn_transfer.MusicnnClassifier.gradcam_pass`). It returns the
logits and a function ``cam(targets, kind)`` → the map of each segment's target class
before the final ReLU, laid out ``[B, 1, F', T']`` (or ``[B, 1, T']``).
:func:`grad_cam` uses it unless asked for ``method="hooks"``; tests hold the two equal.

Besides Grad-CAM's channel-weighted sum, :func:`grad_cam` computes LayerCAM [#]_
(``kind="layercam"``): each cell's activation weighted by its own positive gradient,
:math:`L = \mathrm{ReLU}(\sum_c \mathrm{ReLU}(\partial y / \partial A_c) \odot A_c)`.
Made for shallow layers, it matters for networks that max-pool over frequency right
after a 2-D layer (musicnn): only the cells that win the max reach the decision, and
only they get a gradient, while Grad-CAM's spatially averaged weight also lights up
every cell where a useful channel fires without winning.

References
----------
.. [#] Selvaraju, R. R., Cogswell, M., Das, A., Vedantam, R., Parikh, D., & Batra, D.
   (2017). Grad-CAM: Visual explanations from deep networks via gradient-based
   localization. In *Proc. ICCV*, 618–626. https://arxiv.org/abs/1610.02391
.. [#] Adebayo, J., Gilmer, J., Muelly, M., Goodfellow, I., Hardt, M., & Kim, B. (2018).
   Sanity checks for saliency maps. In *Advances in NeurIPS 31*.
   https://arxiv.org/abs/1810.03292
.. [#] Jiang, P.-T., Zhang, C.-B., Hou, Q., Cheng, M.-M., & Wei, Y. (2021). LayerCAM:
   Exploring hierarchical class activation maps for localization. *IEEE Transactions on
   Image Processing*, 30, 5875–5888. https://doi.org/10.1109/TIP.2021.3089943
.. [#] Samek, W., Binder, A., Montavon, G., Lapuschkin, S., & Müller, K.-R. (2017).
   Evaluating the visualization of what a deep neural network has learned. *IEEE
   Transactions on Neural Networks and Learning Systems*, 28(11), 2660–2673.
   https://arxiv.org/abs/1509.06321
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genrecls.exceptions import ParameterError
from genrecls.features import FeatureConfig, _check_audio, segment_spectrogram
from genrecls.filterbank import mel_filterbank
from genrecls.imputation import noisy_linear_imputation

__all__ = [
    "GradCamResult",
    "area_under_curve",
    "cascading_randomization",
    "deletion_curve",
    "grad_cam",
    "grad_cam_track",
    "normalize_shared",
    "display_scale",
    "randomization_check",
    "rank_correlation",
    "salient_audio",
    "stitch_segments",
]

Target = int | Sequence[int] | None


@dataclass(frozen=True, eq=False)
class GradCamResult:
    """Grad-CAM maps of a batch of segments, with the predictions they explain.

    Attributes
    ----------
    maps : np.ndarray [shape=(n, n_mels, frames), dtype=float32]
        Raw (unnormalised, non-negative) Grad-CAM maps on each segment's grid.
    logits : np.ndarray [shape=(n, n_classes), dtype=float32]
        The model's logits for each segment.
    probabilities : np.ndarray [shape=(n, n_classes), dtype=float32]
        Softmax of ``logits`` per segment.
    targets : np.ndarray [shape=(n,), dtype=int]
        The class each segment's map explains.
    layer : str
        Name of the layer the maps were taken at.
    """

    maps: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    targets: np.ndarray
    layer: str

    @property
    def track_class(self) -> int:
        """Class of the whole track: argmax of the mean log-softmax over segments."""
        return int(np.argmax(_mean_log_softmax(self.logits)))


# --------------------------------------------------------------------------- helpers


def _mean_log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).mean(axis=0)


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _as_segments(segments: torch.Tensor | np.ndarray, *, device: torch.device) -> torch.Tensor:
    """Return a float32 ``[n, n_mels, frames]`` tensor usable by autograd.

    A tensor made under ``torch.inference_mode`` cannot enter an autograd graph; it is
    cloned here, outside inference mode, into an ordinary tensor.
    """
    if isinstance(segments, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(segments, dtype=np.float32))
    elif isinstance(segments, torch.Tensor):
        x = segments.detach()
        if x.is_inference():
            with torch.inference_mode(False):
                x = x.clone()
    else:
        raise ParameterError(
            f"segments must be a numpy array or torch tensor, got {type(segments).__name__}"
        )
    if x.ndim != 3 or min(x.shape) == 0:
        raise ParameterError(
            f"segments must have shape (n, n_mels, frames) with n, n_mels, frames > 0, "
            f"got {tuple(x.shape)}"
        )
    x = x.to(device=device, dtype=torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise ParameterError("segments contain NaN or infinite values")
    return x


def _gradcam_layer(model: nn.Module, layer: str) -> tuple[nn.Module, str]:
    layers_fn = getattr(model, "gradcam_layers", None)
    if not callable(layers_fn):
        raise ParameterError(
            f"{type(model).__name__} has no gradcam_layers() method naming its conv layers"
        )
    layers = dict(layers_fn())
    if layer not in layers:
        raise ParameterError(f"unknown Grad-CAM layer {layer!r}; choose one of {list(layers)}")
    layout_fn = getattr(model, "gradcam_layouts", None)
    layout = dict(layout_fn()).get(layer, "ft") if callable(layout_fn) else "ft"
    if layout not in ("ft", "tf"):
        raise ParameterError(f"layout of layer {layer!r} must be 'ft' or 'tf', got {layout!r}")
    return layers[layer], layout


def _logits(outputs: object) -> torch.Tensor:
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ParameterError("the model must return {'logits': tensor of shape (batch, classes)}")
    return logits


def _resolve_targets(target: Target, logits: np.ndarray) -> np.ndarray:
    n, n_classes = logits.shape
    if target is None:
        return np.full(n, int(np.argmax(_mean_log_softmax(logits))), dtype=int)
    if isinstance(target, int | np.integer) and not isinstance(target, bool):
        targets = np.full(n, int(target), dtype=int)
    else:
        targets = np.asarray(target)
        if targets.shape != (n,) or not np.issubdtype(targets.dtype, np.integer):
            raise ParameterError(
                f"target must be None, an int, or {n} ints (one per segment), got {target!r}"
            )
        targets = targets.astype(int)
    if targets.min() < 0 or targets.max() >= n_classes:
        raise ParameterError(f"target classes must lie in [0, {n_classes}), got {target!r}")
    return targets


def _check_model(model: nn.Module) -> None:
    if not isinstance(model, nn.Module):
        raise ParameterError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if any(p.is_inference() for p in model.parameters()):
        raise ParameterError(
            "the model's parameters were created under torch.inference_mode and cannot be "
            "differentiated through; load the model outside inference_mode"
        )


# --------------------------------------------------------------------------- Grad-CAM


def grad_cam(
    model: nn.Module,
    segments: torch.Tensor | np.ndarray,
    *,
    layer: str,
    target: Target = None,
    kind: Literal["gradcam", "layercam"] = "gradcam",
    method: Literal["auto", "hooks"] = "auto",
) -> GradCamResult:
    """Compute Grad-CAM maps for a batch of log-mel segments.

    All segments go through one batched forward and one backward pass. The gradient is
    taken of the target class **logit** (not the probability, which saturates), as in
    Selvaraju et al. (2017).

    Parameters
    ----------
    model : torch.nn.Module
        A classifier following the conventions of this module: ``model(x)["logits"]`` and
        ``model.gradcam_layers()``. It is put in (and left in) eval mode. Its parameters'
        ``.grad`` are not touched: only the gradient with respect to the layer's output is
        computed.
    segments : np.ndarray or torch.Tensor [shape=(n, n_mels, frames)]
        Log-mel segments, e.g. from :func:`genrecls.features.segment_spectrogram`. A tensor
        made under ``torch.inference_mode`` is accepted (it is cloned into an ordinary
        tensor); Grad-CAM runs with gradients enabled whatever the caller's grad mode.
    layer : str
        Key of ``model.gradcam_layers()`` to explain. The module must output
        ``[B, C, F', T']`` (or ``[B, C, T']``, see the module docstring).
    target : int, sequence of int [shape=(n,)], or None
        Class explained: one class for all segments, one per segment, or ``None`` for the
        class predicted for the whole track (argmax of the mean log-softmax over
        segments), so every segment explains the same decision.
    kind : {"gradcam", "layercam"}
        Grad-CAM (channel weights = spatially averaged gradient) or LayerCAM (each
        cell weighted by its own positive gradient; see the module docstring).
    method : {"auto", "hooks"}
        ``"hooks"`` captures the layer's output with a forward hook and differentiates
        through everything above it. ``"auto"`` uses the model's own
        ``gradcam_pass(x, layer=...)`` when it has one (see the module docstring), which
        computes the same map with less work, and hooks otherwise.

    Returns
    -------
    result : GradCamResult
        ``maps`` [shape=(n, n_mels, frames)]: raw non-negative maps, bilinearly upsampled
        (``align_corners=False``) from the layer's grid to the segment's grid; plus the
        logits, probabilities and resolved targets.

    Raises
    ------
    genrecls.exceptions.ParameterError
        For a model without ``gradcam_layers()``, an unknown layer, a layer that is not
        called exactly once per forward or outputs no 3-/4-D tensor, malformed segments,
        or a target class out of range.

    Notes
    -----
    A layer with stride or pooling has a coarser grid than the input; the upsampled map
    stretches that grid over the whole segment (no correction for "valid" padding), the
    usual Grad-CAM approximation. The forward hook is always removed, also on error, and
    it only captures the calling thread's forward pass, so a model shared between threads
    (the app's sessions) can classify for others while one of them computes Grad-CAM.

    Examples
    --------
    >>> from genrecls.features import log_mel, segment_spectrogram
    >>> M = log_mel(y, config=cfg)  # doctest: +SKIP
    >>> segments, starts = segment_spectrogram(M, config=cfg)  # doctest: +SKIP
    >>> res = grad_cam(model, segments, layer="conv4")  # doctest: +SKIP
    >>> res.maps.shape == segments.shape  # doctest: +SKIP
    True
    """
    _check_model(model)
    if method not in ("auto", "hooks"):
        raise ParameterError(f"method must be 'auto' or 'hooks', got {method!r}")
    if kind not in ("gradcam", "layercam"):
        raise ParameterError(f"kind must be 'gradcam' or 'layercam', got {kind!r}")
    module, layout = _gradcam_layer(model, layer)
    model.eval()
    prepare = getattr(model, "gradcam_pass", None) if method == "auto" else None
    with torch.inference_mode(False), torch.enable_grad():
        x = _as_segments(segments, device=_model_device(model))
        if callable(prepare):
            logits, cam_of = prepare(x, layer=layer)
        else:
            logits, cam_of = _hooked_pass(model, module, x, layer=layer, layout=layout)
        logits = _logits({"logits": logits})
        if logits.shape[0] != x.shape[0]:
            raise ParameterError("the model must keep the batch axis of its input")
        logits_np = logits.detach().cpu().numpy().astype(np.float32)
        targets = _resolve_targets(target, logits_np)
        cam = cam_of(torch.as_tensor(targets, device=logits.device), kind)
    with torch.no_grad():
        cam = F.relu(cam.detach())  # [n, 1, F', T'] or [n, 1, T']
        n_mels, frames = x.shape[1], x.shape[2]
        if cam.ndim == 4:
            cam = F.interpolate(cam, size=(n_mels, frames), mode="bilinear", align_corners=False)[
                :, 0
            ]
        else:
            cam = F.interpolate(cam, size=frames, mode="linear", align_corners=False)
            cam = cam.expand(-1, n_mels, -1)
        maps = cam.float().cpu().numpy().copy()
    z = logits_np - logits_np.max(axis=1, keepdims=True)
    probabilities = (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)).astype(np.float32)
    return GradCamResult(
        maps=np.maximum(maps, 0.0).astype(np.float32),
        logits=logits_np,
        probabilities=probabilities,
        targets=targets,
        layer=layer,
    )


def _hooked_pass(
    model: nn.Module, module: nn.Module, x: torch.Tensor, *, layer: str, layout: str
) -> tuple[torch.Tensor, object]:
    """Grad-CAM's forward pass through a forward hook on ``module`` (any architecture).

    Returns the logits (with their graph) and ``cam(targets, kind)``, which
    differentiates the target logits by the captured activation and returns the map
    before the ReLU (see :func:`grad_cam`).
    """
    captured: list[torch.Tensor] = []
    owner = threading.get_ident()

    def hook(_module: nn.Module, _inputs: object, output: object) -> torch.Tensor | None:
        # The model may be shared (one cached model serves every app session): forward
        # passes that other threads run while this hook is registered are not ours.
        if threading.get_ident() != owner:
            return None
        if not isinstance(output, torch.Tensor):
            raise ParameterError(f"layer {layer!r} must output a tensor, got {type(output)}")
        captured.append(output)
        # Return a copy, so an in-place op after the layer (ReLU(inplace=True)) cannot
        # overwrite the activation kept for Grad-CAM.
        return output.clone()

    handle = module.register_forward_hook(hook)
    try:
        # The input needs a graph even when every parameter is frozen.
        logits = _logits(model(x.requires_grad_(True)))
    finally:
        handle.remove()
    if len(captured) != 1:
        raise ParameterError(
            f"layer {layer!r} ran {len(captured)} times in one forward pass; "
            "Grad-CAM needs a layer called exactly once"
        )
    activation = captured[0]
    if activation.ndim not in (3, 4):
        raise ParameterError(
            f"layer {layer!r} must output (B, C, F', T') or (B, C, T'), "
            f"got {tuple(activation.shape)}"
        )
    if activation.shape[0] != x.shape[0]:
        raise ParameterError("the model must keep the batch axis of its input")
    A = activation.detach()
    if A.ndim == 4 and layout == "tf":
        A = A.transpose(2, 3)
    spatial = tuple(range(2, A.ndim))

    def cam(targets: torch.Tensor, kind: str) -> torch.Tensor:
        # Segments are independent in eval mode, so the gradient of the sum gives each
        # segment the gradient of its own target logit.
        score = logits.gather(1, targets[:, None]).sum()
        (G,) = torch.autograd.grad(score, activation)
        if G.ndim == 4 and layout == "tf":
            G = G.transpose(2, 3)
        weights = G.mean(dim=spatial, keepdim=True) if kind == "gradcam" else F.relu(G)
        return (weights * A).sum(dim=1, keepdim=True)

    return logits, cam


def stitch_segments(
    maps: np.ndarray, starts: np.ndarray, *, n_frames: int, fold_repeats: bool = True
) -> np.ndarray:
    """Put per-segment maps back onto the whole track's frame grid.

    Where segments overlap, the maps are averaged.

    Parameters
    ----------
    maps : np.ndarray [shape=(n, n_mels, frames)]
        One map per segment, e.g. :attr:`GradCamResult.maps`.
    starts : np.ndarray [shape=(n,)]
        First frame of each segment in the track
        (from :func:`genrecls.features.segment_spectrogram`).
    n_frames : int > 0
        Number of frames of the track's spectrogram.
    fold_repeats : bool
        For a clip shorter than one segment (``n_frames < frames``, one segment at 0), the
        segment holds the clip repeated (repeat-padding). If ``True``, every repetition is
        averaged back onto the clip's frames (frame ``k`` of the segment is frame
        ``k % n_frames`` of the clip); if ``False``, the map is simply cropped to the
        first ``n_frames``.

    Returns
    -------
    stitched : np.ndarray [shape=(n_mels, n_frames), dtype=float32]

    Raises
    ------
    genrecls.exceptions.ParameterError
        If shapes disagree, a start is negative, or some frame is covered by no segment.
    """
    maps = np.asarray(maps)
    starts = np.asarray(starts)
    if maps.ndim != 3 or maps.shape[0] == 0:
        raise ParameterError(f"maps must have shape (n, n_mels, frames), got {maps.shape}")
    if starts.shape != (maps.shape[0],) or not np.issubdtype(starts.dtype, np.integer):
        raise ParameterError(
            f"starts must be {maps.shape[0]} integer frame indices, got shape {starts.shape}"
        )
    if isinstance(n_frames, bool) or not isinstance(n_frames, int | np.integer) or n_frames <= 0:
        raise ParameterError(f"n_frames must be a positive integer, got {n_frames!r}")
    if starts.min() < 0:
        raise ParameterError(f"starts must be >= 0, got {starts.min()}")
    n, n_mels, frames = maps.shape
    total = np.zeros((n_mels, n_frames), dtype=np.float64)
    count = np.zeros(n_frames, dtype=np.int64)
    for m, s in zip(maps, starts, strict=True):
        cols = int(s) + np.arange(frames)
        if fold_repeats and n_frames < frames:
            cols = cols % n_frames
        keep = cols < n_frames
        if fold_repeats and n_frames < frames:  # a column can repeat: unbuffered add
            np.add.at(total.T, cols[keep], m[:, keep].T)
            np.add.at(count, cols[keep], 1)
        else:  # consecutive columns from s on
            k = int(keep.sum())
            total[:, int(s) : int(s) + k] += m[:, :k]
            count[int(s) : int(s) + k] += 1
    if np.any(count == 0):
        first = int(np.flatnonzero(count == 0)[0])
        raise ParameterError(f"frame {first} of {n_frames} is covered by no segment")
    return (total / count).astype(np.float32)


def normalize_shared(maps: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale all maps of a track by one shared maximum.

    One colour scale for the whole track keeps the strength of the evidence visible:
    min–max scaling each segment on its own stretches a segment with almost no evidence
    to the full colour range, so weak and strong segments look alike.

    Parameters
    ----------
    maps : np.ndarray [shape=(...)]
        Non-negative maps (any shape), e.g. stitched or per-segment Grad-CAM maps.

    Returns
    -------
    normalized : np.ndarray [shape=(...), dtype=float32]
        ``maps / scale``, in ``[0, 1]``; all zeros when ``scale`` is 0.
    scale : float
        The global maximum of ``maps`` (0 when no cell has positive evidence).

    Raises
    ------
    genrecls.exceptions.ParameterError
        If ``maps`` is empty, not finite, or negative.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.size == 0:
        raise ParameterError("maps is empty")
    if not np.all(np.isfinite(maps)):
        raise ParameterError("maps contain NaN or infinite values")
    if maps.min() < 0:
        raise ParameterError(f"maps must be non-negative, got minimum {maps.min()}")
    scale = float(maps.max())
    if scale == 0.0:
        return np.zeros_like(maps), 0.0
    return maps / np.float32(scale), scale


def display_scale(saliency: np.ndarray, *, percentile: float = 99.0) -> float:
    """The saliency drawn at full colour: one value for the whole track.

    Grad-CAM maps of networks that max-pool over frequency (musicnn) are peaky: a few
    cells hold most of the evidence, and scaling by the track maximum leaves nearly
    everything else below the visible threshold. A high ``percentile`` of the cells with
    positive evidence is used instead; it is still a single scale for every segment of
    the track (weak segments keep looking weak), and only the top cells saturate.

    Parameters
    ----------
    saliency : np.ndarray
        Non-negative stitched saliency of a track.
    percentile : float in (0, 100]
        Which percentile of the positive cells; 100 gives the maximum.

    Returns
    -------
    scale : float
        0 when no cell has positive evidence.

    Examples
    --------
    >>> s = np.zeros(2000); s[:1000] = 1.0; s[0] = 50.0  # one extreme cell
    >>> display_scale(s), float(s.max())
    (1.0, 50.0)
    """
    if not 0 < percentile <= 100:
        raise ParameterError(f"percentile must be in (0, 100], got {percentile!r}")
    saliency = np.asarray(saliency, dtype=np.float32)
    positive = saliency[saliency > 0]
    if positive.size == 0:
        return 0.0
    return float(np.percentile(positive, percentile))


def grad_cam_track(
    model: nn.Module,
    M: np.ndarray,
    *,
    config: FeatureConfig,
    layer: str,
    target: Target = None,
) -> tuple[np.ndarray, GradCamResult]:
    """Grad-CAM of a whole track: segment, explain, stitch.

    Parameters
    ----------
    model : torch.nn.Module
        See :func:`grad_cam`.
    M : np.ndarray [shape=(n_mels, t)]
        The track's log-mel spectrogram.
    config : FeatureConfig
        Gives the segmentation (``segment_frames``, ``segment_hop_frames``).
    layer : str
        See :func:`grad_cam`.
    target : int or None
        See :func:`grad_cam`; ``None`` explains the track's predicted class.

    Returns
    -------
    stitched : np.ndarray [shape=(n_mels, t), dtype=float32]
        Raw overlap-averaged map on the track's grid (see :func:`normalize_shared`).
    result : GradCamResult
        Per-segment maps and predictions.
    """
    M = np.asarray(M)
    segments, starts = segment_spectrogram(M, config=config)
    result = grad_cam(model, segments, layer=layer, target=target)
    return stitch_segments(result.maps, starts, n_frames=M.shape[1]), result


# --------------------------------------------------------------------------- trust checks


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation between two saliency maps of the same shape.

    Parameters
    ----------
    a, b : np.ndarray [shape=(...)]
        Maps compared cell by cell (ties get average ranks).

    Returns
    -------
    rho : float
        In ``[-1, 1]``; ``nan`` when either map is constant (it has no ranking).
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ParameterError(f"maps must have the same shape and >= 2 cells: {a.shape}, {b.shape}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    import scipy.stats  # 1 s of imports: loaded here, off the classify path

    return float(scipy.stats.spearmanr(a, b).statistic)


def _reinitialize(modules: Sequence[nn.Module]) -> None:
    """Re-draw the parameters (and reset the running statistics) of ``modules``."""
    with torch.no_grad():
        for module in modules:
            if callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
            else:
                for p in module.parameters(recurse=False):
                    nn.init.trunc_normal_(p, std=0.02)


def _own_param_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [
        (name, m)
        for name, m in model.named_modules()
        if any(True for _ in m.parameters(recurse=False))
        or (callable(getattr(m, "reset_parameters", None)) and not list(m.children()))
    ]


def randomization_check(
    model: nn.Module,
    segments: torch.Tensor | np.ndarray,
    *,
    layer: str,
    target: Target = None,
    seed: int = 0,
) -> float:
    """Model-randomization sanity check (Adebayo et al., 2018), full re-initialisation.

    Grad-CAM is computed for ``model`` and for a copy whose every weight is re-drawn from
    its initial distribution (``reset_parameters``; batch-norm statistics reset too). A map
    that explains what the model *learned* must change: a high rank correlation means
    the map mostly reflects the input or the architecture.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model (not modified; the randomized one is a deep copy).
    segments : np.ndarray or torch.Tensor [shape=(n, n_mels, frames)]
        Inputs to explain.
    layer : str
        Grad-CAM layer (see :func:`grad_cam`).
    target : int, sequence of int, or None
        Class(es) explained; ``None`` resolves to the *trained* model's track class, and
        that same class is explained for the randomized copy.
    seed : int
        Seed of the re-initialisation (the global torch RNG is left untouched).

    Returns
    -------
    rho : float
        Spearman rank correlation between the trained and the randomized maps over all
        cells of all segments (``nan`` if a map is constant). Low is good.

    See Also
    --------
    cascading_randomization, rank_correlation
    """
    trained = grad_cam(model, segments, layer=layer, target=target)
    randomized = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _reinitialize([m for _, m in _own_param_modules(randomized)])
    rand = grad_cam(randomized, segments, layer=layer, target=trained.targets)
    return rank_correlation(trained.maps, rand.maps)


def cascading_randomization(
    model: nn.Module,
    segments: torch.Tensor | np.ndarray,
    *,
    layer: str,
    target: Target = None,
    seed: int = 0,
) -> list[tuple[str, float]]:
    """Cascading model-randomization check (Adebayo et al., 2018).

    Modules holding parameters are re-initialised one after another from the output
    towards the input (reverse registration order, which follows the forward order in
    the usual ``nn.Module`` definition), cumulatively, and after each step the Grad-CAM
    map is compared with the trained model's.

    Parameters
    ----------
    model, segments, layer, target, seed
        As in :func:`randomization_check`.

    Returns
    -------
    steps : list of (str, float)
        Name of the module just re-initialised and the Spearman rank correlation of the
        map at that point with the trained map.
    """
    trained = grad_cam(model, segments, layer=layer, target=target)
    randomized = copy.deepcopy(model)
    steps: list[tuple[str, float]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, module in reversed(_own_param_modules(randomized)):
            _reinitialize([module])
            rand = grad_cam(randomized, segments, layer=layer, target=trained.targets)
            steps.append((name, rank_correlation(trained.maps, rand.maps)))
    return steps


def deletion_curve(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    cam: np.ndarray,
    *,
    target: int | None = None,
    steps: int = 20,
    baseline: Literal["mean", "min", "inpaint"] = "mean",
    order: Literal["saliency", "random"] = "saliency",
    region: tuple[int, int] = (1, 1),
    seed: int = 0,
) -> np.ndarray:
    """Probability of a class as the most salient regions are deleted (Samek et al., 2017).

    Each segment is tiled into non-overlapping ``region`` blocks of mel bands × frames
    (cells with ``region=(1, 1)``). The blocks are ranked by their mean ``cam`` (or
    randomly, the control) and replaced by a baseline value in ``steps`` equal
    increments of the number of blocks, from none to all. A faithful map makes the
    probability fall fast, so the area under the curve is small; compare it with the
    random order.

    Deleting whole blocks rather than single cells is Samek et al.'s region perturbation
    ("MoRF"). It matters for the comparison: the random order scattered over single cells
    leaves a salt-and-pepper spectrogram, far from any music the model saw, which drops
    every probability whatever the map says; deleting blocks in both orders makes the
    control damage the input in the same way.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (see :func:`grad_cam`).
    x : np.ndarray or torch.Tensor [shape=(n_mels, t) or (n, n_mels, t)]
        One segment (or a whole spectrogram, if the model accepts its length), or a batch
        of segments of one track, whose probability is the mean of the segments'.
    cam : np.ndarray [shape=x.shape]
        Saliency of each cell. Ties (e.g. the zeros of a rectified map) are ordered at
        random with ``seed``.
    target : int or None
        Class whose probability is followed; ``None`` = the class predicted on ``x``.
    steps : int > 0
        Number of deletion increments; the curve has ``steps + 1`` points.
    baseline : {"mean", "min", "inpaint"}
        What replaces deleted cells: the mean or the minimum of ``x``, or
        ``"inpaint"``: each segment's deleted cells imputed from their neighbours plus
        1 % noise (:func:`genrecls.imputation.noisy_linear_imputation`, Rong et al.,
        2022), so the shape of the deleted blocks does not show in the input.
    order : {"saliency", "random"}
        Delete the most salient blocks first, or in random order.
    region : (int, int)
        Block size in mel bands and frames; the last row/column of blocks may be smaller.
    seed : int
        Seed of the random order and of the tie-breaking.

    Returns
    -------
    curve : np.ndarray [shape=(steps + 1,), dtype=float64]
        ``curve[k]`` is the probability after deleting ``round(k / steps * N)`` of the
        ``N`` blocks; ``curve[0]`` is the unperturbed probability.

    See Also
    --------
    area_under_curve
    """
    _check_model(model)
    if isinstance(x, torch.Tensor):
        x_np = x.detach().cpu().numpy()
    else:
        x_np = np.asarray(x)
    x_np = x_np.astype(np.float32)
    cam = np.asarray(cam, dtype=np.float64)
    if x_np.ndim not in (2, 3) or x_np.size == 0:
        raise ParameterError(f"x must have shape (n_mels, t) or (n, n_mels, t), got {x_np.shape}")
    if cam.shape != x_np.shape:
        raise ParameterError(f"cam shape {cam.shape} differs from x shape {x_np.shape}")
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps <= 0:
        raise ParameterError(f"steps must be a positive integer, got {steps!r}")
    if baseline not in ("mean", "min", "inpaint"):
        raise ParameterError(f"baseline must be 'mean', 'min' or 'inpaint', got {baseline!r}")
    if order not in ("saliency", "random"):
        raise ParameterError(f"order must be 'saliency' or 'random', got {order!r}")
    if not np.all(np.isfinite(x_np)) or not np.all(np.isfinite(cam)):
        raise ParameterError("x and cam must be finite")
    if (
        len(region) != 2
        or any(isinstance(r, bool) or not isinstance(r, int | np.integer) for r in region)
        or min(region) < 1
    ):
        raise ParameterError(f"region must be two positive integers, got {region!r}")
    batch = x_np if x_np.ndim == 3 else x_np[None]
    fill = np.float32(batch.mean() if baseline == "mean" else batch.min())
    block_of_cell = _region_ids(batch.shape, region=region)  # [n, F, T] → block index
    n_blocks = int(block_of_cell.max()) + 1
    block_cam = np.bincount(
        block_of_cell.ravel(), weights=cam.reshape(batch.shape).ravel(), minlength=n_blocks
    ) / np.bincount(block_of_cell.ravel(), minlength=n_blocks)

    rng = np.random.default_rng(seed)
    tiebreak = rng.random(n_blocks)
    if order == "saliency":
        ranking = np.lexsort((tiebreak, -block_cam))  # most salient first, ties at random
    else:
        ranking = rng.permutation(n_blocks)
    rank_of_block = np.empty(n_blocks, dtype=np.int64)
    rank_of_block[ranking] = np.arange(n_blocks)
    rank_of_cell = rank_of_block[block_of_cell]  # [n, F, T]

    model.eval()
    device = _model_device(model)
    curve = np.empty(steps + 1)
    with torch.inference_mode():
        for k in range(steps + 1):
            deleted = rank_of_cell < int(round(k / steps * n_blocks))
            if baseline == "inpaint":
                perturbed = np.stack(
                    [
                        noisy_linear_imputation(segment, gone, rng=rng)
                        for segment, gone in zip(batch, deleted, strict=True)
                    ]
                )
            else:
                perturbed = np.where(deleted, fill, batch)
            inp = torch.from_numpy(perturbed.astype(np.float32, copy=False)).to(device)
            probs = torch.softmax(_logits(model(inp)).float(), dim=1).mean(dim=0).cpu().numpy()
            if k == 0:
                if target is None:
                    target = int(np.argmax(probs))
                elif not (0 <= int(target) < probs.size):
                    raise ParameterError(f"target must lie in [0, {probs.size}), got {target}")
            curve[k] = probs[int(target)]
    return curve


def _region_ids(shape: tuple[int, int, int], *, region: tuple[int, int]) -> np.ndarray:
    """Index of the ``region`` block each cell of ``[n, F, T]`` segments falls in."""
    n, n_f, n_t = shape
    rf, rt = region
    blocks_f, blocks_t = -(-n_f // rf), -(-n_t // rt)
    seg = np.arange(n)[:, None, None] * (blocks_f * blocks_t)
    return seg + (np.arange(n_f) // rf)[None, :, None] * blocks_t + (np.arange(n_t) // rt)


def area_under_curve(curve: np.ndarray) -> float:
    """Area under a deletion curve sampled at equal fractions from 0 to 1 (trapezoid rule).

    Parameters
    ----------
    curve : np.ndarray [shape=(k,)], k >= 2

    Returns
    -------
    auc : float
        In ``[0, 1]`` for a probability curve; smaller means a more faithful map.
    """
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 1 or curve.size < 2:
        raise ParameterError(f"curve must be 1-D with >= 2 points, got shape {curve.shape}")
    return float(np.trapezoid(curve, dx=1.0 / (curve.size - 1)))


# --------------------------------------------------------------------------- listening


def salient_audio(
    y: np.ndarray,
    *,
    sr: int,
    cam_stitched: np.ndarray,
    config: FeatureConfig,
    keep_fraction: float = 0.2,
    smooth: int = 3,
) -> np.ndarray:
    """Resynthesise the part of a recording the model relied on ("what the model heard").

    The STFT of ``y`` (``config.n_fft``, ``config.hop_length``, centred frames, so frame
    ``j`` is the map's frame ``j``) is masked by the saliency and inverted with the
    original phase. The mel-band saliency is carried to each linear-frequency bin by
    linear interpolation over the mel-band centres (the un-normalised triangular mel
    filterbank, whose overlapping triangles sum to one); bins outside ``[fmin, fmax]``,
    which the model never saw, get zero saliency. The top ``keep_fraction`` of all
    time–frequency cells are kept (cells with no evidence are never kept, unless
    ``keep_fraction`` is 1), and the binary mask is smoothed with a ``smooth`` × ``smooth``
    box filter to soften musical-noise artefacts.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``config.sr``, the audio ``cam_stitched`` was computed from.
    sr : int
        Sampling rate of ``y``; must equal ``config.sr``.
    cam_stitched : np.ndarray [shape=(n_mels, 1 + n // hop_length)]
        Non-negative saliency on the track's mel grid (:func:`stitch_segments`).
    config : FeatureConfig
        The front end the model used.
    keep_fraction : float in (0, 1]
        Fraction of time–frequency cells kept. 1 returns the input (up to STFT round-off).
    smooth : int >= 1
        Width in bins and frames of the box filter applied to the mask (1 = none).

    Returns
    -------
    y_salient : np.ndarray [shape=(n,), dtype=float32]
        The masked resynthesis, same length as ``y``.
    """
    y = _check_audio(y)
    if sr != config.sr:
        raise ParameterError(f"sr ({sr}) must equal config.sr ({config.sr})")
    if not 0.0 < keep_fraction <= 1.0:
        raise ParameterError(f"keep_fraction must lie in (0, 1], got {keep_fraction}")
    if isinstance(smooth, bool) or not isinstance(smooth, int | np.integer) or smooth < 1:
        raise ParameterError(f"smooth must be a positive integer, got {smooth!r}")
    cam = np.asarray(cam_stitched, dtype=np.float64)
    n_frames = 1 + y.size // config.hop_length
    if cam.shape != (config.n_mels, n_frames):
        raise ParameterError(
            f"cam_stitched must have shape (n_mels, frames) = {(config.n_mels, n_frames)} "
            f"for this audio, got {cam.shape}"
        )
    if not np.all(np.isfinite(cam)) or cam.min() < 0:
        raise ParameterError("cam_stitched must be finite and non-negative")

    # torch's STFT, not librosa's: librosa.stft/istft import scipy.signal and numba, seconds
    # of start-up the first time the Classify page plays "what the model heard"
    window = torch.hann_window(config.n_fft, dtype=torch.float64)  # periodic, as librosa's
    stft = {"n_fft": config.n_fft, "hop_length": config.hop_length, "window": window}
    S = torch.stft(
        torch.from_numpy(y.astype(np.float64)),
        **stft,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )  # [1 + n_fft // 2, frames]
    if keep_fraction >= 1.0:
        mask = np.ones(S.shape)
    else:
        fmax = config.fmax if config.fmax is not None else config.sr / 2
        tri = mel_filterbank(
            sr=config.sr,
            n_fft=config.n_fft,
            n_mels=config.n_mels,
            fmin=config.fmin,
            fmax=fmax,
            norm=None,
        ).astype(np.float64)  # [n_mels, 1 + n_fft // 2], peaks of 1
        coverage = tri.sum(axis=0)  # [bins]; 1 between the outer band centres
        sal = tri.T @ cam / np.where(coverage > 0, coverage, 1.0)[:, None]  # [bins, frames]
        threshold = np.quantile(sal, 1.0 - keep_fraction)
        mask = ((sal >= threshold) & (sal > 0)).astype(np.float64)
        if smooth > 1:
            mask = _box_filter(mask, size=smooth)
    y_out = torch.istft(S * torch.from_numpy(mask), **stft, center=True, length=y.size)
    return y_out.numpy().astype(np.float32)


def _box_filter(x: np.ndarray, *, size: int) -> np.ndarray:
    """Mean of ``x`` over a ``size`` × ``size`` window, edges repeated.

    ``scipy.ndimage.uniform_filter(x, size, mode="nearest")`` without importing scipy.ndimage
    (for an even ``size`` the window reaches one cell further back than forward).
    """
    before, after = size // 2, size - 1 - size // 2
    padding = (before, after, before, after)
    padded = F.pad(torch.from_numpy(x)[None, None], padding, mode="replicate")
    return F.avg_pool2d(padded, size, stride=1)[0, 0].numpy()
