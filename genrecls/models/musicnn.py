"""musicnn, the pretrained music audio tagger of Pons & Serra (2019), in PyTorch.

The network is rebuilt layer by layer from the TF1 code of the ``musicnn`` 0.1.0 wheel
(``models.py``: ``build_musicnn``) so that the converted ``MSD_musicnn`` and
``MTT_musicnn`` checkpoints (see ``scripts/convert_musicnn.py`` and
:func:`genrecls.pretrained.load_musicnn`) compute the same function. The module also
holds the exact input preprocessing (:func:`musicnn_logmel`), the patching
(:func:`musicnn_patches`) and the two 50-tag vocabularies.

Layout: TensorFlow's NHWC input ``[B, T, 96, 1]`` is ``[B, 1, T, 96]`` here (channels
first, height = time, width = mel band).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import librosa
import numpy as np
import torch
from torch import nn

from genrecls.exceptions import ParameterError
from genrecls.models.lowrank import LowRankConv2d

__all__ = [
    "HOP_LENGTH",
    "MSD_TAGS",
    "MTT_TAGS",
    "N_FFT",
    "N_MELS",
    "PATCH_FRAMES",
    "SR",
    "Musicnn",
    "musicnn_logmel",
    "musicnn_patches",
    "patch_frames",
]

#: Sample rate musicnn works at (Hz).
SR: int = 16000
#: FFT size and hop of the mel spectrogram (samples at 16 kHz).
N_FFT: int = 512
HOP_LENGTH: int = 256
#: Number of Slaney mel bands (0 to 8000 Hz).
N_MELS: int = 96
#: Frames per model input patch: ``librosa.time_to_frames(3, sr=16000, n_fft=512,
#: hop_length=256) + 1`` = 187 (about 3 s), as in musicnn's ``extractor.py``.
PATCH_FRAMES: int = 187
#: Lower-case alias of :data:`PATCH_FRAMES` (the name used in the project plan).
patch_frames: int = PATCH_FRAMES

#: Batch-norm settings of ``tf.compat.v1.layers.batch_normalization``
#: (epsilon 1e-3; TF momentum 0.99 is torch momentum 0.01).
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01

#: Largest finite float16; the power mel spectrogram is clipped to it before the fp16 cast.
_FP16_MAX = float(np.finfo(np.float16).max)

#: The 50 MagnaTagATune tags of ``MTT_musicnn``, in output order (``configuration.py``).
MTT_TAGS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
    "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip

#: The 50 Million Song Dataset (last.fm) tags of ``MSD_musicnn``, in output order.
MSD_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip


def _valid_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _valid_mono(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"audio must be mono, shape (n_samples,); got shape {y.shape}")
    if y.size == 0:
        raise ParameterError("audio is empty")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"audio must be floating point, got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise ParameterError("audio contains NaN or infinite samples")
    return y.astype(np.float32, copy=False)


def musicnn_logmel(y: np.ndarray, *, sr: int = SR) -> np.ndarray:
    """Compute musicnn's log-compressed mel spectrogram ("logC").

    Reproduces ``batch_data`` of musicnn's ``extractor.py``: resample to 16 kHz, power
    mel spectrogram (``n_fft=512``, ``hop_length=256``, 96 Slaney mel bands from 0 to
    8000 Hz, Slaney area normalisation, Hann window, ``center=True``), cast to float16,
    then ``log10(10000 * S + 1)``. No mean/variance normalisation.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)], real-valued floating point
        Mono audio, nominally in [-1, 1].
    sr : int > 0
        Sample rate of ``y``. Audio at another rate is resampled to 16 kHz with
        ``librosa.resample`` (soxr "HQ"; musicnn used librosa 0.7 with resampy, so
        resampled inputs differ from the original very slightly).

    Returns
    -------
    logmel : np.ndarray [shape=(t, 96), dtype=float32]
        Time × mel, ``t = 1 + n_samples_16k // 256``; values are >= 0.

    Raises
    ------
    genrecls.exceptions.ParameterError
        If ``y`` is not 1-D floating point, is empty, or holds NaN/inf; or if ``sr``
        is not a positive integer.

    Notes
    -----
    Two version details are pinned so that the result matches what the models were
    trained on:

    - The STFT pads with ``pad_mode="reflect"`` (librosa 0.7's default; librosa >= 0.10
      pads with zeros). Only the first and last frame are affected.
    - musicnn ran under numpy 1.x, where ``10000 * S`` on a float16 array was promoted
      to float32 (value-based casting). Under numpy >= 2 it stays float16 and overflows
      to ``inf`` for ``S > 6.55``, which happens in about 1-3 % of the bins of ordinary
      music. Here the float16 quantisation is kept and the log is taken in float32,
      as the original did. ``S`` is clipped to the float16 maximum first (the original
      would give ``inf`` there; real audio in [-1, 1] stays far below it).

    Examples
    --------
    >>> y = np.zeros(48000, dtype=np.float32)  # 3 s at 16 kHz
    >>> musicnn_logmel(y).shape
    (188, 96)
    """
    y = _valid_mono(y)
    sr = _valid_positive_int(sr, "sr")
    if sr != SR:
        y = librosa.resample(y, orig_sr=sr, target_sr=SR)
    mel = librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, pad_mode="reflect"
    ).T  # [t, 96], float32
    mel = np.minimum(mel, _FP16_MAX).astype(np.float16).astype(np.float32)
    return np.log10(10000.0 * mel + 1.0).astype(np.float32)


def musicnn_patches(
    logmel: np.ndarray, *, n_frames: int = PATCH_FRAMES, hop_frames: int | None = None
) -> np.ndarray:
    """Cut a log-mel spectrogram into model input patches.

    Parameters
    ----------
    logmel : np.ndarray [shape=(t, n_mels)]
        Output of :func:`musicnn_logmel`.
    n_frames : int > 0
        Patch length in frames (187 = about 3 s, the training length).
    hop_frames : int > 0 or None
        Stride between patch starts; ``None`` means ``n_frames`` (no overlap, musicnn's
        default). Trailing frames that do not fill a patch are dropped, as in musicnn.

    Returns
    -------
    patches : np.ndarray [shape=(n_patches, n_frames, n_mels), dtype=float32]
        ``n_patches = 1 + (t - n_frames) // hop_frames``. A spectrogram shorter than
        ``n_frames`` is repeated along time to one full patch ("repeat-pad", the
        training setting; musicnn's extractor would return no patch at all).

    Raises
    ------
    genrecls.exceptions.ParameterError
        If ``logmel`` is not a non-empty 2-D array or a length is not a positive int.
    """
    logmel = np.asarray(logmel, dtype=np.float32)
    if logmel.ndim != 2 or logmel.shape[0] == 0:
        raise ParameterError(f"logmel must have shape (t > 0, n_mels), got {logmel.shape}")
    n_frames = _valid_positive_int(n_frames, "n_frames")
    hop = n_frames if hop_frames is None else _valid_positive_int(hop_frames, "hop_frames")
    if logmel.shape[0] < n_frames:
        reps = -(-n_frames // logmel.shape[0])
        logmel = np.tile(logmel, (reps, 1))[:n_frames]
    starts = range(0, logmel.shape[0] - n_frames + 1, hop)
    return np.stack([logmel[s : s + n_frames] for s in starts])


def _batch_norm_2d(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


def _batch_norm_1d(channels: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


def _frontend_branch(
    filters: int, kernel: tuple[int, int], pad_before: int, pad_after: int, rank: int | None
) -> nn.Sequential:
    """Time padding → Conv2d → ReLU → BN (musicnn's ``timbral_block``/``tempo_block``).

    With ``rank`` the convolution is a :class:`~genrecls.models.lowrank.LowRankConv2d`.
    """
    if rank is None:
        conv = nn.Conv2d(1, filters, kernel_size=kernel)
    else:
        conv = LowRankConv2d(out_channels=filters, kernel_size=kernel, rank=rank)
    return nn.Sequential(
        OrderedDict(
            pad=nn.ZeroPad2d((0, 0, pad_before, pad_after)),  # (mel l, mel r, time, time)
            conv=conv,
            relu=nn.ReLU(),
            bn=_batch_norm_2d(filters),
        )
    )


def _midend_layer(in_channels: int, filters: int) -> nn.Sequential:
    """Conv1d over time (kernel 7, 'same') → ReLU → BN (musicnn's mid-end layer)."""
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv1d(in_channels, filters, kernel_size=7, padding=3),
            relu=nn.ReLU(),
            bn=_batch_norm_1d(filters),
        )
    )


#: Segments per chunk of the fused front-end (bounds its temporary memory to ~40 MB).
_FUSED_CHUNK = 4


def _frequency_max(branch: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """A front-end branch followed by the max over frequency: ``branch(x).amax(dim=3)``.

    In eval mode, without gradients and with no hook on ``branch`` (nobody needs its
    2-D map, as Grad-CAM does), the same numbers are computed without materialising the
    map through ReLU and BN: both are monotone per channel, so
    ``max_f BN(ReLU(z)) = BN(ReLU(max_f z))`` where the BN scale is positive and
    ``BN(ReLU(min_f z))`` where it is negative. The minimum is taken as
    ``-max_f(-z)``: the sign of each channel's scale is folded into the convolution, so
    one max over frequency serves every channel. The maps are reduced in time ×
    frequency × channel layout, where the max over frequency is an element-wise max of
    contiguous channel vectors (``aminmax`` over a short innermost axis was 40 % of the
    forward pass). Segments are processed a few at a time to keep the temporary maps
    small.

    Parameters
    ----------
    branch : torch.nn.Sequential
        ``pad → conv → relu → bn`` (:func:`_frontend_branch`).
    x : torch.Tensor [shape=(B, 1, T, F)]

    Returns
    -------
    y : torch.Tensor [shape=(B, C, T')]
    """
    if branch.training or torch.is_grad_enabled() or _has_hooks(branch):
        return branch(x).amax(dim=3)
    conv = branch.conv
    scale, shift = _batch_norm_affine(branch.bn)
    sign = torch.where(scale >= 0, 1.0, -1.0).to(scale.dtype)  # [C]
    extreme = _low_rank_signed_max if isinstance(conv, LowRankConv2d) else _full_rank_signed_max
    out = [extreme(conv, branch.pad(chunk), sign) for chunk in torch.split(x, _FUSED_CHUNK)]
    z = torch.cat(out)  # [B, C, T']: max over frequency where the scale is ≥ 0, else min
    return torch.relu(z) * scale[:, None] + shift[:, None]


#: Frames per block of the low-rank mix, so each block's map stays in the CPU cache
#: (64 × 59 bands × 204 channels ≈ 3 MB). Measured on 11 segments, idle, 2 threads: the
#: fast model's forward pass 0.36–0.41 s with blocks of 16 frames, 0.31–0.33 s with 64,
#: 0.37–0.40 s with a whole segment (187) (channel × time × frequency layout, before
#: the reduction moved to time × frequency × channel).
_MIX_FRAMES = 64


def _frames_by_rank(basis: torch.Tensor, start: int) -> torch.Tensor:
    """A block of frames of one segment's basis maps as a ``[n·F', r]`` matrix, no copy.

    ``basis`` is ``[r, T', F']``; the block is frames ``start : start + _MIX_FRAMES``,
    returned as a transposed view that ``mm`` reads as it is. Copying the maps into time
    × frequency × rank layout first cost 5 % of the fast model's classify-and-explain
    time on a 30 s clip (interleaved A/B, 25 runs each: median 357 → 339 ms).
    """
    return basis[:, start : start + _MIX_FRAMES].reshape(basis.shape[0], -1).T


def _low_rank_signed_max(conv, padded: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """``sign · max_f(sign · z)`` of a :class:`LowRankConv2d`'s output ``z``, block by block.

    Returns ``[b, C, T']`` (the 1 × 1 mix bias included): the max over frequency for the
    channels with ``sign`` +1, the min for those with -1.
    """
    basis = conv.basis(padded)  # [b, r, T', F']
    b, r, t, f = basis.shape
    mix_t = (conv.mix.weight.view(-1, r) * sign[:, None]).T.contiguous()  # [r, C]
    out = basis.new_empty(b, t, mix_t.shape[1])
    for i in range(b):
        for s in range(0, t, _MIX_FRAMES):
            z = torch.mm(_frames_by_rank(basis[i], s), mix_t)  # [n·F', C]
            torch.amax(z.view(-1, f, mix_t.shape[1]), dim=1, out=out[i, s : s + _MIX_FRAMES])
    return out.transpose(1, 2) * sign[:, None] + conv.mix.bias[:, None]


def _full_rank_signed_max(conv, padded: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """``sign · max_f(sign · conv(padded))`` for a plain :class:`torch.nn.Conv2d`, ``[b, C, T']``.

    The sign is folded into the weights and bias; the map is computed channels-last so
    the max over frequency runs over contiguous channel vectors.
    """
    weight = (conv.weight * sign[:, None, None, None]).contiguous(memory_format=torch.channels_last)
    bias = conv.bias * sign if conv.bias is not None else None
    z = torch.nn.functional.conv2d(
        padded.contiguous(memory_format=torch.channels_last), weight, bias
    )
    return z.amax(dim=3) * sign[:, None]


def _batch_norm_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode batch norm as ``scale * x + shift`` per channel (two ``[C]`` tensors)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _low_rank_weighted_map(
    branch: nn.Sequential, padded: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """``sum_c weights[:, c] * A_c`` for a low-rank branch's map ``A``, ``[b, T', F']``.

    ``A = BN(ReLU(z))`` (eval mode) with ``z`` the :class:`LowRankConv2d` output; the sum
    is ``ReLU(z) @ (weights * scale) + weights · shift``, computed block by block in time ×
    frequency × channel layout, so neither ``A`` nor ``z`` is ever whole.
    """
    conv = branch.conv
    scale, shift = _batch_norm_affine(branch.bn)
    basis = conv.basis(padded)  # [b, r, T', F']
    b, r, t, f = basis.shape
    mix_t = conv.mix.weight.view(-1, r).T.contiguous()  # [r, C]
    out = basis.new_empty(b, t, f)
    for i in range(b):
        v = (weights[i] * scale)[:, None]  # [C, 1]
        const = (weights[i] * shift).sum()
        for s in range(0, t, _MIX_FRAMES):
            z = torch.addmm(conv.mix.bias, _frames_by_rank(basis[i], s), mix_t)
            out[i, s : s + _MIX_FRAMES] = (z.relu_() @ v).view(-1, f) + const
    return out


def _has_hooks(module: nn.Module) -> bool:
    return any(
        m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in module.modules()
    )


class Musicnn(nn.Module):
    """musicnn: musically motivated CNN for music audio tagging.

    Jordi Pons and Xavier Serra, 2019. "musicnn: Pre-trained convolutional neural
    networks for music audio tagging." Late-breaking/demo, ISMIR 2019.
    https://arxiv.org/abs/1909.06654 — code and weights: https://github.com/jordipons/musicnn
    (ISC licence).

    Front-end (Pons et al., 2018, "End-to-end learning for music audio tagging at
    scale"): two timbral convolutions spanning 40 % and 70 % of the mel axis and three
    temporal convolutions of 128, 64 and 32 frames along time, each conv → ReLU → BN,
    then a max over frequency. Mid-end: three Conv1d layers over time with residual
    connections, densely concatenated with the front-end. Back-end: max- and
    mean-pooling over time, BN, dense → ReLU → BN (the 200-d penultimate embedding),
    dense to the tag logits (multi-label: apply a sigmoid).

    Parameters
    ----------
    n_mels : int > 1
        Mel bands of the input (96 for the pretrained models). The timbral kernels are
        ``int(0.4 * n_mels)`` and ``int(0.7 * n_mels)`` bands wide.
    n_tags : int > 0
        Number of outputs (50 for ``MSD_musicnn`` and ``MTT_musicnn``).
    timbral_filters : int > 0
        Filters of each timbral branch (``int(1.6 * 128)`` = 204).
    temporal_filters : int > 0
        Filters of each temporal branch (``int(1.6 * 32)`` = 51).
    midend_filters : int > 0
        Filters of each mid-end layer (64).
    backend_units : int > 0
        Width of the penultimate dense layer (200).
    dropout : float in [0, 1)
        Dropout rate before each dense layer (0.5; active only in training mode).
    timbral_rank, temporal_rank : int or None
        Build the timbral / temporal front-end convolutions as low-rank
        :class:`~genrecls.models.lowrank.LowRankConv2d` with this many basis filters
        (weights come from :func:`genrecls.models.lowrank.factorize_conv`); None = the
        original full convolutions.
    branches : sequence of str or None
        The front-end branches to build, a subset of :attr:`FRONTEND` (kept in that
        order); None = all five. A pruned network (:mod:`genrecls.prune`) keeps a few,
        with the mid-end's first layer refitted to the channels that remain.

    Notes
    -----
    Hookable modules for feature maps and Grad-CAM (outputs after ReLU → BN):

    - ``input_bn``: ``[B, 1, T, n_mels]``
    - ``timbral_f74``, ``timbral_f77``: time × frequency maps ``[B, 204, T, 59]`` and
      ``[B, 204, T, 30]`` (before the max over frequency)
    - ``temporal_s1``, ``temporal_s2``, ``temporal_s3``: ``[B, 51, T, n_mels]``
    - ``midend1``, ``midend2``, ``midend3``: ``[B, 64, T]`` (before the residual sums)
    - ``features``: the dense concatenation ``[B, 753, T]`` fed to the time pooling
    - ``penultimate``: the embedding ``[B, 200]``; ``classifier``: logits ``[B, n_tags]``

    (Channel counts are those of the full network; with ``branches`` the missing
    branches are absent and ``features`` has their channels fewer.)

    State-dict keys follow these names; ``scripts/convert_musicnn.py`` maps the TF
    variables onto them.
    """

    def __init__(
        self,
        *,
        n_mels: int = N_MELS,
        n_tags: int = 50,
        timbral_filters: int = 204,
        temporal_filters: int = 51,
        midend_filters: int = 64,
        backend_units: int = 200,
        dropout: float = 0.5,
        timbral_rank: int | None = None,
        temporal_rank: int | None = None,
        branches: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        n_mels = _valid_positive_int(n_mels, "n_mels")
        if n_mels < 2:
            raise ParameterError(f"n_mels must be >= 2, got {n_mels}")
        for name, value in (
            ("n_tags", n_tags),
            ("timbral_filters", timbral_filters),
            ("temporal_filters", temporal_filters),
            ("midend_filters", midend_filters),
            ("backend_units", backend_units),
        ):
            _valid_positive_int(value, name)
        if not 0.0 <= dropout < 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {dropout!r}")
        if branches is not None:
            unknown = [b for b in branches if b not in self.FRONTEND]
            if unknown or not branches or len(set(branches)) != len(branches):
                raise ParameterError(
                    f"branches must be distinct names from {self.FRONTEND}, got {branches!r}"
                )
        #: The front-end branches this network has, in :attr:`FRONTEND` order.
        self.branches: tuple[str, ...] = tuple(
            b for b in self.FRONTEND if branches is None or b in branches
        )
        self.n_mels = n_mels
        self.n_tags = n_tags
        #: Evaluate the front-end's max over frequency without its 2-D maps where possible
        #: (:func:`_frequency_max`); ``False`` runs the plain layers (the reference path).
        self.fused_frontend = True

        # input
        self.input_bn = _batch_norm_2d(1)
        # front-end: timbral (time pad 3/3, 'valid' over mel), temporal ('same' over time)
        tr, sr_ = timbral_rank, temporal_rank
        # TF 'same' puts the odd extra padding frame after: (k - 1) // 2 before, k // 2 after
        specs = {
            "timbral_f74": (timbral_filters, (7, int(0.4 * n_mels)), 3, 3, tr),
            "timbral_f77": (timbral_filters, (7, int(0.7 * n_mels)), 3, 3, tr),
            "temporal_s1": (temporal_filters, (128, 1), 63, 64, sr_),
            "temporal_s2": (temporal_filters, (64, 1), 31, 32, sr_),
            "temporal_s3": (temporal_filters, (32, 1), 15, 16, sr_),
        }
        for name in self.branches:
            setattr(self, name, _frontend_branch(*specs[name]))
        frontend_channels = sum(specs[name][0] for name in self.branches)
        # mid-end
        self.midend1 = _midend_layer(frontend_channels, midend_filters)
        self.midend2 = _midend_layer(midend_filters, midend_filters)
        self.midend3 = _midend_layer(midend_filters, midend_filters)
        self.features = nn.Identity()  # hook point for the concatenated feature map
        pooled = 2 * (frontend_channels + 3 * midend_filters)
        #: Length of the ``"pooled"`` output (1506 for the full network).
        self.pooled_features = pooled
        # back-end
        self.pool_bn = _batch_norm_1d(pooled)
        self.dropout1 = nn.Dropout(dropout)
        self.penultimate = nn.Sequential(
            OrderedDict(
                dense=nn.Linear(pooled, backend_units),
                relu=nn.ReLU(),
                bn=_batch_norm_1d(backend_units),
            )
        )
        self.dropout2 = nn.Dropout(dropout)
        self.classifier = nn.Linear(backend_units, n_tags)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Tag log-mel patches.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, time, n_mels)]
            Log-mel patches from :func:`musicnn_logmel` / :func:`musicnn_patches`
            (time first, as musicnn feeds them). Any ``time >= 1`` works; the
            pretrained models were trained on 187 frames.

        Returns
        -------
        outputs : dict[str, torch.Tensor]
            ``"logits"`` [shape=(batch, n_tags)]: pre-sigmoid tag scores.
            ``"embedding"`` [shape=(batch, backend_units)]: penultimate layer after BN
            (musicnn's ``penultimate`` feature).
            ``"pooled"`` [shape=(batch, 2 * 753)]: max- and mean-pooled features before
            BN, interleaved ``(max_0, mean_0, max_1, mean_1, ...)``.

        Raises
        ------
        genrecls.exceptions.ParameterError
            If ``x`` is not 3-D with ``n_mels`` bands in the last axis.
        """
        outputs, _ = self.from_frontend(self.frontend(x))
        return outputs

    #: Front-end branches in the order of the concatenated feature map.
    FRONTEND: tuple[str, ...] = (
        "timbral_f74",
        "timbral_f77",
        "temporal_s1",
        "temporal_s2",
        "temporal_s3",
    )

    def normalized_input(self, x: torch.Tensor) -> torch.Tensor:
        """Check ``x`` [shape=(B, T, n_mels)]; the input batch norm → ``[B, 1, T, n_mels]``."""
        if x.ndim != 3 or x.shape[2] != self.n_mels or x.shape[1] < 1:
            raise ParameterError(
                f"expected input of shape (batch, time, {self.n_mels}), got {tuple(x.shape)}"
            )
        return self.input_bn(x.unsqueeze(1))

    def frontend(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five front-end branches, each max-pooled over frequency.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, time, n_mels)]

        Returns
        -------
        branches : list of torch.Tensor
            One per branch of :attr:`branches` (all five: :attr:`FRONTEND` order):
            ``[B, 204, T]`` twice (timbral; maps ``[B, 204, T, 59]`` and
            ``[B, 204, T, 30]`` before the max), then ``[B, 51, T]`` three times
            (temporal; maps ``[B, 51, T, 96]``).
        """
        xb = self.normalized_input(x)  # [B, 1, T, 96]
        if not self.fused_frontend:
            return [getattr(self, name)(xb).amax(dim=3) for name in self.branches]
        return [_frequency_max(getattr(self, name), xb) for name in self.branches]

    def from_frontend(
        self, branches: list[torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Mid-end and back-end on the pooled front-end (:meth:`frontend`).

        Returns
        -------
        outputs : dict[str, torch.Tensor]
            As :meth:`forward`.
        midend3 : torch.Tensor [shape=(batch, 64, T)]
            Output of the ``midend3`` layer (before its residual sum), for Grad-CAM.
        """
        frontend = torch.cat(branches, dim=1)  # [B, 561, T]
        # mid-end: residual Conv1d stack
        c1 = self.midend1(frontend)  # [B, 64, T]
        c2 = self.midend2(c1) + c1  # [B, 64, T]
        m3 = self.midend3(c2)  # [B, 64, T]
        c3 = m3 + c2
        feats = self.features(torch.cat([frontend, c1, c2, c3], dim=1))  # [B, 753, T]
        # back-end: TF concatenates [max, mean] on a trailing axis → interleaved flatten
        pooled = torch.stack([feats.amax(dim=2), feats.mean(dim=2)], dim=-1)  # [B, 753, 2]
        pooled = pooled.flatten(1)  # [B, 1506]
        h = self.dropout1(self.pool_bn(pooled))  # [B, 1506]
        embedding = self.penultimate(h)  # [B, 200]
        logits = self.classifier(self.dropout2(embedding))  # [B, n_tags]
        return {"logits": logits, "embedding": embedding, "pooled": pooled}, m3

    def branch_frequencies(self, name: str) -> int:
        """Number of frequency positions ``F'`` of a front-end branch's 2-D map."""
        conv = getattr(self, name).conv
        kernel = conv.basis.kernel_size if isinstance(conv, LowRankConv2d) else conv.kernel_size
        return self.n_mels - kernel[1] + 1

    def branch_cam(
        self, name: str, x: torch.Tensor, pooled_grad: torch.Tensor, *, kind: str = "gradcam"
    ) -> torch.Tensor:
        """Class activation map of a front-end branch from the gradient of its frequency max.

        The logits see a branch's 2-D map ``A [B, C, T, F']`` only through its maximum over
        frequency, so the gradient with respect to ``A`` is ``pooled_grad`` at the
        arg-max frequency (shared evenly between tied maxima, as ``torch.amax``'s backward
        does) and 0 elsewhere. From that:

        - ``"gradcam"`` (Selvaraju et al., 2017): ``sum_c w_c A_c`` with
          ``w_c = sum_t pooled_grad[c, t] / (T F')``, the spatial mean of that gradient;
        - ``"layercam"`` (Jiang et al., 2021): ``sum_c ReLU(dY/dA_c) * A_c`` cell by cell,
          which is non-zero only at the cells that won the max.

        ``A`` is recomputed a few segments at a time (never all of it at once).

        Parameters
        ----------
        name : str
            One of :attr:`branches`.
        x : torch.Tensor [shape=(batch, time, n_mels)]
        pooled_grad : torch.Tensor [shape=(batch, channels, T)]
            Gradient of the explained logits with respect to the branch's frequency max.
        kind : {"gradcam", "layercam"}

        Returns
        -------
        cam : torch.Tensor [shape=(batch, T, F')]
            Before the final ReLU.
        """
        branch = getattr(self, name)
        n_freq = self.branch_frequencies(name)
        out = []
        with torch.no_grad():
            xb = self.normalized_input(x)
            weights = pooled_grad.sum(dim=2) / (pooled_grad.shape[2] * n_freq)  # [B, C]
            for chunk, g, w in zip(
                torch.split(xb, _FUSED_CHUNK),
                torch.split(pooled_grad, _FUSED_CHUNK),
                torch.split(weights, _FUSED_CHUNK),
                strict=True,
            ):
                if kind == "gradcam" and isinstance(branch.conv, LowRankConv2d):
                    out.append(_low_rank_weighted_map(branch, branch.pad(chunk), w))
                    continue
                A = branch(chunk)  # [b, C, T, F']
                if kind == "gradcam":
                    out.append(torch.einsum("bc,bctf->btf", w, A))
                    continue
                winner = A == A.amax(dim=3, keepdim=True)  # [b, C, T, F'], ties all True
                share = torch.relu(g)[..., None] / winner.sum(dim=3, keepdim=True)
                out.append((A * winner * share).sum(dim=1))
        return torch.cat(out)
