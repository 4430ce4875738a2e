"""Data augmentation: waveform transforms, SpecAugment and mixup, each switchable.

Every random transform is split in two: a ``draw_*`` function takes an explicit random
generator and returns the parameters, and an ``apply_*`` function applies given parameters
with no randomness at all. The convenience wrappers (:func:`random_gain`,
:func:`spec_augment`, :func:`mixup`) just chain the two. So a seeded generator always gives
the same result, and a test or a figure can apply exactly the parameters it chose.

Waveform transforms (:func:`time_stretch`, :func:`pitch_shift`) are slow (a phase vocoder
per call), so they are not run every epoch: :class:`WaveformAugmentation` names a fixed list
of variants that :func:`genrecls.data.build_segment_dataset` computes once and caches beside
the original segments. Spectrogram transforms (:func:`spec_augment`, :func:`mixup`) are
cheap and run on every training batch.

References
----------
.. [#] Park, D. S., Chan, W., Zhang, Y., Chiu, C.-C., Zoph, B., Cubuk, E. D. and Le, Q. V.
   (2019). "SpecAugment: A Simple Data Augmentation Method for Automatic Speech
   Recognition." Proc. Interspeech. https://arxiv.org/abs/1904.08779
.. [#] Zhang, H., Cisse, M., Dauphin, Y. N. and Lopez-Paz, D. (2018). "mixup: Beyond
   Empirical Risk Minimization." ICLR. https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import librosa
import numpy as np
import torch

from genrecls.exceptions import ParameterError

__all__ = [
    "AugmentConfig",
    "SpecMasks",
    "WaveformAugmentation",
    "apply_gain",
    "apply_mixup",
    "apply_spec_masks",
    "draw_gain_db",
    "draw_mixup",
    "draw_spec_masks",
    "mask_coverage",
    "mixup",
    "pitch_shift",
    "random_gain",
    "spec_augment",
    "time_stretch",
]

#: A named waveform transform ``y -> y`` (mono float32 in, mono float32 out).
WaveformVariant = tuple[str, Callable[[np.ndarray], np.ndarray]]

Rng = np.random.Generator | torch.Generator


# --------------------------------------------------------------------------- validators
def _check_wave(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ParameterError(f"audio must be mono with shape (n,), n > 0; got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"audio must be floating point, got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise ParameterError("audio contains NaN or infinite samples")
    return y.astype(np.float32, copy=False)


def _check_finite(value: float, *, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    return float(value)


def _check_nonneg_int(value: object, *, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ParameterError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_batch(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ParameterError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 3:
        raise ParameterError(f"expected a batch of shape (B, n_mels, T), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ParameterError(f"expected a floating-point batch, got dtype {x.dtype}")
    return x


def _check_rate(rate: float) -> float:
    rate = _check_finite(rate, name="rate")
    if not rate > 0:
        raise ParameterError(f"rate must be > 0, got {rate}")
    return rate


def _check_steps(n_steps: float) -> float:
    n_steps = _check_finite(n_steps, name="n_steps")
    if abs(n_steps) > 24:
        raise ParameterError(f"n_steps must lie in [-24, 24] semitones, got {n_steps}")
    return n_steps


# --------------------------------------------------------------------------- waveform
def time_stretch(y: np.ndarray, *, rate: float) -> np.ndarray:
    """Change the tempo of a recording without changing its pitch.

    A phase vocoder (``librosa.effects.time_stretch``). The **length changes**: the output
    has about ``len(y) / rate`` samples, so ``rate=2`` halves the duration and ``rate=0.5``
    doubles it. Callers that need a fixed length cut the result into segments afterwards
    (as :func:`genrecls.data.build_segment_dataset` does) rather than padding or cropping.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio.
    rate : float > 0
        Speed factor: ``> 1`` faster (shorter), ``< 1`` slower (longer).

    Returns
    -------
    y_stretch : np.ndarray [shape=(≈ n / rate,), dtype=float32]

    See Also
    --------
    pitch_shift, WaveformAugmentation
    """
    y = _check_wave(y)
    rate = _check_rate(rate)
    if rate == 1.0:
        return y.copy()
    return librosa.effects.time_stretch(y, rate=rate).astype(np.float32, copy=False)


def pitch_shift(y: np.ndarray, *, sr: int, n_steps: float) -> np.ndarray:
    """Shift the pitch of a recording by ``n_steps`` semitones, keeping its duration.

    ``librosa.effects.pitch_shift``: a time stretch by ``2 ** (-n_steps / 12)`` followed by
    resampling back, so the output has exactly ``len(y)`` samples.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio.
    sr : int > 0
        Sampling rate of ``y``.
    n_steps : float in [-24, 24]
        Semitones to shift (fractions allowed); positive raises the pitch.

    Returns
    -------
    y_shift : np.ndarray [shape=(n,), dtype=float32]

    See Also
    --------
    time_stretch, WaveformAugmentation
    """
    y = _check_wave(y)
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
        raise ParameterError(f"sr must be a positive integer, got {sr!r}")
    n_steps = _check_steps(n_steps)
    if n_steps == 0:
        return y.copy()
    return librosa.effects.pitch_shift(y, sr=int(sr), n_steps=n_steps).astype(
        np.float32, copy=False
    )


def draw_gain_db(rng: np.random.Generator, *, low_db: float = -6.0, high_db: float = 6.0) -> float:
    """Draw a gain in decibels uniformly from ``[low_db, high_db]``.

    Parameters
    ----------
    rng : np.random.Generator
        Source of randomness.
    low_db, high_db : float, ``low_db <= high_db``
        Range in dB.

    Returns
    -------
    gain_db : float
    """
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    low_db = _check_finite(low_db, name="low_db")
    high_db = _check_finite(high_db, name="high_db")
    if low_db > high_db:
        raise ParameterError(f"low_db ({low_db}) must be <= high_db ({high_db})")
    return float(rng.uniform(low_db, high_db))


def apply_gain(y: np.ndarray, *, gain_db: float) -> np.ndarray:
    """Scale a waveform by ``10 ** (gain_db / 20)``.

    Samples are not clipped: genrecls computes features from float audio, where values
    beyond ±1 are harmless.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio.
    gain_db : float
        Gain in decibels.

    Returns
    -------
    y_gain : np.ndarray [shape=(n,), dtype=float32]
    """
    y = _check_wave(y)
    gain_db = _check_finite(gain_db, name="gain_db")
    return (y * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


def random_gain(
    y: np.ndarray, *, rng: np.random.Generator, low_db: float = -6.0, high_db: float = 6.0
) -> np.ndarray:
    """Apply a random gain drawn uniformly in dB (loudness invariance).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio.
    rng : np.random.Generator
        Source of randomness.
    low_db, high_db : float
        Range of the gain in dB.

    Returns
    -------
    y_gain : np.ndarray [shape=(n,), dtype=float32]

    See Also
    --------
    draw_gain_db, apply_gain
    """
    return apply_gain(y, gain_db=draw_gain_db(rng, low_db=low_db, high_db=high_db))


def _format_number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class WaveformAugmentation:
    """A fixed list of named waveform variants to precompute for the segment cache.

    Each variant is one deterministic transform of the whole recording: a time stretch by
    each of ``stretch_rates`` and a pitch shift by each of ``pitch_steps`` (not their
    combinations). :func:`genrecls.data.build_segment_dataset` decodes a track once,
    applies every variant, and caches the segments of each under a key that includes the
    variant's name, so the names carry every parameter (``"stretch_0.9"``,
    ``"shift_+2_sr16000"``).

    Time stretching changes the duration (``rate=1.1`` gives about 9 % fewer samples, hence
    fewer segments); pitch shifting keeps it.

    Parameters
    ----------
    sr : int > 0
        Sampling rate of the audio the variants are applied to (the feature rate).
    stretch_rates : tuple of float > 0, none equal to 1
        Time-stretch factors.
    pitch_steps : tuple of float, non-zero, in [-24, 24]
        Pitch shifts in semitones.

    Examples
    --------
    >>> aug = WaveformAugmentation(sr=16000, stretch_rates=(0.9, 1.1), pitch_steps=(-2, 2))
    >>> aug.names
    ('stretch_0.9', 'stretch_1.1', 'shift_-2_sr16000', 'shift_+2_sr16000')
    """

    sr: int
    stretch_rates: tuple[float, ...] = ()
    pitch_steps: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.sr, bool) or not isinstance(self.sr, int | np.integer) or self.sr <= 0:
            raise ParameterError(f"sr must be a positive integer, got {self.sr!r}")
        object.__setattr__(self, "stretch_rates", _check_rates(self.stretch_rates))
        object.__setattr__(self, "pitch_steps", _check_pitch_steps(self.pitch_steps))

    @classmethod
    def from_config(cls, config: AugmentConfig, *, sr: int) -> WaveformAugmentation:
        """Build the waveform variants an :class:`AugmentConfig` asks for."""
        return cls(sr=sr, stretch_rates=config.stretch_rates, pitch_steps=config.pitch_steps)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the variants, in the order of :meth:`variants`."""
        return tuple(name for name, _ in self.variants())

    def variants(self) -> list[WaveformVariant]:
        """Return the variants as ``(name, transform)`` pairs.

        Returns
        -------
        variants : list of (str, callable)
            ``transform(y)`` maps mono float32 audio at ``sr`` to transformed audio.
        """
        out: list[WaveformVariant] = []
        for rate in self.stretch_rates:
            out.append((f"stretch_{_format_number(rate)}", _Stretch(rate)))
        for steps in self.pitch_steps:
            name = f"shift_{'+' if steps > 0 else ''}{_format_number(steps)}_sr{self.sr}"
            out.append((name, _Shift(int(self.sr), steps)))
        return out


