import numpy as np
import pytest

from genrecls.config import GENRES
from genrecls.evaluate import softmax
from genrecls.exceptions import AudioError, ParameterError
from genrecls.predict import (
    FIRST_LOOK_ABOVE_SEGMENTS,
    FIRST_LOOK_SEGMENTS,
    GenrePredictor,
    aggregate_geometric,
    select_segments,
    wants_first_look,
)
from genrecls.synth import drum_loop


@pytest.fixture
def predictor(tiny_model_path):
    return GenrePredictor.from_file(tiny_model_path)


def test_geometric_aggregation_penalises_a_ruled_out_class():
    p = np.array([[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.9, 0.05, 0.05]])
    agg = aggregate_geometric(p)
    assert agg.sum() == pytest.approx(1.0)
    assert agg.argmax() == 0
    # identical segments aggregate to themselves
    np.testing.assert_allclose(aggregate_geometric(np.tile([[0.2, 0.8]], (4, 1))), [0.2, 0.8])


def test_aggregation_rejects_empty():
    with pytest.raises(ParameterError):
        aggregate_geometric(np.zeros((0, 3)))


@pytest.mark.parametrize(("n", "cap", "expected"), [(5, None, 5), (5, 10, 5), (100, 10, 10)])
def test_select_segments_spreads_over_the_track(n, cap, expected):
    idx = select_segments(n, max_segments=cap)
    assert len(idx) == expected
    assert idx[0] == 0 and idx[-1] == n - 1
    assert np.all(np.diff(idx) > 0)


@pytest.mark.parametrize("seconds", [0.5, 3.0, 10.0, 31.0])
def test_prediction_shapes_and_probabilities(predictor, seconds):
    y = drum_loop(sr=16000, seconds=seconds)
    pred = predictor.predict_audio(y)
    n = len(pred.segment_starts)
    assert pred.segment_probabilities.shape == (n, len(GENRES))
    np.testing.assert_allclose(pred.segment_probabilities.sum(1), 1.0, rtol=1e-5)
    assert pred.probabilities.sum() == pytest.approx(1.0)
    assert pred.genre in GENRES
    assert np.all(pred.segment_ends <= seconds + 1e-6)
    assert 0.0 <= pred.entropy <= 1.0
    assert [g for g, _ in pred.top_k(3)][0] == pred.genre


def test_temperature_is_applied(predictor):
    y = drum_loop(sr=16000, seconds=6.0)
    pred = predictor.predict_audio(y)
    np.testing.assert_allclose(
        pred.segment_probabilities, softmax(pred.segment_logits / 1.5), rtol=1e-5
    )


def test_long_tracks_are_subsampled(predictor):
    y = drum_loop(sr=16000, seconds=60.0)
    pred = predictor.with_options(max_segments=5).predict_audio(y)
    assert len(pred.segment_starts) == 5
    assert pred.segment_ends[-1] == pytest.approx(60.0, abs=0.05)


def test_json_contract(predictor):
    record = predictor.predict_audio(drum_loop(sr=16000, seconds=7.0)).to_json(file="x.wav")
    assert set(record) == {"file", "genre", "probabilities", "segments"}
    assert set(record["probabilities"]) == set(GENRES)
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    for seg in record["segments"]:
        assert set(seg) == {"start", "end", "probabilities"}
        assert seg["start"] < seg["end"]


def test_predict_source_rejects_bad_bytes(predictor):
    with pytest.raises(AudioError):
        predictor.predict_source(b"definitely not audio" * 10, name="bad.mp3")


def test_first_look_only_for_songs_much_longer_than_it():
    from genrecls.features import FeatureConfig

    cfg = FeatureConfig()
    per_segment = cfg.segment_seconds * cfg.sr
    assert FIRST_LOOK_ABOVE_SEGMENTS >= 2 * FIRST_LOOK_SEGMENTS
    assert not wants_first_look(0, config=cfg)
    assert not wants_first_look(30 * cfg.sr, config=cfg)  # a 30 s clip: one pass
    assert not wants_first_look(int(FIRST_LOOK_ABOVE_SEGMENTS * per_segment), config=cfg)
    assert wants_first_look(int(FIRST_LOOK_ABOVE_SEGMENTS * per_segment) + 1, config=cfg)
    assert wants_first_look(240 * cfg.sr, config=cfg)  # 4 minutes
