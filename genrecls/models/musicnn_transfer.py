"""Transfer learning from musicnn: the pretrained tagger with a new genre head.

The backbone is musicnn trained on the Million Song Dataset's last.fm tags (Pons & Serra,
2019); its max- and mean-pooled mid-level features (1506 values per 3 s segment) are
standardised and fed to a new linear layer over the genres — a *linear probe* when the
backbone stays frozen, the recipe that transfers best from small data (Kim et al., 2019,
"Transfer learning of artist group factors to musical genre classification"; Pons &
Serra, 2019, section 4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from genrecls.exceptions import ParameterError
from genrecls.models.musicnn import Musicnn
from genrecls.models.tag_prior import ZeroShotPrior

Feature = Literal["pooled", "embedding"]

#: Segments per autograd graph when :meth:`MusicnnClassifier.gradcam_pass` builds a map.
_GRADCAM_CHUNK = 8


class MusicnnClassifier(nn.Module):
    """musicnn backbone + standardisation + linear genre head.

    Jordi Pons and Xavier Serra, 2019. "musicnn: Pre-trained convolutional neural networks
    for music audio tagging." ISMIR late-breaking demo. https://arxiv.org/abs/1909.06654

    Parameters
    ----------
    n_classes : int > 0
        Number of genres.
    n_mels : int > 1
        Mel bands of the input (96 for the pretrained weights).
    feature : {"pooled", "embedding"}
        Backbone output the head reads: the 1506-d pooled features or the 200-d
        penultimate embedding.
    dropout : float in [0, 1)
        Dropout before the head (training only).
    freeze_backbone : bool
        Keep the backbone in eval mode and without gradients for its weights.
    timbral_rank, temporal_rank : int or None
        Low-rank front-end (see :class:`~genrecls.models.musicnn.Musicnn`); the fast
        variant of the bundled model is built by :mod:`genrecls.compress`.
    timbral_filters : int > 0
        Filters kept in each timbral branch (204 in musicnn; fewer in a pruned network).
    branches : sequence of str or None
        Front-end branches kept (None = all five); the pruned "lite" variant of the
        bundled model is built by :mod:`genrecls.prune`.
    tag_prior_weight : float >= 0
        Weight ``λ`` of the zero-shot tag prior added to the head's logits
        (:class:`~genrecls.models.tag_prior.ZeroShotPrior`); 0 leaves it out.
    tag_prior_predicts_msd : bool
        The prior predicts the MSD tags from the pooled features instead of reading the
        backbone's tag outputs (for a pruned backbone, whose tag outputs drifted).

    Notes
    -----
    ``forward`` takes ``[B, n_mels, T]`` like every genrecls model (musicnn itself takes
    time first; the transpose happens here). Grad-CAM layers: ``timbral_f74`` and
    ``timbral_f77`` are 2-D time × frequency maps (laid out time first, see
    :meth:`gradcam_layouts`), ``midend3`` is time-only.
    """

    def __init__(
        self,
        *,
        n_classes: int = 10,
        n_mels: int = 96,
        feature: Feature = "pooled",
        dropout: float = 0.0,
        freeze_backbone: bool = True,
        timbral_rank: int | None = None,
        temporal_rank: int | None = None,
        timbral_filters: int = 204,
        branches: Sequence[str] | None = None,
        tag_prior_weight: float = 0.0,
        tag_prior_predicts_msd: bool = False,
    ) -> None:
        super().__init__()
        if feature not in ("pooled", "embedding"):
            raise ParameterError(f"feature must be 'pooled' or 'embedding', got {feature!r}")
        if n_classes < 1:
            raise ParameterError(f"n_classes must be >= 1, got {n_classes}")
        self.feature = feature
        self.freeze_backbone = freeze_backbone
        self.backbone = Musicnn(
            n_mels=n_mels,
            n_tags=50,
            timbral_rank=timbral_rank,
            temporal_rank=temporal_rank,
            timbral_filters=timbral_filters,
            branches=branches,
        )
        in_dim = self.backbone.pooled_features if feature == "pooled" else 200
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_scale", torch.ones(in_dim))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(in_dim, n_classes)
        if tag_prior_weight < 0:
            raise ParameterError(f"tag_prior_weight must be >= 0, got {tag_prior_weight}")
        self.tag_prior_weight = float(tag_prior_weight)
        self.tag_prior = (
            ZeroShotPrior(
                in_dim=self.backbone.pooled_features,
                weight=tag_prior_weight,
                predict_msd=tag_prior_predicts_msd,
            )
            if tag_prior_weight > 0
            else None
        )
        if freeze_backbone:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> MusicnnClassifier:
        """Set training mode; a frozen backbone always stays in eval mode (BN statistics)."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features the head reads, ``[B, n_mels, T]`` → ``[B, in_dim]``."""
        out = self.backbone(x.transpose(1, 2))  # musicnn wants [B, T, n_mels]
        return out[self.feature]

    def head_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Head on precomputed backbone features ``[B, in_dim]`` → logits ``[B, n_classes]``."""
        z = (features - self.feature_mean) / self.feature_scale  # [B, in_dim]
        return self.head(self.dropout(z))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Classify log-mel segments ``x`` [shape=(B, n_mels, T)].

        Returns
        -------
        outputs : dict
            ``"logits"`` [shape=(B, n_classes)], ``"embedding"`` [shape=(B, in_dim)]
            (the standardised backbone features).
        """
        out = self.backbone(x.transpose(1, 2))  # [B, T, 96] in
        features = out[self.feature]  # [B, 1506] (full network) or [B, 200]
        z = (features - self.feature_mean) / self.feature_scale
        return {"logits": self.head(self.dropout(z)) + self.log_prior(out), "embedding": z}

    def log_prior(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor | float:
        """The tag prior added to the head's logits, from the backbone's ``outputs``.

        ``0.0`` without a prior (``tag_prior_weight=0``), else ``[B, n_classes]``.
        """
        if self.tag_prior is None:
            return 0.0
        return self.tag_prior(outputs["pooled"], outputs["logits"])

    def genre_logits(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Genre logits from the backbone's ``outputs``: head plus tag prior."""
        return self.head_logits(outputs[self.feature]) + self.log_prior(outputs)

    def gradcam_layers(self) -> dict[str, nn.Module]:
        """Named layers for Grad-CAM, shallow to deep."""
        layers = {
            name: getattr(self.backbone, name)
            for name in ("timbral_f74", "timbral_f77")
            if name in self.backbone.branches
        }
        layers["midend3"] = self.backbone.midend3
        return layers

    def gradcam_pass(
        self, x: torch.Tensor, *, layer: str
    ) -> tuple[torch.Tensor, Callable[[torch.Tensor, str], torch.Tensor]]:
        """Logits, and Grad-CAM from them, without materialising every 2-D map.

        Grad-CAM through forward hooks needs the front-end's time × frequency maps of all
        five branches and a backward pass through their max over frequency. Neither is
        necessary: the gradient of the logits with respect to a branch's map ``A`` is the
        gradient ``g`` with respect to its frequency maximum, put at the arg-max
        frequency. Its sum over frequency and time, and so the Grad-CAM channel weight
        ``w_c = sum_t g[c, t] / (T F')``, needs only ``g``, which the cheap 1-D mid- and
        back-end give; the map is then recomputed for the explained branch alone
        (:meth:`~genrecls.models.musicnn.Musicnn.branch_cam`). The front-end runs once,
        fused (:func:`genrecls.models.musicnn._frequency_max`), exactly as for
        classifying; the small autograd graph of the 1-D part is built a few segments at
        a time when the map is asked for, so the memory stays flat with many segments.

        Parameters
        ----------
        x : torch.Tensor [shape=(B, n_mels, T)]
            Log-mel segments.
        layer : str
            A key of :meth:`gradcam_layers`.

        Returns
        -------
        logits : torch.Tensor [shape=(B, n_classes)]
            No autograd graph.
        cam : callable
            ``cam(targets, kind)``: for ``targets`` (class per segment, ``[B]`` long) and
            ``kind`` ``"gradcam"`` or ``"layercam"`` (see :mod:`genrecls.saliency`), the
            map before the final ReLU, ``[B, 1, F', T']`` (front-end) or ``[B, 1, T']``
            (``midend3``).
        """
        net = self.backbone
        xt = x.transpose(1, 2)  # musicnn wants [B, T, n_mels]
        if layer not in self.gradcam_layers():
            raise ParameterError(f"unknown Grad-CAM layer {layer!r}")
        with torch.no_grad():
            branches = net.frontend(xt)  # fused: no 2-D maps kept
            logits = self.genre_logits(net.from_frontend(branches)[0])

        def cam(targets: torch.Tensor, kind: str) -> torch.Tensor:
            out = []
            for start in range(0, len(xt), _GRADCAM_CHUNK):
                part = slice(start, start + _GRADCAM_CHUNK)
                out.append(
                    self._frontend_cam(
                        xt[part], [b[part] for b in branches], targets[part], layer, kind
                    )
                )
            return torch.cat(out)

        return logits, cam

    def _frontend_cam(
        self,
        xt: torch.Tensor,
        branches: list[torch.Tensor],
        targets: torch.Tensor,
        layer: str,
        kind: str,
    ) -> torch.Tensor:
        """:meth:`gradcam_pass`'s map for a few segments (``xt`` time first)."""
        net = self.backbone
        with torch.inference_mode(False), torch.enable_grad():
            # Gradients start at the explained branch, or at the whole front-end for
            # midend3 (the backbone's weights are frozen: nothing else needs a graph).
            branches = [
                b.detach().requires_grad_(layer in (name, "midend3"))
                for b, name in zip(branches, net.branches, strict=True)
            ]
            outputs, midend3 = net.from_frontend(branches)
            logits = self.genre_logits(outputs)
            score = logits.gather(1, targets[:, None]).sum()
            source = midend3 if layer == "midend3" else branches[net.branches.index(layer)]
            (g,) = torch.autograd.grad(score, source)
        if layer == "midend3":
            weights = g.mean(dim=2, keepdim=True) if kind == "gradcam" else torch.relu(g)
            return (weights * midend3.detach()).sum(dim=1, keepdim=True)  # [b, 1, T]
        return net.branch_cam(layer, xt, g, kind=kind).transpose(1, 2)[:, None]

    def default_gradcam_layer(self) -> str:
        """The layer shown first: the coarser 2-D time × frequency front-end map."""
        for name in ("timbral_f77", "timbral_f74", "midend3"):
            if name in self.gradcam_layers():
                return name
        raise AssertionError("unreachable: midend3 is always there")

    def gradcam_layouts(self) -> dict[str, str]:
        """The front-end maps are time-first (``[B, C, T', F']``)."""
        return {name: "tf" for name in self.gradcam_layers() if name != "midend3"}
