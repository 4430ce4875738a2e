"""Mel filterbank in plain numpy: :func:`librosa.filters.mel`, without librosa's imports.

``librosa.filters`` imports ``scipy.signal`` and numba at module level (about 2 s and
60 MB in a fresh process on a two-core machine); the classify path only needs the
filterbank matrix. :func:`mel_filterbank` computes the same matrix with the same
arithmetic (Slaney mel scale, triangular filters, Slaney area normalisation);
``tests/test_filterbank.py`` checks it against librosa.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from genrecls.exceptions import ParameterError

# Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, log above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(frequencies: np.ndarray | float) -> np.ndarray:
    """Convert Hz to Slaney mels, as ``librosa.hz_to_mel(..., htk=False)``.

    Parameters
    ----------
    frequencies : np.ndarray or float
        Frequencies in Hz.

    Returns
    -------
    mels : np.ndarray
        Same shape as ``frequencies``.
    """
    f = np.asanyarray(frequencies, dtype=np.float64)
    mels = f / _F_SP
    log_t = f >= _MIN_LOG_HZ
    return np.where(
        log_t, _MIN_LOG_MEL + np.log(np.maximum(f, 1e-300) / _MIN_LOG_HZ) / _LOGSTEP, mels
    )


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Convert Slaney mels to Hz, as ``librosa.mel_to_hz(..., htk=False)``.

    Parameters
    ----------
    mels : np.ndarray or float
        Mel values.

    Returns
    -------
    frequencies : np.ndarray
        Same shape as ``mels``, in Hz.
    """
    m = np.asanyarray(mels, dtype=np.float64)
    return np.where(
        m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m
    )


def mel_frequencies(*, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Frequencies evenly spaced on the Slaney mel scale (``librosa.mel_frequencies``).

    Parameters
    ----------
    n_mels : int > 0
        Number of frequencies, ``fmin`` and ``fmax`` included.
    fmin, fmax : float
        Lowest and highest frequency in Hz.

    Returns
    -------
    frequencies : np.ndarray [shape=(n_mels,), dtype=float64]
    """
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels))


def mel_filterbank(
    *,
    sr: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    norm: Literal["slaney"] | None = "slaney",
) -> np.ndarray:
    """Triangular mel filters on the Slaney mel scale, as ``librosa.filters.mel``.

    Parameters
    ----------
    sr : int > 0
        Sample rate in Hz.
    n_fft : int > 0
        FFT size; the filters cover its ``1 + n_fft // 2`` bins.
    n_mels : int > 0
        Number of bands.
    fmin : float >= 0
        Lowest band edge in Hz.
    fmax : float > fmin or None
        Highest band edge in Hz; None means ``sr / 2``.
    norm : "slaney" or None
        ``"slaney"`` divides each triangle by its width in Hz (constant energy per band);
        None leaves every triangle with a peak of 1, so that neighbouring triangles sum to
        one between the outer band centres.

    Returns
    -------
    basis : np.ndarray [shape=(n_mels, 1 + n_fft // 2), dtype=float32]

    Examples
    --------
    >>> mel_filterbank(sr=16000, n_fft=512, n_mels=96).shape
    (96, 257)
    """
    if not (sr > 0 and n_fft > 0 and n_mels > 0):
        raise ParameterError(f"sr, n_fft and n_mels must be > 0, got {sr}, {n_fft}, {n_mels}")
    if fmax is None:
        fmax = float(sr) / 2
    if norm not in ("slaney", None):
        raise ParameterError(f"norm must be 'slaney' or None, got {norm!r}")
    if not 0 <= fmin < fmax:
        raise ParameterError(f"need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    n_mels = int(n_mels)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_frequencies(n_mels=n_mels + 2, fmin=fmin, fmax=fmax)  # band edges
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, int(1 + n_fft // 2)), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
        weights *= enorm[:, np.newaxis]
    return weights


__all__ = ["hz_to_mel", "mel_filterbank", "mel_frequencies", "mel_to_hz"]