@dataclass(frozen=True)
class _Stretch:
    rate: float

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return time_stretch(y, rate=self.rate)


@dataclass(frozen=True)
class _Shift:
    sr: int
    n_steps: float

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return pitch_shift(y, sr=self.sr, n_steps=self.n_steps)


# --------------------------------------------------------------------------- SpecAugment
class SpecMasks(NamedTuple):
    """Masks drawn by :func:`draw_spec_masks` for one batch.

    Attributes
    ----------
    freq : np.ndarray [shape=(B, n_freq_masks, 2), dtype=int]
        ``(first band, width)`` of every frequency mask; width 0 masks nothing.
    time : np.ndarray [shape=(B, n_time_masks, 2), dtype=int]
        ``(first frame, width)`` of every time mask.
    """

    freq: np.ndarray
    time: np.ndarray


def _randint(rng: Rng, high: np.ndarray) -> np.ndarray:
    """Draw integers uniformly in ``[0, high]`` (inclusive), elementwise."""
    high = np.asarray(high, dtype=np.int64)
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, high + 1)
    if isinstance(rng, torch.Generator):
        u = torch.rand(high.shape, generator=rng, dtype=torch.float64).numpy()
        return np.minimum(np.floor(u * (high + 1)).astype(np.int64), high)
    raise ParameterError(
        f"rng must be a numpy Generator or a torch.Generator, got {type(rng).__name__}"
    )


