"""Low-rank front-end for musicnn: most of its arithmetic, fitted away on real music.

About 1.3 of musicnn's 1.4 G multiply–accumulates per 3 s segment are its five front-end
convolutions, each with a single input channel and a large kernel (7 × 38 and 7 × 67
timbral, 128/64/32 × 1 temporal). Their responses to music are highly redundant: the
204 timbral filters' outputs live close to a subspace of a few dozen dimensions. Each
convolution ``W`` (``C`` filters of ``k`` taps) is replaced by ``r < C`` basis filters
followed by a 1 × 1 convolution back to ``C`` channels, ``W ≈ M (Mᵀ W)``, where ``M``
holds the top ``r`` eigenvectors of the covariance of the *responses* ``W x`` over
patches ``x`` of real log-mel input (the response-reconstruction decomposition of
Zhang, Zou, He & Sun, 2016, "Accelerating very deep convolutional networks for
classification and detection", IEEE TPAMI 38(10); https://arxiv.org/abs/1505.06798).
The residual mean is folded into the 1 × 1 bias, so the approximation is exact on the
mean response and optimal in the least-squares sense over the fitting patches.

The cost of a branch drops from ``k · C`` to ``r · (k + C)`` per position; no training
is involved, and :mod:`genrecls.compress` measures what it does to the genre verdicts.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from genrecls.exceptions import ParameterError

__all__ = ["LowRankConv2d", "factorize_conv", "FRONTEND_BRANCHES"]

#: musicnn front-end branches and which rank setting applies to them.
FRONTEND_BRANCHES: dict[str, str] = {
    "timbral_f74": "timbral",
    "timbral_f77": "timbral",
    "temporal_s1": "temporal",
    "temporal_s2": "temporal",
    "temporal_s3": "temporal",
}


class LowRankConv2d(nn.Sequential):
    """A single-input-channel convolution factored into ``rank`` basis filters + a 1 × 1 mix.

    Parameters
    ----------
    out_channels : int > 0
        Output channels (as the convolution it replaces).
    kernel_size : (int, int)
        Kernel of the basis filters.
    rank : int in [1, out_channels]
        Number of basis filters.

    Notes
    -----
    ``basis`` has no bias; ``mix`` carries the original bias plus the mean correction.
    Input ``[B, 1, H, W]``, output ``[B, out_channels, H - kh + 1, W - kw + 1]``.
    """

    def __init__(self, *, out_channels: int, kernel_size: tuple[int, int], rank: int) -> None:
        if not (isinstance(rank, int) and 1 <= rank <= out_channels):
            raise ParameterError(f"rank must be an int in [1, {out_channels}], got {rank!r}")
        super().__init__(
            OrderedDict(
                basis=nn.Conv2d(1, rank, kernel_size=tuple(kernel_size), bias=False),
                mix=nn.Conv2d(rank, out_channels, kernel_size=1),
            )
        )
        self.rank = rank


def factorize_conv(
    conv: nn.Conv2d,
    inputs: torch.Tensor,
    *,
    rank: int,
    max_positions: int = 200_000,
    seed: int = 0,
) -> LowRankConv2d:
    """Fit a :class:`LowRankConv2d` that reproduces ``conv`` on typical inputs.

    Parameters
    ----------
    conv : torch.nn.Conv2d
        Single input channel, no groups, stride 1, no dilation or padding (pad outside).
    inputs : torch.Tensor [shape=(B, 1, H, W)]
        Inputs to ``conv`` (already padded) from real data.
    rank : int
        Basis filters to keep.
    max_positions : int > 0
        Patches sampled from ``inputs`` to estimate the covariance.
    seed : int
        Seed of the patch sample.

    Returns
    -------
    lowrank : LowRankConv2d
        With ``lowrank.explained`` (float): the share of the response variance over the
        fitting patches that the kept ``rank`` directions explain.

    Raises
    ------
    genrecls.exceptions.ParameterError
        ``conv`` is not a plain single-input-channel convolution, or ``inputs`` has the
        wrong shape.
    """
    if (
        conv.in_channels != 1
        or conv.groups != 1
        or conv.stride != (1, 1)
        or conv.dilation != (1, 1)
        or conv.padding not in ((0, 0), "valid")
    ):
        raise ParameterError("factorize_conv needs a plain single-input-channel Conv2d")
    if inputs.ndim != 4 or inputs.shape[1] != 1:
        raise ParameterError(f"inputs must be [B, 1, H, W], got {tuple(inputs.shape)}")
    kernel = tuple(conv.kernel_size)
    W = conv.weight.detach().reshape(conv.out_channels, -1).double()  # [C, k]
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        # sample patches segment by segment (unfolding everything at once needs GBs)
        per = max(1, max_positions // inputs.shape[0])
        patches = []
        for x in inputs:
            cols = nn.functional.unfold(x[None], kernel_size=kernel)[0].T  # [L, k]
            take = rng.choice(len(cols), size=min(per, len(cols)), replace=False)
            patches.append(cols[torch.from_numpy(take)].double())
        X = torch.cat(patches)  # [N, k]
        mu = X.mean(0)
        Xc = X - mu
        cov_x = Xc.T @ Xc / len(Xc)  # [k, k]
        cov_y = W @ cov_x @ W.T  # [C, C]
        evals, evecs = torch.linalg.eigh(cov_y)  # ascending
        M = evecs[:, -rank:]  # [C, r]
        explained = float(evals[-rank:].clamp(min=0).sum() / evals.clamp(min=0).sum())
        bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros(len(W))
        residual_mean = W @ mu - M @ (M.T @ (W @ mu))  # what the projection loses on the mean
        out = LowRankConv2d(out_channels=conv.out_channels, kernel_size=kernel, rank=rank)
        out.basis.weight.copy_((M.T @ W).reshape(rank, 1, *kernel).float())
        out.mix.weight.copy_(M.reshape(conv.out_channels, rank, 1, 1).float())
        out.mix.bias.copy_((bias + residual_mean).float())
    out.explained = explained
    return out
