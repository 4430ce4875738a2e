"""Time–frequency features: log-mel spectrogram, MFCC, chroma, segmentation.

One frozen :class:`FeatureConfig` describes the whole front end. The same object is
stored with every trained model, so prediction rebuilds exactly the features the model
was trained on, and the app's pictures use the same code with display settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import librosa
import numpy as np

from genrecls import filterbank
from genrecls.exceptions import ParameterError

Compression = Literal["logC", "db"]


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the spectrogram front end.

    The defaults follow musicnn (Pons & Serra, 2019): 16 kHz audio, a 512-point STFT with
    hop 256, 96 Slaney mel bands up to 8 kHz and ``log10(1 + 10000 * S)`` compression,
    cut into 187-frame (about 3 s) patches. Every genrecls model uses them, so all models
    compare on the same input.

    Parameters
    ----------
    sr : int > 0
        Sampling rate in Hz the audio is resampled to.
    n_fft : int > 0
        FFT window length in samples.
    hop_length : int > 0
        Samples between successive frames.
    n_mels : int > 0
        Number of mel bands.
    fmin : float >= 0
        Lowest mel-band edge in Hz.
    fmax : float > fmin or None
        Highest mel-band edge in Hz; ``None`` means ``sr / 2``.
    compression : {"logC", "db"}
        ``"logC"``: ``log10(1 + 10000 * S)`` (musicnn); ``"db"``: ``power_to_db`` relative
        to the maximum, clipped at ``-top_db``.
    top_db : float > 0
        Dynamic range kept by the ``"db"`` compression.
    segment_frames : int > 0
        Spectrogram frames per model input segment.
    segment_hop_frames : int > 0
        Frames between the starts of successive segments (equal to ``segment_frames``
        for no overlap).
    """

    sr: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    fmin: float = 0.0
    fmax: float | None = 8000.0
    compression: Compression = "logC"
    top_db: float = 80.0
    segment_frames: int = 187
    segment_hop_frames: int = 187

    def __post_init__(self) -> None:
        for name in ("sr", "n_fft", "hop_length", "n_mels", "segment_frames"):
            _check_positive_int(getattr(self, name), name=name)
        _check_positive_int(self.segment_hop_frames, name="segment_hop_frames")
        if self.fmin < 0:
            raise ParameterError(f"fmin must be >= 0, got {self.fmin}")
        if self.fmax is not None and not (self.fmin < self.fmax <= self.sr / 2):
            raise ParameterError(
                f"fmax must lie in ({self.fmin}, {self.sr / 2}] (the Nyquist rate), got {self.fmax}"
            )
        if self.compression not in ("logC", "db"):
            raise ParameterError(f"compression must be 'logC' or 'db', got {self.compression!r}")
        if not self.top_db > 0:
            raise ParameterError(f"top_db must be > 0, got {self.top_db}")

    @property
    def segment_seconds(self) -> float:
        """Duration of one model input segment in seconds."""
        return self.segment_frames * self.hop_length / self.sr

    @property
    def segment_hop_seconds(self) -> float:
        """Seconds between the starts of successive segments."""
        return self.segment_hop_frames * self.hop_length / self.sr

    def to_dict(self) -> dict:
        """Return the configuration as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FeatureConfig:
        """Rebuild a configuration saved with :meth:`to_dict`, rejecting unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ParameterError(f"unknown FeatureConfig fields: {sorted(unknown)}")
        return cls(**values)


#: Largest sample magnitude accepted (full scale is 1; float files may exceed it a little).
MAX_AMPLITUDE = 1e6