def _draw_bands(rng: Rng, *, batch: int, n_masks: int, size: int, max_width: int) -> np.ndarray:
    max_width = min(max_width, size)
    widths = _randint(rng, np.full((batch, n_masks), max_width))
    firsts = _randint(rng, size - widths)
    return np.stack([firsts, widths], axis=-1).astype(np.int64)


def draw_spec_masks(
    shape: Sequence[int],
    *,
    rng: Rng,
    n_freq_masks: int = 2,
    max_freq_width: int = 12,
    n_time_masks: int = 2,
    max_time_width: int = 20,
) -> SpecMasks:
    """Draw SpecAugment frequency and time masks for a batch of spectrograms.

    As in Park et al. (2019): each mask's width ``w`` is uniform in ``[0, max_width]`` and
    its first band (frame) uniform in ``[0, size - w]``; every example gets its own masks.
    (Time warping, the third SpecAugment transform, is left out.)

    Parameters
    ----------
    shape : (B, n_mels, T)
        Shape of the batch.
    rng : np.random.Generator or torch.Generator
        Source of randomness.
    n_freq_masks, n_time_masks : int >= 0
        Masks per example along each axis.
    max_freq_width, max_time_width : int >= 0
        Largest mask width in bands (frames); clipped to the axis length.

    Returns
    -------
    masks : SpecMasks
    """
    if len(shape) != 3 or any(int(s) <= 0 for s in shape):
        raise ParameterError(f"shape must be (B, n_mels, T) with positive sizes, got {shape}")
    batch, n_mels, n_frames = (int(s) for s in shape)
    n_freq_masks = _check_nonneg_int(n_freq_masks, name="n_freq_masks")
    n_time_masks = _check_nonneg_int(n_time_masks, name="n_time_masks")
    max_freq_width = _check_nonneg_int(max_freq_width, name="max_freq_width")
    max_time_width = _check_nonneg_int(max_time_width, name="max_time_width")
    freq = _draw_bands(
        rng, batch=batch, n_masks=n_freq_masks, size=n_mels, max_width=max_freq_width
    )
    time = _draw_bands(
        rng, batch=batch, n_masks=n_time_masks, size=n_frames, max_width=max_time_width
    )
    return SpecMasks(freq=freq, time=time)


