"""Background training jobs: run to the end, stop, save, stay independent; leakage demo."""

import json
import threading
import time

import numpy as np
import pytest

from genrecls.builtin_data import BUILTIN_CLASSES, builtin_tracks
from genrecls.checkpoint import load_model
from genrecls.data import Track
from genrecls.exceptions import DataError, ModelError, ParameterError
from genrecls.features import FeatureConfig
from genrecls.predict import GenrePredictor
from genrecls.train import TrainConfig
from genrecls.training_job import (
    BackgroundTask,
    JobConfig,
    StopRequested,
    TrainingJob,
    data_overview,
    leakage_demo,
    prepare_segments,
)

TINY = (4, 8)
WAIT = 60


@pytest.fixture(scope="module")
def tracks(tmp_path_factory):
    """Built-in set, 4 clips of 2.5 s per class (one repeat-padded segment each)."""
    return builtin_tracks(n_per_class=4, seconds=2.5, root=tmp_path_factory.mktemp("builtin"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("segments")


@pytest.fixture
def user_models(tmp_path, monkeypatch):
    folder = tmp_path / "user_models"
    monkeypatch.setenv("GENRECLS_USER_MODELS", str(folder))
    return folder


def _config(**changes) -> JobConfig:
    train = TrainConfig(epochs=changes.pop("epochs", 2), batch_size=4, learning_rate=3e-3)
    return JobConfig(train=train, cnn_channels=TINY, valid_fraction=0.25, **changes)


def _job(tracks, cache, tmp_path, **changes) -> TrainingJob:
    return TrainingJob(
        tracks,
        config=_config(**changes),
        labels=BUILTIN_CLASSES,
        data_name="built-in test set",
        cache_dir=cache,
        work_dir=tmp_path / f"work{time.monotonic_ns()}",
    )


def test_job_runs_to_done_and_records_every_event(tracks, cache, tmp_path):
    job = _job(tracks, cache, tmp_path).start()
    assert job.wait(WAIT)
    snap = job.snapshot()
    assert snap.status == "done", snap.error
    assert not snap.running and snap.can_save and not snap.stopped
    assert snap.labels == BUILTIN_CLASSES
    # 12 training clips x 1 segment, batches of 4 -> 3 batches per epoch, 2 epochs.
    assert list(snap.epochs["epoch"]) == [1, 2]
    assert len(snap.batches) == 2 * 3
    assert list(snap.batches["step"]) == list(range(1, 7))
    assert snap.batches["epoch_progress"].iloc[-1] == pytest.approx(2.0)
    assert snap.confusion.shape == (4, 4) and snap.confusion.sum() == 4
    assert snap.progress == pytest.approx(1.0) and snap.eta_s == 0.0
    result = snap.result
    assert result["n_valid_clips"] == 4 and result["n_train_clips"] == 12
    assert 0.0 <= result["valid_accuracy"] <= 1.0 and result["temperature"] > 0
    assert snap.prep_done == snap.prep_total == len(tracks)


def test_snapshot_is_a_copy(tracks, cache, tmp_path):
    job = _job(tracks, cache, tmp_path, epochs=1).start()
    assert job.wait(WAIT)
    snap = job.snapshot()
    snap.epochs.loc[0, "epoch"] = 99
    snap.confusion[:] = -1
    again = job.snapshot()
    assert again.epochs.loc[0, "epoch"] == 1 and again.confusion.min() >= 0


def test_stop_keeps_the_best_completed_epoch(tracks, cache, tmp_path, user_models):
    job = _job(tracks, cache, tmp_path, epochs=200).start()
    deadline = time.monotonic() + WAIT
    while len(job.snapshot().epochs) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    job.stop()
    assert job.snapshot().status in ("stopping", "done")
    assert job.wait(WAIT)
    snap = job.snapshot()
    assert snap.status == "done" and snap.stopped
    assert 2 <= len(snap.epochs) < 200
    assert snap.can_save and snap.result["interrupted"]
    assert snap.result["best_epoch"] in set(snap.epochs["epoch"])
    assert "Stopped" in snap.message
    job.save("stopped-model")


def test_stop_before_training_leaves_no_model(tracks, cache, tmp_path):
    job = _job(tracks, cache, tmp_path)
    job.stop()  # before start: the preparation sees the stop at once
    job.start()
    assert job.wait(WAIT)
    snap = job.snapshot()
    assert snap.status == "done" and not snap.can_save
    assert "no model" in snap.message
    with pytest.raises(ModelError, match="no trained model"):
        job.save("nothing")


def test_save_writes_a_loadable_model_and_card(tracks, cache, tmp_path, user_models):
    job = _job(tracks, cache, tmp_path)
    with pytest.raises(ModelError, match="no trained model"):
        job.save("too-early")
    job.start()
    assert job.wait(WAIT)
    path = job.save("my-drums")
    assert path == (user_models / "my-drums.pt").resolve()
    loaded = load_model(path)
    assert loaded.labels == BUILTIN_CLASSES and loaded.architecture == "compact_cnn"
    assert loaded.metadata["trained_on"] == "built-in test set"
    card = json.loads((user_models / "my-drums.card.json").read_text())
    assert (
        card["validation"]["summary"]["valid_accuracy"] == job.snapshot().result["valid_accuracy"]
    )
    assert np.asarray(card["validation"]["confusion"]).shape == (4, 4)
    assert card["settings"]["train"]["epochs"] == 2
    assert [c["class"] for c in card["data"]["classes"]] == sorted(BUILTIN_CLASSES)
    assert (user_models / "my-drums.confusion.png").stat().st_size > 1000
    assert job.snapshot().saved_path == path

    _, prediction = GenrePredictor.from_file(path).predict_source(tracks[0].path)
    assert prediction.labels == BUILTIN_CLASSES

    with pytest.raises(ParameterError, match="exists already"):
        job.save("my-drums")
    assert job.save("my-drums", overwrite=True) == path
    for bad in ("../escape", "a/b", "", "con", ".hidden"):
        with pytest.raises(ParameterError):
            job.save(bad)


def test_two_jobs_run_at_once_without_sharing_anything(tracks, cache, tmp_path, user_models):
    a = _job(tracks, cache, tmp_path, epochs=1).start()
    b = _job(tracks, cache, tmp_path, epochs=3, split_seed=1).start()
    assert a.wait(WAIT) and b.wait(WAIT)
    sa, sb = a.snapshot(), b.snapshot()
    assert sa.status == sb.status == "done"
    assert len(sa.epochs) == 1 and len(sb.epochs) == 3
    assert a.work_dir != b.work_dir and a.id != b.id
    a.save("job-a")
    assert b.snapshot().saved_path is None
    b.stop()  # stopping a finished job changes nothing for the other one
    assert a.snapshot().status == "done"


def test_kfold_trains_one_model_per_fold(tracks, cache, tmp_path):
    job = _job(tracks, cache, tmp_path, epochs=1, validation="kfold", n_folds=2).start()
    assert job.wait(WAIT)
    snap = job.snapshot()
    assert snap.status == "done", snap.error
    assert snap.n_folds == 2 and list(snap.epochs["fold"]) == [1, 2]
    result = snap.result
    assert len(result["fold_valid_accuracy"]) == 2
    assert result["mean_valid_accuracy"] == pytest.approx(np.mean(result["fold_valid_accuracy"]))
    # Every validation segment is seen once over the folds.
    assert np.asarray(result["pooled_confusion"]).sum() == len(tracks)


def test_augmented_variants_only_train(tracks, cache, tmp_path):
    job = _job(tracks, cache, tmp_path, epochs=1, pitch_steps=(2.0,)).start()
    assert job.wait(WAIT)
    result = job.snapshot().result
    assert result["n_augmented_segments"] == len(tracks)
    assert result["n_train_segments"] == 2 * 12 and result["n_valid_segments"] == 4


def test_frozen_musicnn_trains_its_head_and_saves(tracks, cache, tmp_path, user_models):
    job = _job(tracks, cache, tmp_path, architecture="musicnn_frozen", epochs=3).start()
    assert job.wait(WAIT * 2)
    snap = job.snapshot()
    assert snap.status == "done", snap.error
    path = job.save("musicnn-head")
    loaded = load_model(path)
    assert loaded.architecture == "musicnn_transfer"
    assert loaded.arch_kwargs["freeze_backbone"] is True
    _, prediction = GenrePredictor.from_file(path).predict_source(tracks[0].path)
    assert prediction.probabilities.shape == (4,)


def test_failure_is_reported_not_raised(tmp_path, cache):
    one_song = [
        Track(t.path, t.label, f"song-{t.label}", "x")
        for t in builtin_tracks(n_per_class=2, seconds=2.5, root=tmp_path / "b")
    ]
    job = _job(one_song, cache, tmp_path).start()
    assert job.wait(WAIT)
    snap = job.snapshot()
    assert snap.status == "failed"
    assert "no class has two songs" in snap.error
    assert not snap.can_save
    assert any("can never be validated" in w for w in snap.warnings)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"architecture": "resnet"}, "architecture must be one of"),
        ({"validation": "random"}, "validation must be"),
        ({"valid_fraction": 1.0}, "valid_fraction"),
        ({"n_folds": 1}, "n_folds"),
        ({"stretch_rates": (1.0,)}, "rate"),
        ({"cnn_channels": ()}, "cnn_channels"),
        ({"n_threads": 0}, "n_threads"),
        ({"architecture": "musicnn_frozen", "feature_config": FeatureConfig(n_mels=64)}, "musicnn"),
    ],
)
def test_job_config_rejects_bad_values(changes, match):
    with pytest.raises(ParameterError, match=match):
        JobConfig(**changes)


