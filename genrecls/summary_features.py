"""The 57 clip-level summary features of the Kaggle GTZAN feature table, computed from audio.

The Kaggle "GTZAN Dataset - Music Genre Classification" table (``features_30_sec.csv``)
holds, for each 30 s GTZAN clip, the mean and variance over frames of a few librosa
features, the mean and variance of the harmonic and percussive waveforms of an HPSS
split, and a global tempo. Its extraction code was not published; the recipe here was
worked out by comparison with the table rows of the ten full GTZAN clips in
``gtzan_samples`` and reproduces them to about 1e-7 relative (see
``tests/test_summary_features.py`` for the tolerances measured per column).

Two details of the older librosa release (< 0.10) that computed the table matter:

* every centred STFT and framing pads the signal by **reflection**
  (``pad_mode="reflect"``; librosa >= 0.10 pads with zeros by default), which moves the
  spectral means by 1e-4 relative and the MFCC variances by up to 2e-3;
* ``librosa.effects.hpss`` inverted the STFT **without** ``length=`` and then
  zero-padded the result to ``len(y)``, so the last ``len(y) % hop_length`` samples of
  both waveforms are zero. This changes ``harmony_mean`` / ``perceptr_mean`` (tiny
  numbers near zero) by up to a factor of 2 and the variances by 1e-3 relative.
"""

from __future__ import annotations

import librosa
import numpy as np

from genrecls.exceptions import ParameterError

__all__ = [
    "N_FFT",
    "HOP_LENGTH",
    "N_MFCC",
    "SUMMARY_FEATURE_NAMES",
    "summary_features",
    "summary_feature_vector",
]

#: STFT size used by every feature (librosa's default).
N_FFT: int = 2048

#: Hop between frames in samples (librosa's default).
HOP_LENGTH: int = 512

#: Number of MFCCs summarised (the table's ``mfcc1`` .. ``mfcc20``).
N_MFCC: int = 20

_FRAME_FEATURES: tuple[str, ...] = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
    "harmony",
    "perceptr",
)

#: The 57 feature columns of the Kaggle table, in its order.
SUMMARY_FEATURE_NAMES: tuple[str, ...] = (
    *(f"{base}_{stat}" for base in _FRAME_FEATURES for stat in ("mean", "var")),
    "tempo",
    *(f"mfcc{i}_{stat}" for i in range(1, N_MFCC + 1) for stat in ("mean", "var")),
)

_PAD_MODE = "reflect"


def _valid_signal(y: np.ndarray, sr: int) -> np.ndarray:
    """Check ``y`` and ``sr`` and return ``y`` as a contiguous float32 vector."""
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
        raise ParameterError(f"sr must be a positive integer, got {sr!r}")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"y must be mono with shape (n,), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"y must hold floating-point samples, got dtype {y.dtype}")
    if y.shape[0] < N_FFT:
        raise ParameterError(
            f"y is too short: {y.shape[0]} samples, at least {N_FFT} (one STFT frame) needed"
        )
    if not np.all(np.isfinite(y)):
        raise ParameterError("y contains NaN or infinite values")
    return np.ascontiguousarray(y, dtype=np.float32)


def _mean_var(name: str, x: np.ndarray) -> dict[str, float]:
    return {f"{name}_mean": float(np.mean(x)), f"{name}_var": float(np.var(x))}