def mask_coverage(masks: np.ndarray, *, size: int) -> np.ndarray:
    """Return which rows (frames) a set of masks covers, per example.

    Parameters
    ----------
    masks : np.ndarray [shape=(B, n_masks, 2)]
        ``(first, width)`` pairs, as in :class:`SpecMasks`.
    size : int > 0
        Length of the masked axis.

    Returns
    -------
    covered : np.ndarray [shape=(B, size), dtype=bool]
    """
    idx = np.arange(size)[None, None, :]
    first = masks[..., 0:1]
    width = masks[..., 1:2]
    return np.any((idx >= first) & (idx < first + width), axis=1)


def apply_spec_masks(
    x: torch.Tensor, masks: SpecMasks, *, mask_value: float | None = None
) -> torch.Tensor:
    """Set the masked bands and frames of a batch to ``mask_value``.

    Parameters
    ----------
    x : torch.Tensor [shape=(B, n_mels, T)]
        Batch of (log) mel spectrograms; not modified.
    masks : SpecMasks
        Masks for this batch (from :func:`draw_spec_masks`).
    mask_value : float or None
        Value written into the masks; ``None`` uses the mean of the whole batch (the
        paper masks to zero after normalising to zero mean, which is the same thing).

    Returns
    -------
    x_masked : torch.Tensor [shape=(B, n_mels, T)]
        A new tensor.
    """
    x = _check_batch(x)
    batch, n_mels, n_frames = x.shape
    if masks.freq.shape[0] != batch or masks.time.shape[0] != batch:
        raise ParameterError(
            f"masks are for a batch of {masks.freq.shape[0]}, the batch holds {batch}"
        )
    freq = torch.from_numpy(mask_coverage(masks.freq, size=n_mels)).to(x.device)
    time = torch.from_numpy(mask_coverage(masks.time, size=n_frames)).to(x.device)
    covered = freq[:, :, None] | time[:, None, :]  # (B, n_mels, T)
    value = x.mean() if mask_value is None else torch.tensor(float(mask_value), dtype=x.dtype)
    return torch.where(covered, value.to(device=x.device, dtype=x.dtype), x)


def spec_augment(
    x: torch.Tensor,
    *,
    rng: Rng,
    n_freq_masks: int = 2,
    max_freq_width: int = 12,
    n_time_masks: int = 2,
    max_time_width: int = 20,
    mask_value: float | None = None,
) -> torch.Tensor:
    """Mask random frequency bands and time spans of every spectrogram in a batch.

    SpecAugment (Park et al., 2019), frequency and time masking only; the defaults (two
    masks of up to 12 of 96 bands, two of up to 20 of 187 frames) are of the size the
    paper's LibriSpeech policies use relative to their input.

    Parameters
    ----------
    x : torch.Tensor [shape=(B, n_mels, T)]
        Batch of (log) mel spectrograms; not modified.
    rng : np.random.Generator or torch.Generator
        Source of randomness.
    n_freq_masks, max_freq_width, n_time_masks, max_time_width : int >= 0
        See :func:`draw_spec_masks`.
    mask_value : float or None
        See :func:`apply_spec_masks`; ``None`` = mean of the batch.

    Returns
    -------
    x_masked : torch.Tensor [shape=(B, n_mels, T)]

    See Also
    --------
    draw_spec_masks, apply_spec_masks
    """
    x = _check_batch(x)
    masks = draw_spec_masks(
        tuple(x.shape),
        rng=rng,
        n_freq_masks=n_freq_masks,
        max_freq_width=max_freq_width,
        n_time_masks=n_time_masks,
        max_time_width=max_time_width,
    )
    return apply_spec_masks(x, masks, mask_value=mask_value)