def _check_positive_int(value: object, *, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")


def _check_audio(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"audio must be mono with shape (n,), got shape {y.shape}")
    if y.size == 0:
        raise ParameterError("audio is empty")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"audio must be floating point, got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise ParameterError("audio contains NaN or infinite samples")
    if y.size and float(np.max(np.abs(y))) > MAX_AMPLITUDE:
        raise ParameterError(
            f"audio peaks at {float(np.max(np.abs(y))):.3g}, beyond the plausible "
            f"{MAX_AMPLITUDE:g} (full scale is 1.0): its power would overflow float32"
        )
    return y.astype(np.float32, copy=False)


#: Settings for pictures a person looks at (CD-style rate, finer mel grid, dB scale).
DISPLAY_CONFIG = FeatureConfig(
    sr=22050,
    n_fft=2048,
    hop_length=512,
    n_mels=128,
    fmax=None,
    compression="db",
    top_db=80.0,
)


def mel_power(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """Compute the mel power spectrogram (before compression).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``config.sr``.
    config : FeatureConfig
        Front-end parameters.

    Returns
    -------
    S : np.ndarray [shape=(n_mels, t), dtype=float32]
        Mel-band power, ``t = 1 + n // hop_length`` (centred frames).
    """
    y = _check_audio(y)
    S = librosa.feature.melspectrogram(
        y=y,
        sr=config.sr,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
        power=2.0,
    )
    return S.astype(np.float32, copy=False)


def compress(S: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """Compress a mel power spectrogram as ``config.compression`` says.

    Parameters
    ----------
    S : np.ndarray [shape=(..., n_mels, t)]
        Non-negative mel power.
    config : FeatureConfig
        Front-end parameters.

    Returns
    -------
    S_log : np.ndarray [shape=(..., n_mels, t), dtype=float32]
        ``log10(1 + 10000 S)`` for ``"logC"``; decibels relative to the maximum, floored
        at ``-top_db``, for ``"db"``.
    """
    if config.compression == "logC":
        # musicnn casts to float16 before the log; keep that so pretrained weights see
        # exactly their training input.
        # Power beyond float16's range (float input far over full scale) is clipped to its
        # largest value first, so the cast cannot turn it into inf.
        S16 = np.minimum(S, np.finfo(np.float16).max).astype(np.float16)
        return np.log10(10000.0 * S16.astype(np.float32) + 1.0)
    return librosa.power_to_db(S, ref=np.max, top_db=config.top_db).astype(np.float32)


def log_mel(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """Compute a compressed (log) mel spectrogram.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``config.sr``.
    config : FeatureConfig
        Front-end parameters.

    Returns
    -------
    M : np.ndarray [shape=(n_mels, t), dtype=float32]
        Log-compressed mel spectrogram.

    See Also
    --------
    mel_power, compress, segment_spectrogram

    Examples
    --------
    >>> import numpy as np
    >>> cfg = FeatureConfig()
    >>> y = np.sin(2 * np.pi * 440 * np.arange(cfg.sr) / cfg.sr).astype(np.float32)
    >>> log_mel(y, config=cfg).shape
    (96, 63)
    """
    return compress(mel_power(y, config=config), config=config)


def mel_frequencies(*, config: FeatureConfig) -> np.ndarray:
    """Return the centre frequency in Hz of each mel band of ``config``.

    Returns
    -------
    freqs : np.ndarray [shape=(n_mels,)]
    """
    fmax = config.fmax if config.fmax is not None else config.sr / 2
    # genrecls.filterbank, not librosa: the same arithmetic without librosa.core and numba
    return filterbank.mel_frequencies(n_mels=config.n_mels + 2, fmin=config.fmin, fmax=fmax)[1:-1]


def frame_times(n_frames: int, *, config: FeatureConfig) -> np.ndarray:
    """Return the time in seconds of each spectrogram frame centre.

    Returns
    -------
    times : np.ndarray [shape=(n_frames,)]
    """
    # librosa.frames_to_time's arithmetic, without importing librosa.core (and numba)
    return (np.arange(n_frames) * config.hop_length) / float(config.sr)


def mfcc(y: np.ndarray, *, config: FeatureConfig, n_mfcc: int = 20) -> np.ndarray:
    """Compute mel-frequency cepstral coefficients.

    The DCT-II of the dB-scaled mel spectrogram (Davis & Mermelstein, 1980), as librosa does.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``config.sr``.
    config : FeatureConfig
        Front-end parameters (the mel grid the cepstrum is taken over).
    n_mfcc : int > 0
        Number of coefficients kept.

    Returns
    -------
    M : np.ndarray [shape=(n_mfcc, t), dtype=float32]
    """
    _check_positive_int(n_mfcc, name="n_mfcc")
    if n_mfcc > config.n_mels:
        raise ParameterError(f"n_mfcc ({n_mfcc}) cannot exceed n_mels ({config.n_mels})")
    S_db = librosa.power_to_db(mel_power(y, config=config), top_db=config.top_db)
    return librosa.feature.mfcc(S=S_db, n_mfcc=n_mfcc).astype(np.float32)


#: Pitch-class names of the chroma rows, starting at C.
PITCH_CLASSES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def chroma(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """Compute a chromagram: energy per pitch class over time.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``config.sr``.
    config : FeatureConfig
        Uses ``sr``, ``n_fft`` and ``hop_length``.

    Returns
    -------
    C : np.ndarray [shape=(12, t), dtype=float32]
        Each frame normalised to a maximum of 1; rows follow :data:`PITCH_CLASSES`.
    """
    y = _check_audio(y)
    C = librosa.feature.chroma_stft(
        y=y, sr=config.sr, n_fft=config.n_fft, hop_length=config.hop_length
    )
    return C.astype(np.float32)


def segment_starts(n_frames: int, *, config: FeatureConfig) -> np.ndarray:
    """Return the first frame of every segment a spectrogram of ``n_frames`` is cut into.

    A spectrogram shorter than one segment still gives one segment (it is padded by
    :func:`segment_spectrogram`); a tail shorter than a segment after the last full one is
    covered by one more segment aligned to the end, so no audio is left out.

    Returns
    -------
    starts : np.ndarray [shape=(n_segments,), dtype=int]
    """
    L, H = config.segment_frames, config.segment_hop_frames
    if n_frames <= L:
        return np.zeros(1, dtype=int)
    starts = np.arange(0, n_frames - L + 1, H)
    if starts[-1] + L < n_frames:
        starts = np.append(starts, n_frames - L)
    return starts.astype(int)


def segment_spectrogram(M: np.ndarray, *, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Cut a spectrogram into fixed-length model segments.

    Parameters
    ----------
    M : np.ndarray [shape=(n_mels, t)]
        A (log) mel spectrogram.
    config : FeatureConfig
        Gives ``segment_frames`` and ``segment_hop_frames``.

    Returns
    -------
    segments : np.ndarray [shape=(n_segments, n_mels, segment_frames)]
        Segments; a spectrogram shorter than one segment is repeated to fill it
        ("repeat-pad", as musicnn was trained).
    starts : np.ndarray [shape=(n_segments,)]
        First frame of each segment in ``M``.
    """
    if M.ndim != 2 or M.shape[1] == 0:
        raise ParameterError(f"expected a spectrogram of shape (n_mels, t>0), got {M.shape}")
    L = config.segment_frames
    if M.shape[1] < L:
        reps = int(np.ceil(L / M.shape[1]))
        M = np.tile(M, (1, reps))[:, :L]
    starts = segment_starts(M.shape[1], config=config)
    idx = starts[:, None] + np.arange(L)[None, :]
    segments = np.ascontiguousarray(np.transpose(M[:, idx], (1, 0, 2)))
    return segments, starts


def segment_audio(
    y: np.ndarray, *, sr: int, seconds: float, hop_seconds: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cut audio into fixed-length windows.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio.
    sr : int > 0
        Sampling rate of ``y``.
    seconds : float > 0
        Window length in seconds.
    hop_seconds : float > 0 or None
        Seconds between window starts; ``None`` means ``seconds`` (no overlap).

    Returns
    -------
    windows : np.ndarray [shape=(n_windows, round(seconds * sr))]
        Audio windows; a clip shorter than one window is repeated to fill it.
    starts : np.ndarray [shape=(n_windows,)]
        Start time of each window in seconds.
    """
    y = _check_audio(y)
    _check_positive_int(sr, name="sr")
    if not seconds > 0:
        raise ParameterError(f"seconds must be > 0, got {seconds}")
    hop_seconds = seconds if hop_seconds is None else hop_seconds
    if not hop_seconds > 0:
        raise ParameterError(f"hop_seconds must be > 0, got {hop_seconds}")
    L, H = int(round(seconds * sr)), max(1, int(round(hop_seconds * sr)))
    if y.size < L:
        y = np.tile(y, int(np.ceil(L / y.size)))[:L]
    starts = np.arange(0, y.size - L + 1, H)
    if starts[-1] + L < y.size:
        starts = np.append(starts, y.size - L)
    windows = np.stack([y[s : s + L] for s in starts])
    return windows, starts / sr


def waveform_envelope(
    y: np.ndarray, *, sr: int, n_points: int = 2000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Summarise a waveform as min/max per bucket, so long files plot fast.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio.
    sr : int > 0
        Sampling rate of ``y``.
    n_points : int > 0
        Number of buckets (at most ``n``).

    Returns
    -------
    times : np.ndarray [shape=(m,)]
        Centre time of each bucket in seconds.
    lower, upper : np.ndarray [shape=(m,)]
        Minimum and maximum sample of each bucket.
    """
    y = _check_audio(y)
    _check_positive_int(n_points, name="n_points")
    m = min(n_points, y.size)
    edges = np.linspace(0, y.size, m + 1).astype(int)
    lower = np.minimum.reduceat(y, edges[:-1])
    upper = np.maximum.reduceat(y, edges[:-1])
    times = (edges[:-1] + edges[1:]) / 2 / sr
    return times, lower, upper


def warm_up(*, config: FeatureConfig = DISPLAY_CONFIG) -> float:
    """Compute every picture's features once on a short tone, off the request path.

    The first :func:`log_mel`, :func:`mfcc` or :func:`chroma` call of a fresh process
    imports librosa's spectral code (with scipy.signal and numba) and loads its compiled
    functions: about 2 s on a two-core machine, against 0.03 s for a 30 s clip afterwards.
    The app calls this in a background thread once a song has been classified, so that
    the Explore page opens without that wait.

    Parameters
    ----------
    config : FeatureConfig
        Front end to warm (the Explore page's defaults).

    Returns
    -------
    elapsed : float
        Seconds the warm-up took.

    Examples
    --------
    >>> warm_up() >= 0
    True
    """
    import time

    t0 = time.perf_counter()
    t = np.arange(config.sr // 2) / config.sr
    y = (0.1 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)  # a tone: chroma has a pitch
    log_mel(y, config=config)
    mfcc(y, config=config)
    chroma(y, config=config)
    return time.perf_counter() - t0