def test_frozen_backbone_refuses_spec_augment():
    with pytest.raises(ParameterError, match="SpecAugment"):
        JobConfig(architecture="musicnn_frozen", train=TrainConfig(spec_augment=True))


def test_job_refuses_test_only_and_single_class_data(tracks):
    test_only = [Track(t.path, t.label, t.group, t.source, role="test") for t in tracks]
    with pytest.raises(DataError, match="test role"):
        TrainingJob(test_only, config=JobConfig())
    with pytest.raises(DataError, match="two classes"):
        TrainingJob([t for t in tracks if t.label == "drums"], config=JobConfig())


def test_data_overview_counts_and_warns(tracks):
    table, warnings = data_overview(tracks, min_clips=5)
    assert list(table["class"]) == sorted(BUILTIN_CLASSES)
    assert set(table["clips"]) == {4} and set(table["songs"]) == {4}
    assert len(warnings) == 4 and all("fewer than 5" in w for w in warnings)
    assert data_overview(tracks, min_clips=4)[1] == []


def test_leakage_demo_compares_the_two_splits(tracks, cache):
    data = prepare_segments(tracks, labels=BUILTIN_CLASSES, config=FeatureConfig(), cache_dir=cache)
    report = leakage_demo(data, model="linear", valid_fraction=0.25)
    assert report["grouped"]["valid_songs_also_in_train"] == 0.0
    # One segment per clip here, so even the random split cannot share songs...
    assert report["random"]["valid_songs_also_in_train"] == 0.0
    assert report["random"]["n_valid"] == report["grouped"]["n_valid"] == 4
    assert report["gap"] == pytest.approx(
        report["random"]["valid_accuracy"] - report["grouped"]["valid_accuracy"]
    )
    assert report["chance"] == pytest.approx(0.25)
    with pytest.raises(ParameterError, match="model must be"):
        leakage_demo(data, model="svm")