# --------------------------------------------------------------------------- mixup
def draw_mixup(
    batch_size: int, *, alpha: float, rng: np.random.Generator
) -> tuple[float, np.ndarray]:
    """Draw the mixing weight and partner order for one mixup batch.

    Parameters
    ----------
    batch_size : int > 0
        Examples in the batch.
    alpha : float > 0
        Parameter of the symmetric ``Beta(alpha, alpha)`` the weight is drawn from.
    rng : np.random.Generator
        Source of randomness.

    Returns
    -------
    lam : float in [0, 1]
        Weight of each example itself.
    perm : np.ndarray [shape=(batch_size,), dtype=int]
        Index of each example's partner.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
    if batch_size <= 0:
        raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
    alpha = _check_finite(alpha, name="alpha")
    if not alpha > 0:
        raise ParameterError(f"alpha must be > 0 (0 means mixup is off), got {alpha}")
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    lam = float(rng.beta(alpha, alpha))
    perm = rng.permutation(int(batch_size))
    return lam, perm


def apply_mixup(
    x: torch.Tensor, y: torch.Tensor, *, lam: float, perm: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix every example with its partner: ``lam * a + (1 - lam) * b``.

    Parameters
    ----------
    x : torch.Tensor [shape=(B, ...)]
        Inputs.
    y : torch.Tensor [shape=(B, n_classes)]
        Target distributions (one-hot or soft), each row summing to 1.
    lam : float in [0, 1]
        Weight of each example itself.
    perm : np.ndarray [shape=(B,)]
        Partner indices.

    Returns
    -------
    x_mix : torch.Tensor [shape=(B, ...)]
    y_mix : torch.Tensor [shape=(B, n_classes)]
        Soft targets; rows still sum to 1.
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ParameterError("x and y must be torch tensors")
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ParameterError(
            f"y must have shape (B, n_classes) with B = {x.shape[0]}, got {tuple(y.shape)}"
        )
    lam = _check_finite(lam, name="lam")
    if not 0.0 <= lam <= 1.0:
        raise ParameterError(f"lam must lie in [0, 1], got {lam}")
    perm = np.asarray(perm)
    if perm.shape != (x.shape[0],):
        raise ParameterError(f"perm must have shape ({x.shape[0]},), got {perm.shape}")
    index = torch.as_tensor(perm, dtype=torch.long, device=x.device)
    y = y.to(dtype=x.dtype if x.is_floating_point() else torch.float32)
    x_mix = lam * x + (1.0 - lam) * x[index]
    y_mix = lam * y + (1.0 - lam) * y[index]
    return x_mix, y_mix


def mixup(
    x: torch.Tensor, y_onehot: torch.Tensor, *, alpha: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train on convex combinations of example pairs and of their labels.

    mixup (Zhang et al., 2018): one weight ``lam ~ Beta(alpha, alpha)`` per batch, each
    example mixed with a randomly chosen partner from the same batch.

    Parameters
    ----------
    x : torch.Tensor [shape=(B, ...)]
        Inputs, e.g. spectrograms ``(B, n_mels, T)``.
    y_onehot : torch.Tensor [shape=(B, n_classes)]
        One-hot (or soft) targets.
    alpha : float > 0
        Beta parameter; small values (0.2–0.4) keep most mixes close to one example.
    rng : np.random.Generator
        Source of randomness.

    Returns
    -------
    x_mix : torch.Tensor [shape=(B, ...)]
    y_mix : torch.Tensor [shape=(B, n_classes)]
        Soft targets for a soft-label cross entropy; each row sums to 1.

    See Also
    --------
    draw_mixup, apply_mixup
    """
    lam, perm = draw_mixup(int(x.shape[0]), alpha=alpha, rng=rng)
    return apply_mixup(x, y_onehot, lam=lam, perm=perm)


