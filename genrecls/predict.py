"""Genre prediction for whole tracks: segment, classify, calibrate, aggregate.

A track is cut into the model's fixed-length segments (:func:`genrecls.features.
segment_spectrogram`), every segment is classified in one batched forward pass, logits are
divided by the model's fitted temperature (Guo et al., 2017) and the per-segment
probabilities are aggregated into the track verdict by the **geometric mean** (mean of
log-probabilities, renormalised): one segment that is very sure cannot outvote many that
agree, and a genre that some segments rule out is penalised.

The JSON contract of ``python -m genrecls predict --json`` is produced by
:meth:`TrackPrediction.to_json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genrecls.audio import AudioClip, load_audio
from genrecls.evaluate import aggregate_segments, softmax
from genrecls.exceptions import ParameterError
from genrecls.features import FeatureConfig, log_mel, segment_spectrogram

#: Below this top-1 probability the verdict is called "unsure".
UNSURE_TOP1 = 0.45
#: Above this normalised entropy (0 = one class, 1 = uniform) the verdict is "unsure".
UNSURE_ENTROPY = 0.75
#: Multiply–accumulates per forward pass that the automatic batch size aims for.
BATCH_MACS = 300_000_000
#: Segments, spread over the song, of the quick first verdict on a long song (the app
#: then refines it with all :attr:`GenrePredictor.max_segments`).
FIRST_LOOK_SEGMENTS = 10
#: A song gets a first look only when it is longer than this many segments: below, one
#: pass over every segment costs at most twice the first look, less than the first look
#: and the refining pass together (a 30 s clip, 11 segments, used to be analysed twice).
FIRST_LOOK_ABOVE_SEGMENTS = 2 * FIRST_LOOK_SEGMENTS


@dataclass(frozen=True, eq=False)
class TrackPrediction:
    """What the model says about one track.

    Attributes
    ----------
    labels : tuple of str [shape=(n_classes,)]
        Class names, in the model's order.
    probabilities : np.ndarray [shape=(n_classes,)]
        Calibrated track-level probabilities (geometric mean of the segments').
    segment_probabilities : np.ndarray [shape=(n_segments, n_classes)]
        Calibrated probabilities of each segment.
    segment_starts, segment_ends : np.ndarray [shape=(n_segments,)]
        Segment boundaries in seconds (clipped to the analysed duration).
    segment_logits : np.ndarray [shape=(n_segments, n_classes)]
        Uncalibrated logits (before the temperature).
    temperature : float
        The temperature the logits were divided by.
    """

    labels: tuple[str, ...]
    probabilities: np.ndarray
    segment_probabilities: np.ndarray
    segment_starts: np.ndarray
    segment_ends: np.ndarray
    segment_logits: np.ndarray
    temperature: float

    @property
    def genre(self) -> str:
        """The most probable genre of the track."""
        return self.labels[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        """The probability of the most probable genre."""
        return float(np.max(self.probabilities))

    @property
    def entropy(self) -> float:
        """Normalised entropy of the track probabilities: 0 = certain, 1 = uniform."""
        p = np.clip(self.probabilities, 1e-12, 1.0)
        return float(-(p * np.log(p)).sum() / np.log(len(p)))

    @property
    def is_unsure(self) -> bool:
        """True when top-1 is below :data:`UNSURE_TOP1` or entropy above :data:`UNSURE_ENTROPY`."""
        return self.confidence < UNSURE_TOP1 or self.entropy > UNSURE_ENTROPY

    def top_k(self, k: int = 3) -> list[tuple[str, float]]:
        """Return the ``k`` most probable genres with their probabilities, best first."""
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(self.labels[i], float(self.probabilities[i])) for i in order]

    def to_json(self, *, file: str) -> dict:
        """Return the CLI's JSON object for this track.

        Returns
        -------
        record : dict
            ``{"file", "genre", "probabilities": {label: p}, "segments": [{"start", "end",
            "probabilities": {label: p}}, ...]}`` with probabilities rounded to 6 digits.
        """

        def as_dict(p: np.ndarray) -> dict[str, float]:
            return {label: round(float(v), 6) for label, v in zip(self.labels, p, strict=True)}

        return {
            "file": file,
            "genre": self.genre,
            "probabilities": as_dict(self.probabilities),
            "segments": [
                {
                    "start": round(float(s), 3),
                    "end": round(float(e), 3),
                    "probabilities": as_dict(p),
                }
                for s, e, p in zip(
                    self.segment_starts, self.segment_ends, self.segment_probabilities, strict=True
                )
            ],
        }


def aggregate_geometric(segment_probabilities: np.ndarray) -> np.ndarray:
    """Aggregate segment probabilities into a track's by their renormalised geometric mean.

    Parameters
    ----------
    segment_probabilities : np.ndarray [shape=(n_segments, n_classes)]

    Returns
    -------
    probabilities : np.ndarray [shape=(n_classes,)]
    """
    return aggregate_segments(segment_probabilities, method="mean_log")


def select_segments(n_segments: int, *, max_segments: int | None) -> np.ndarray:
    """Pick at most ``max_segments`` segment indices spread evenly over the track.

    Parameters
    ----------
    n_segments : int > 0
        Number of segments of the track.
    max_segments : int > 0 or None
        Cap; ``None`` keeps all.

    Returns
    -------
    indices : np.ndarray [shape=(min(n_segments, max_segments),)]
        Sorted, unique segment indices, first and last included.
    """
    if max_segments is None or n_segments <= max_segments:
        return np.arange(n_segments)
    if max_segments < 1:
        raise ParameterError(f"max_segments must be >= 1, got {max_segments}")
    return np.unique(np.round(np.linspace(0, n_segments - 1, max_segments)).astype(int))


class GenrePredictor:
    """Classify tracks with a loaded genre model.

    Parameters
    ----------
    model : torch.nn.Module
        A genre model: ``model(x)["logits"]`` for ``x: [B, n_mels, frames]``.
    feature_config : FeatureConfig
        The front end the model was trained with.
    labels : sequence of str
        Class names in the model's output order.
    temperature : float > 0
        Calibration temperature (logits are divided by it).
    max_segments : int > 0 or None
        At most this many segments, spread over the track, are classified (long songs).
    batch_size : int > 0 or None
        Segments per forward (and Grad-CAM) pass. ``None`` picks it from the model's
        cost: as many segments as fit in :data:`BATCH_MACS` multiply–accumulates (at
        least 1, at most 64) — 17 segments per pass for the compact CNN student (17 M
        MACs per segment), one at a time for musicnn (1.4 G), whose batched activations
        run to gigabytes and were slower per segment than batches of one or two on a
        2-core CPU (measured: 11 segments classify in 0.87 s one by one, 2.05 s at once).
    fast_features : bool
        Compute the log-mel spectrogram with the cached torch front end
        (:func:`genrecls.fast_features.fast_log_mel`, about 2.5 times faster than librosa
        for a 30 s clip and equal to it within float32 rounding); ``False`` uses the
        librosa reference :func:`genrecls.features.log_mel`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        feature_config: FeatureConfig,
        labels: tuple[str, ...] | list[str],
        temperature: float = 1.0,
        max_segments: int | None = 64,
        batch_size: int | None = None,
        fast_features: bool = True,
    ) -> None:
        if not temperature > 0:
            raise ParameterError(f"temperature must be > 0, got {temperature}")
        self.model = model.eval()
        self.feature_config = feature_config
        self.labels = tuple(labels)
        self.temperature = float(temperature)
        self.max_segments = max_segments
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ParameterError(f"batch_size must be a positive integer or None, got {batch_size}")
        self._batch_size = batch_size
        self.fast_features = bool(fast_features)

    @property
    def batch_size(self) -> int:
        """Segments per forward / Grad-CAM pass (resolved from the model's cost if unset)."""
        if self._batch_size is None:
            from genrecls.models.cnn import count_macs

            cfg = self.feature_config
            macs = count_macs(self.model, torch.zeros(1, cfg.n_mels, cfg.segment_frames))
            self._batch_size = int(np.clip(BATCH_MACS // max(1, macs), 1, 64))
        return self._batch_size

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> GenrePredictor:
        """Load a saved model (see :func:`genrecls.checkpoint.load_model`)."""
        from genrecls.checkpoint import load_model

        loaded = load_model(path)
        return cls(
            loaded.model,
            feature_config=loaded.feature_config,
            labels=loaded.labels,
            temperature=loaded.temperature,
            **kwargs,
        )

    def spectrogram(self, y: np.ndarray) -> np.ndarray:
        """Log-mel spectrogram of ``y`` (at ``feature_config.sr``) as the model sees it."""
        if self.fast_features and len(y) >= self.feature_config.n_fft:
            from genrecls.fast_features import fast_log_mel

            return fast_log_mel(y, config=self.feature_config)
        return log_mel(y, config=self.feature_config)

    def logits(self, segments: np.ndarray) -> np.ndarray:
        """Raw logits of ``segments`` [shape=(n, n_mels, frames)] → [shape=(n, n_classes)]."""
        out = []
        with torch.inference_mode():
            for i in range(0, len(segments), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(segments[i : i + self.batch_size]))
                out.append(self.model(x)["logits"].float().numpy())
        return np.concatenate(out)

    def predict_spectrogram(
        self, M: np.ndarray, *, duration: float | None = None
    ) -> TrackPrediction:
        """Classify a track given its log-mel spectrogram.

        Parameters
        ----------
        M : np.ndarray [shape=(n_mels, t)]
            Log-mel spectrogram from :meth:`spectrogram`.
        duration : float or None
            Analysed duration in seconds, to clip the last segment's end.

        Returns
        -------
        prediction : TrackPrediction
        """
        segments, starts = self.analysed_segments(M)
        return self.prediction_from_logits(
            self.logits(segments), starts=starts, n_frames=M.shape[1], duration=duration
        )

    def analysed_segments(self, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The segments of a track that are classified, and their first frames.

        All of them, or :attr:`max_segments` spread over a long track
        (:func:`select_segments`).

        Returns
        -------
        segments : np.ndarray [shape=(n, n_mels, segment_frames)]
        starts : np.ndarray [shape=(n,)]
        """
        segments, starts = segment_spectrogram(M, config=self.feature_config)
        keep = select_segments(len(segments), max_segments=self.max_segments)
        return segments[keep], starts[keep]

    def prediction_from_logits(
        self,
        logits: np.ndarray,
        *,
        starts: np.ndarray,
        n_frames: int,
        duration: float | None = None,
    ) -> TrackPrediction:
        """Calibrate and aggregate the logits of the analysed segments into a prediction.

        Parameters
        ----------
        logits : np.ndarray [shape=(n, n_classes)]
            Raw logits of the segments from :meth:`analysed_segments`.
        starts : np.ndarray [shape=(n,)]
            Their first frames.
        n_frames : int
            Frames of the track's spectrogram.
        duration : float or None
            Analysed duration in seconds, to clip the last segment's end.

        Returns
        -------
        prediction : TrackPrediction
        """
        cfg = self.feature_config
        probs = softmax(logits / self.temperature)
        frame_s = cfg.hop_length / cfg.sr
        start_s = starts * frame_s
        end_s = start_s + cfg.segment_seconds
        total = duration if duration is not None else n_frames * frame_s
        return TrackPrediction(
            labels=self.labels,
            probabilities=aggregate_geometric(probs),
            segment_probabilities=probs,
            segment_starts=start_s,
            segment_ends=np.minimum(end_s, total),
            segment_logits=logits,
            temperature=self.temperature,
        )

    def predict_audio(self, y: np.ndarray) -> TrackPrediction:
        """Classify mono audio sampled at ``feature_config.sr``."""
        return self.predict_spectrogram(
            self.spectrogram(y), duration=len(y) / self.feature_config.sr
        )

    def predict_source(
        self, source, *, name: str | None = None
    ) -> tuple[AudioClip, TrackPrediction]:
        """Decode any supported input (path, bytes, file-like) and classify it.

        Raises
        ------
        genrecls.exceptions.AudioError
            When the input cannot be decoded (see :func:`genrecls.audio.load_audio`).
        """
        clip = load_audio(source, sr=self.feature_config.sr, name=name)
        return clip, self.predict_audio(clip.samples)

    def with_options(self, **changes) -> GenrePredictor:
        """Return a predictor sharing the model with some options changed."""
        current = dict(
            feature_config=self.feature_config,
            labels=self.labels,
            temperature=self.temperature,
            max_segments=self.max_segments,
            batch_size=self._batch_size,
            fast_features=self.fast_features,
        )
        return GenrePredictor(self.model, **{**current, **changes})


def wants_first_look(n_samples: int, *, config: FeatureConfig) -> bool:
    """Whether the Classify page shows a quick first verdict before analysing everything.

    Parameters
    ----------
    n_samples : int >= 0
        Length of the decoded audio at ``config.sr``.
    config : FeatureConfig

    Returns
    -------
    first_look : bool
        True for audio longer than :data:`FIRST_LOOK_ABOVE_SEGMENTS` segments (about
        60 s for musicnn's 3 s segments): it is first classified from
        :data:`FIRST_LOOK_SEGMENTS` segments spread over it, then from all of them.

    Examples
    --------
    >>> from genrecls.features import FeatureConfig
    >>> cfg = FeatureConfig()
    >>> wants_first_look(30 * cfg.sr, config=cfg), wants_first_look(240 * cfg.sr, config=cfg)
    (False, True)
    """
    return n_samples > FIRST_LOOK_ABOVE_SEGMENTS * config.segment_seconds * config.sr


def warm_up(predictor: GenrePredictor, *, seconds: float = 4.0) -> float:
    """Run the whole classify path once on a synthetic clip, off the request path.

    The first call of a fresh process pays one-off costs: importing librosa's and
    scipy's lazily loaded modules, building the mel filterbank and STFT window, PyTorch's
    first-call kernel selection and memory pools, and the autograd set-up of Grad-CAM.
    Call this once right after loading a model (the app does it inside its
    ``st.cache_resource`` loader) so the first song a person drops in does not pay them.

    Parameters
    ----------
    predictor : GenrePredictor
        The loaded model.
    seconds : float > 0
        Length of the synthetic clip (a little more than one segment is enough).

    Returns
    -------
    elapsed : float
        Seconds the warm-up took.
    """
    import time

    from genrecls.explain import explain_track

    if not seconds > 0:
        raise ParameterError(f"seconds must be > 0, got {seconds}")
    t0 = time.perf_counter()
    sr = predictor.feature_config.sr
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    y = (0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.05 * rng.standard_normal(t.size)).astype(
        np.float32
    )
    M = predictor.spectrogram(y)
    prediction = predictor.predict_spectrogram(M, duration=seconds)
    explain_track(predictor, M, target=int(np.argmax(prediction.probabilities)))
    return time.perf_counter() - t0


__all__ = [
    "FIRST_LOOK_ABOVE_SEGMENTS",
    "FIRST_LOOK_SEGMENTS",
    "GenrePredictor",
    "TrackPrediction",
    "aggregate_geometric",
    "select_segments",
    "wants_first_look",
    "warm_up",
]