def summary_features(y: np.ndarray, *, sr: int = 22050) -> dict[str, float]:
    """Compute the 57 Kaggle GTZAN summary features of one clip.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], floating point
        Mono audio, at least ``N_FFT`` (2048) samples long, all finite. The Kaggle table
        was computed on whole 30 s clips at 22050 Hz; use the same for comparable values.
    sr : int > 0
        Sample rate of ``y`` in Hz.

    Returns
    -------
    features : dict[str, float]
        One entry per name of :data:`SUMMARY_FEATURE_NAMES`, in that order:

        - ``chroma_stft``, ``rms``, ``spectral_centroid``, ``spectral_bandwidth``,
          ``rolloff`` (85 %), ``zero_crossing_rate``: mean and population variance over
          frames (``n_fft=2048``, ``hop_length=512``, reflection-padded centred frames);
        - ``harmony`` / ``perceptr``: mean and variance of the harmonic and percussive
          waveforms of :func:`librosa.decompose.hpss` (kernel 31, soft masks), inverted
          as librosa < 0.10 did (see the module notes);
        - ``tempo``: the global tempo of :func:`librosa.beat.beat_track`, in BPM;
        - ``mfcc1`` .. ``mfcc20``: mean and variance over frames of the MFCCs
          (128 mel bands, DCT-II ortho).

    Raises
    ------
    ParameterError
        If ``y`` is not a finite 1-D float array of at least 2048 samples, or ``sr`` is
        not a positive integer.

    See Also
    --------
    summary_feature_vector : the same values as an array in table order.

    Examples
    --------
    >>> import numpy as np
    >>> sr = 22050
    >>> t = np.arange(2 * sr) / sr
    >>> y = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    >>> feats = summary_features(y, sr=sr)
    >>> len(feats), list(feats)[:2]
    (57, ['chroma_stft_mean', 'chroma_stft_var'])
    >>> round(feats["spectral_centroid_mean"])  # close to the tone's 440 Hz
    448
    """
    y = _valid_signal(y, sr)
    sr = int(sr)
    n_samples = y.shape[0]

    # One reflection-padded STFT serves the spectral features, chroma, mel and HPSS.
    stft = librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH, pad_mode=_PAD_MODE)
    mag = np.abs(stft)  # [shape=(1 + n_fft/2, t)]
    power = mag**2

    feats: dict[str, float] = {}
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH)
    feats.update(_mean_var("chroma_stft", chroma))
    rms = librosa.feature.rms(
        y=y, frame_length=N_FFT, hop_length=HOP_LENGTH, pad_mode=_PAD_MODE
    )  # [shape=(1, t)]
    feats.update(_mean_var("rms", rms))
    spectral = {
        "spectral_centroid": librosa.feature.spectral_centroid,
        "spectral_bandwidth": librosa.feature.spectral_bandwidth,
        "rolloff": librosa.feature.spectral_rolloff,
    }
    for name, func in spectral.items():
        feats.update(_mean_var(name, func(S=mag, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH)))
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP_LENGTH)
    feats.update(_mean_var("zero_crossing_rate", zcr))

    # HPSS as librosa < 0.10 did it: inverse STFT without `length`, then zero-pad to n.
    stft_harm, stft_perc = librosa.decompose.hpss(stft)
    for name, part in (("harmony", stft_harm), ("perceptr", stft_perc)):
        wave = librosa.istft(part, hop_length=HOP_LENGTH, n_fft=N_FFT, dtype=y.dtype)
        wave = librosa.util.fix_length(wave, size=n_samples)  # [shape=(n,)]
        feats.update(_mean_var(name, wave))

    log_mel = librosa.power_to_db(
        librosa.feature.melspectrogram(S=power, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH)
    )  # [shape=(128, t)]
    # beat_track's own onset envelope: median over mel bands of the positive log-mel flux.
    onset_env = librosa.onset.onset_strength(
        S=log_mel, sr=sr, hop_length=HOP_LENGTH, aggregate=np.median
    )
    tempo, _ = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr, hop_length=HOP_LENGTH)
    feats["tempo"] = float(np.atleast_1d(tempo)[0])

    mfcc = librosa.feature.mfcc(S=log_mel, sr=sr, n_mfcc=N_MFCC)  # [shape=(20, t)]
    for i in range(N_MFCC):
        feats.update(_mean_var(f"mfcc{i + 1}", mfcc[i]))

    return {name: feats[name] for name in SUMMARY_FEATURE_NAMES}


def summary_feature_vector(y: np.ndarray, *, sr: int = 22050) -> np.ndarray:
    """Compute the 57 summary features as a vector in table order.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], floating point
        Mono audio; see :func:`summary_features`.
    sr : int > 0
        Sample rate of ``y`` in Hz.

    Returns
    -------
    x : np.ndarray [shape=(57,)], float64
        ``x[i]`` is the feature named ``SUMMARY_FEATURE_NAMES[i]``.

    See Also
    --------
    summary_features : the same values keyed by name.
    """
    feats = summary_features(y, sr=sr)
    return np.array([feats[name] for name in SUMMARY_FEATURE_NAMES], dtype=np.float64)