def test_leakage_demo_random_split_shares_songs(tmp_path, cache):
    tracks = builtin_tracks(n_per_class=3, seconds=6.0, root=tmp_path)
    data = prepare_segments(tracks, labels=BUILTIN_CLASSES, config=FeatureConfig(), cache_dir=cache)
    messages = []
    report = leakage_demo(data, model="cnn", epochs=1, on_progress=messages.append)
    assert report["random"]["valid_songs_also_in_train"] > 0.5
    assert report["grouped"]["valid_songs_also_in_train"] == 0.0
    assert any("random split" in m for m in messages)


def test_prepare_segments_reports_progress_and_stops(tracks, cache):
    seen = []
    data = prepare_segments(
        tracks,
        labels=BUILTIN_CLASSES,
        config=FeatureConfig(),
        cache_dir=cache,
        on_progress=lambda d, t: seen.append((d, t)),
        chunk=5,
    )
    assert len(data) == len(tracks)
    assert seen == [(5, 16), (10, 16), (15, 16), (16, 16)]
    stop = threading.Event()
    stop.set()
    with pytest.raises(StopRequested, match="stopped"):
        prepare_segments(tracks, labels=BUILTIN_CLASSES, config=FeatureConfig(), stop=stop)


def test_background_task_reports_result_and_errors():
    ok = BackgroundTask(lambda progress, stop: progress("half way") or 42)
    assert ok.wait(5) and ok.status == "done" and ok.result == 42
    assert ok.message == "half way" and not ok.running

    def fails(progress, stop):
        raise DataError("no songs")

    bad = BackgroundTask(fails)
    assert bad.wait(5) and bad.status == "failed" and bad.error == "no songs"

    def waits(progress, stop):
        stop.wait(5)
        return stop.is_set()

    stoppable = BackgroundTask(waits)
    stoppable.stop()
    assert stoppable.wait(5) and stoppable.result is True
