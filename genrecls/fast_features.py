"""A torch log-mel front end that reproduces :func:`genrecls.features.log_mel`, faster.

:func:`genrecls.features.log_mel` calls ``librosa.feature.melspectrogram``, which builds
the mel filterbank anew on every call and computes the STFT in one piece. Here the
window and the filterbank (:func:`genrecls.filterbank.mel_filterbank`, equal to librosa's,
without librosa's imports) are built once per :class:`~genrecls.features.FeatureConfig`
and kept; the STFT runs on ``torch.stft`` in
float32, block by block, so a 10-minute song never holds its whole complex spectrogram
in memory. Framing follows librosa exactly: ``center=True`` with zero padding of
``n_fft // 2`` samples on both sides, a periodic Hann window, ``1 + n // hop_length``
frames. The compression is :func:`genrecls.features.compress` (including musicnn's
float16 rounding before the log), so the two paths differ only by float32 rounding in
the FFT (``tests/test_fast_path.py`` bounds the difference).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from genrecls.features import FeatureConfig, _check_audio, compress
from genrecls.filterbank import mel_filterbank

#: Frames computed per STFT block (bounds the peak memory of long songs).
BLOCK_FRAMES = 4096


class MelFrontEnd:
    """Cached STFT window and mel filterbank of one :class:`FeatureConfig`.

    Parameters
    ----------
    config : FeatureConfig
        Front-end parameters (any of them; ``compression`` is applied by :meth:`log_mel`).
    block_frames : int > 0
        Frames per STFT block.

    Examples
    --------
    >>> import numpy as np
    >>> front = MelFrontEnd(FeatureConfig())
    >>> y = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    >>> front.log_mel(y).shape
    (96, 63)
    """

    def __init__(self, config: FeatureConfig, *, block_frames: int = BLOCK_FRAMES) -> None:
        self.config = config
        self.block_frames = int(block_frames)
        self.window = torch.hann_window(config.n_fft, periodic=True, dtype=torch.float32)
        basis = mel_filterbank(
            sr=config.sr,
            n_fft=config.n_fft,
            n_mels=config.n_mels,
            fmin=config.fmin,
            fmax=config.fmax,
        )
        self.mel_basis = torch.from_numpy(np.ascontiguousarray(basis, dtype=np.float32))

    def mel_power(self, y: np.ndarray) -> np.ndarray:
        """Mel power spectrogram, as :func:`genrecls.features.mel_power`.

        Parameters
        ----------
        y : np.ndarray [shape=(n,)]
            Mono audio at ``config.sr``.

        Returns
        -------
        S : np.ndarray [shape=(n_mels, 1 + n // hop_length), dtype=float32]
        """
        y = _check_audio(y)
        cfg = self.config
        n_fft, hop = cfg.n_fft, cfg.hop_length
        pad = n_fft // 2
        n_frames = 1 + len(y) // hop
        signal = torch.from_numpy(np.ascontiguousarray(y))
        out = np.empty((cfg.n_mels, n_frames), dtype=np.float32)
        with torch.inference_mode():
            for f0 in range(0, n_frames, self.block_frames):
                f1 = min(n_frames, f0 + self.block_frames)
                # Samples [a, b) of the zero-padded signal (``pad`` zeros on both sides),
                # cut from ``y`` directly: no padded copy of a whole song.
                a, b = f0 * hop - pad, (f1 - 1) * hop + n_fft - pad
                if a >= 0 and b <= len(y):
                    chunk = signal[a:b]
                else:
                    chunk = torch.zeros(b - a, dtype=torch.float32)
                    lo, hi = max(a, 0), min(b, len(y))
                    chunk[lo - a : hi - a] = signal[lo:hi]
                spec = torch.stft(
                    chunk,
                    n_fft=n_fft,
                    hop_length=hop,
                    window=self.window,
                    center=False,
                    return_complex=True,
                )  # [n_fft // 2 + 1, f1 - f0]
                power = spec.real.square() + spec.imag.square()
                out[:, f0:f1] = (self.mel_basis @ power).numpy()
        return out

    def log_mel(self, y: np.ndarray) -> np.ndarray:
        """Compressed mel spectrogram, as :func:`genrecls.features.log_mel`.

        Returns
        -------
        M : np.ndarray [shape=(n_mels, t), dtype=float32]
        """
        return compress(self.mel_power(y), config=self.config)


@lru_cache(maxsize=8)
def front_end(config: FeatureConfig) -> MelFrontEnd:
    """The cached :class:`MelFrontEnd` of ``config`` (built on first use)."""
    return MelFrontEnd(config)


def fast_log_mel(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """Compute :func:`genrecls.features.log_mel` with the cached torch front end.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``config.sr``.
    config : FeatureConfig
        Front-end parameters.

    Returns
    -------
    M : np.ndarray [shape=(n_mels, t), dtype=float32]

    See Also
    --------
    genrecls.features.log_mel : the librosa reference.
    """
    return front_end(config).log_mel(y)


__all__ = ["BLOCK_FRAMES", "MelFrontEnd", "fast_log_mel", "front_end"]
