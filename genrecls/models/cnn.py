"""A compact 2-D CNN trained from scratch on log-mel segments.

Conventions shared by every genrecls classifier:

- ``forward(x)`` takes log-mel segments ``x`` of shape ``[B, n_mels, T]`` (the output of
  :func:`genrecls.features.segment_spectrogram`) and returns a dict
  ``{"logits": [B, n_classes], "embedding": [B, D]}``; the softmax is the caller's job.
- ``gradcam_layers()`` returns named convolutional modules whose outputs are 2-D
  time–frequency maps ``[B, C, F', T']``, ordered shallow to deep, for Grad-CAM hooks.
- Constructor arguments set every shape; ``init_weights()`` is explicit.
"""

from __future__ import annotations

import torch
from torch import nn

from genrecls.exceptions import ParameterError

__all__ = ["CompactCNN", "count_macs"]


def _valid_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return value


class _ConvBlock(nn.Module):
    """conv 3x3 → BN → ReLU → max-pool; ``relu`` is the Grad-CAM hook point."""

    def __init__(self, in_channels: int, out_channels: int, pool: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        # Not in-place: backward hooks on this module must see its own output.
        self.relu = nn.ReLU(inplace=False)
        self.pool = nn.MaxPool2d(kernel_size=pool, stride=pool, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


class CompactCNN(nn.Module):
    """Compact fully convolutional genre classifier on log-mel spectrograms.

    After Keunwoo Choi, George Fazekas and Mark Sandler, 2016. "Automatic tagging using
    deep convolutional neural networks." Proc. ISMIR 2016, pp. 805–811.
    https://arxiv.org/abs/1606.00298

    As in that paper: 3x3 convolutions with batch normalisation, ReLU and max-pooling,
    stacked four times, on a log-mel input. Smaller than the paper's FCN-4 (which reads
    29 s of audio): it reads one ~3 s segment of 96 bands x 187 frames. The input passes
    through a per-mel-band batch norm first, so raw ``logC`` or dB values need no
    external standardisation. At the end only *time* is pooled globally (mean and max,
    so any input length works); the remaining frequency rows are kept and flattened,
    because unlike in a photograph, absolute position on the frequency axis carries
    meaning (a bass line and a hi-hat pattern can have the same shape). One linear layer
    maps this embedding to the logits.

    Parameters
    ----------
    n_mels : int > 0
        Mel bands of the input.
    n_classes : int > 0
        Number of output classes.
    channels : tuple of int > 0
        Output channels of the conv blocks (``block1``, ``block2``, ...); at least one.
    pools : tuple of (int > 0, int > 0)
        Max-pool size (frequency, time) after each block; same length as ``channels``.
        ``ceil_mode`` pooling, so inputs smaller than the total pooling still work.
    dropout : float in [0, 1)
        Dropout before the linear head (training mode only).

    Notes
    -----
    Shapes for the default 96 x 187 input (F x T), batch ``B``::

        input_bn      [B, 96, 187]
        block1.relu   [B, 8, 96, 187]    → pool (2, 4) → [B, 8, 48, 47]
        block2.relu   [B, 24, 48, 47]    → pool (2, 2) → [B, 24, 24, 24]
        block3.relu   [B, 48, 24, 24]    → pool (2, 2) → [B, 48, 12, 12]
        block4.relu   [B, 96, 12, 12]    → pool (2, 2) → [B, 96, 6, 6]
        embedding     [B, 1152]          (mean and max over time, per channel and row)
        logits        [B, n_classes]

    ``embedding_dim = 2 * channels[-1] * out_freq`` with ``out_freq`` the number of
    frequency rows left after pooling (``n_mels`` divided by the frequency pools,
    rounded up).

    Size: the defaults have 65,714 parameters (10 classes) and cost 17.1 M
    multiply–accumulates per 96 x 187 segment (:func:`count_macs`). The first block
    runs at full resolution, so it is kept narrow (8 channels) and pools time by 4: on a
    CPU its memory traffic (batch norm, ReLU, pooling), not its arithmetic, dominates.
    Wider settings such as ``channels=(16, 32, 64, 128)`` with ``(2, 2)`` pools need
    65.4 M MACs, 3.8 times as many.

    Examples
    --------
    >>> import torch
    >>> model = CompactCNN(n_classes=10).eval()
    >>> out = model(torch.randn(2, 96, 187))
    >>> out["logits"].shape, out["embedding"].shape
    (torch.Size([2, 10]), torch.Size([2, 1152]))
    """

    def __init__(
        self,
        *,
        n_mels: int = 96,
        n_classes: int = 10,
        channels: tuple[int, ...] = (8, 24, 48, 96),
        pools: tuple[tuple[int, int], ...] = ((2, 4), (2, 2), (2, 2), (2, 2)),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.n_mels = _valid_positive_int(n_mels, "n_mels")
        self.n_classes = _valid_positive_int(n_classes, "n_classes")
        channels = tuple(channels)
        pools = tuple(tuple(p) for p in pools)
        if not channels:
            raise ParameterError("channels must name at least one conv block")
        for i, c in enumerate(channels):
            _valid_positive_int(c, f"channels[{i}]")
        if len(pools) != len(channels):
            raise ParameterError(
                f"pools must have one (freq, time) size per block: {len(channels)} blocks, "
                f"got {len(pools)} pools"
            )
        for i, p in enumerate(pools):
            if len(p) != 2:
                raise ParameterError(f"pools[{i}] must be a (freq, time) pair, got {p!r}")
            _valid_positive_int(p[0], f"pools[{i}][0]")
            _valid_positive_int(p[1], f"pools[{i}][1]")
        if not 0.0 <= dropout < 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {dropout!r}")
        self.channels = channels
        self.pools = pools
        self.out_freq = n_mels
        for p in pools:
            self.out_freq = -(-self.out_freq // p[0])  # ceil_mode pooling
        self.embedding_dim = 2 * channels[-1] * self.out_freq

        self.input_bn = nn.BatchNorm1d(n_mels)  # per-frequency normalisation
        self.block_names = tuple(f"block{i + 1}" for i in range(len(channels)))
        in_channels = 1
        for name, out_channels, pool in zip(self.block_names, channels, pools, strict=True):
            self.add_module(name, _ConvBlock(in_channels, out_channels, pool))
            in_channels = out_channels
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.embedding_dim, n_classes)
        self.init_weights()

    def init_weights(self) -> None:
        """Initialise weights: He (fan-out) for convs, unit BN, small normal head."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
                module.reset_running_stats()
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    def blocks(self) -> list[_ConvBlock]:
        """Return the conv blocks, shallow to deep."""
        return [getattr(self, name) for name in self.block_names]

    def gradcam_layers(self) -> dict[str, nn.Module]:
        """Return the Grad-CAM hook points, shallow to deep.

        Returns
        -------
        layers : dict[str, torch.nn.Module]
            ``{"block1": block1.relu, ...}``: each module outputs the post-ReLU conv map
            ``[B, C, F', T']`` of its block (before that block's max-pool).
        """
        return {name: getattr(self, name).relu for name in self.block_names}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Classify log-mel segments.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, n_mels, time)]
            Log-mel segments; any ``time >= 1``.

        Returns
        -------
        outputs : dict[str, torch.Tensor]
            ``"logits"`` [shape=(batch, n_classes)]: pre-softmax class scores.
            ``"embedding"`` [shape=(batch, embedding_dim)]: mean and max over time of
            the last pooled conv map, per channel and frequency row, flattened
            (``(c, f, [mean, max])`` order).

        Raises
        ------
        genrecls.exceptions.ParameterError
            If ``x`` is not 3-D with ``n_mels`` bands in the middle axis.
        """
        if x.ndim != 3 or x.shape[1] != self.n_mels or x.shape[2] < 1:
            raise ParameterError(
                f"expected input of shape (batch, {self.n_mels}, time), got {tuple(x.shape)}"
            )
        h = self.input_bn(x).unsqueeze(1)  # [B, 1, F, T]
        for block in self.blocks():
            h = block(h)  # [B, C_i, F / p_f, T / p_t]
        # pool time only: [B, C, F', 2] → [B, 2 C F']
        embedding = torch.stack([h.mean(dim=3), h.amax(dim=3)], dim=3).flatten(1)
        logits = self.classifier(self.dropout(embedding))  # [B, n_classes]
        return {"logits": logits, "embedding": embedding}


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Count the multiply–accumulates of one forward pass of ``model`` on ``x``.

    Counts convolutions (``Conv1d``/``Conv2d``) and ``Linear`` layers through forward
    hooks; normalisation, activations and pooling are ignored (they are cheap).

    Parameters
    ----------
    model : torch.nn.Module
        The network (run in its current mode, without gradients).
    x : torch.Tensor
        An input batch.

    Returns
    -------
    macs : int
        Multiply–accumulates for the whole batch.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv1d | nn.Conv2d):
            kernel = module.weight[0].numel()  # in_channels / groups * prod(kernel_size)
            total += output.numel() * kernel
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear)
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return int(total)