# --------------------------------------------------------------------------- config
def _check_rates(rates: Sequence[float]) -> tuple[float, ...]:
    if isinstance(rates, str) or not isinstance(rates, Sequence):
        raise ParameterError(f"stretch_rates must be a sequence of numbers, got {rates!r}")
    out = tuple(_check_rate(r) for r in rates)
    if any(r == 1.0 for r in out):
        raise ParameterError("stretch_rates must not contain 1 (that is the original)")
    if any(not 0.5 <= r <= 2.0 for r in out):
        raise ParameterError(f"stretch_rates must lie in [0.5, 2], got {out}")
    if len(set(out)) != len(out):
        raise ParameterError(f"stretch_rates has duplicates: {out}")
    return out


def _check_pitch_steps(steps: Sequence[float]) -> tuple[float, ...]:
    if isinstance(steps, str) or not isinstance(steps, Sequence):
        raise ParameterError(f"pitch_steps must be a sequence of numbers, got {steps!r}")
    out = tuple(_check_steps(s) for s in steps)
    if any(s == 0 for s in out):
        raise ParameterError("pitch_steps must not contain 0 (that is the original)")
    if len(set(out)) != len(out):
        raise ParameterError(f"pitch_steps has duplicates: {out}")
    return out


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations a training run uses; all off by default.

    Saved with a trained model (:meth:`to_dict`) so its model card says how it was trained.

    Parameters
    ----------
    spec_augment : bool
        Apply :func:`spec_augment` (default masks) to every training batch.
    mixup_alpha : float >= 0
        ``Beta(alpha, alpha)`` parameter of :func:`mixup`; ``0`` turns mixup off.
    gain : bool
        Apply :func:`random_gain` (±6 dB) before the features of every training example
        (only for pipelines that compute features on the fly; cached segments are not
        affected).
    stretch_rates : tuple of float in [0.5, 2], not 1
        Time-stretch variants to precompute (see :class:`WaveformAugmentation`).
    pitch_steps : tuple of float in [-24, 24], not 0
        Pitch-shift variants (semitones) to precompute.

    Examples
    --------
    >>> cfg = AugmentConfig(spec_augment=True, mixup_alpha=0.2, pitch_steps=(-2, 2))
    >>> AugmentConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    spec_augment: bool = False
    mixup_alpha: float = 0.0
    gain: bool = False
    stretch_rates: tuple[float, ...] = ()
    pitch_steps: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("spec_augment", "gain"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"{name} must be True or False, got {getattr(self, name)!r}")
        alpha = _check_finite(self.mixup_alpha, name="mixup_alpha")
        if alpha < 0:
            raise ParameterError(f"mixup_alpha must be >= 0 (0 = off), got {alpha}")
        object.__setattr__(self, "mixup_alpha", alpha)
        object.__setattr__(self, "stretch_rates", _check_rates(self.stretch_rates))
        object.__setattr__(self, "pitch_steps", _check_pitch_steps(self.pitch_steps))

    @property
    def enabled(self) -> bool:
        """True when any augmentation is switched on."""
        return (
            self.spec_augment
            or self.mixup_alpha > 0
            or self.gain
            or bool(self.stretch_rates)
            or bool(self.pitch_steps)
        )

    def to_dict(self) -> dict:
        """Return the configuration as a JSON-serialisable dict (tuples become lists)."""
        values = dataclasses.asdict(self)
        values["stretch_rates"] = list(self.stretch_rates)
        values["pitch_steps"] = list(self.pitch_steps)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> AugmentConfig:
        """Rebuild a configuration saved with :meth:`to_dict`, rejecting unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ParameterError(f"unknown AugmentConfig fields: {sorted(unknown)}")
        values = dict(values)
        for name in ("stretch_rates", "pitch_steps"):
            if name in values and isinstance(values[name], list):
                values[name] = tuple(values[name])
        return cls(**values)
