import threading

import numpy as np
import pytest
import torch

from genrecls.exceptions import ParameterError
from genrecls.models.cnn import CompactCNN
from genrecls.train import (
    BatchEnd,
    EpochEnd,
    TrainConfig,
    Trainer,
    TrainingDone,
    _batch_slices,
    predict_logits,
    read_training_checkpoint,
)

N_MELS, FRAMES, N_CLASSES = 16, 24, 4


def stripes(n, *, seed):
    """Noise with a bright horizontal stripe; the class is which quarter of the bands."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    X = rng.normal(0.0, 1.0, (n, N_MELS, FRAMES)).astype(np.float32)
    width = N_MELS // N_CLASSES
    for i, c in enumerate(y):
        X[i, c * width : (c + 1) * width] += 2.0
    return X, y


TRAIN = stripes(96, seed=0)
VALID = stripes(48, seed=1)
CONFIG = TrainConfig(epochs=3, batch_size=16, learning_rate=1e-2, seed=7)


def make_model(seed=0):
    torch.manual_seed(seed)
    return CompactCNN(n_mels=N_MELS, n_classes=N_CLASSES, channels=(8, 16), pools=((2, 2), (2, 2)))


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_events_in_order_and_model_learns(tmp_path):
    events = []
    model = make_model()
    result = Trainer(model, config=CONFIG, on_event=events.append, checkpoint_dir=tmp_path).fit(
        TRAIN, VALID
    )
    n_batches = 6
    expected = []
    for epoch in (1, 2, 3):
        expected += [("B", epoch, b) for b in range(1, n_batches + 1)] + [("E", epoch, None)]
    expected.append(("D", None, None))
    got = [
        ("B", e.epoch, e.batch)
        if isinstance(e, BatchEnd)
        else ("E", e.epoch, None)
        if isinstance(e, EpochEnd)
        else ("D", None, None)
        for e in events
    ]
    assert got == expected
    assert all(e.n_batches == n_batches for e in events if isinstance(e, BatchEnd))

    history = result.history
    assert [h.epoch for h in history] == [1, 2, 3]
    assert all(h.n_epochs == 3 for h in history)
    assert history[-1].train_loss < history[0].train_loss
    assert history[-1].valid_accuracy > 0.9
    assert history[-1].confusion.shape == (N_CLASSES, N_CLASSES)
    assert history[-1].confusion.sum() == len(VALID[1])
    assert 0 <= history[-1].valid_macro_f1 <= 1
    assert history[-1].eta_s == 0.0
    assert history[0].elapsed_s <= history[-1].elapsed_s

    done = events[-1]
    assert isinstance(done, TrainingDone)
    assert done.best_epoch == result.best_epoch
    assert done.best_valid_accuracy == max(h.valid_accuracy for h in history)
    assert not done.stopped_early and not done.interrupted
    assert done.checkpoint_path == tmp_path / "best.pt"
    best = read_training_checkpoint(done.checkpoint_path)
    assert best["epoch"] == result.best_epoch
    # the model holds the best weights on return
    for k, v in model.state_dict().items():
        assert torch.equal(v, result.best_state_dict[k])
    assert not model.training
    logits = predict_logits(model, VALID[0], batch_size=7)
    assert logits.shape == (len(VALID[0]), N_CLASSES)
    assert np.mean(logits.argmax(1) == VALID[1]) == result.best.valid_accuracy


def test_stop_event_stops_after_current_batch_and_keeps_best(tmp_path):
    stop = threading.Event()
    events = []

    def on_event(e):
        events.append(e)
        if isinstance(e, BatchEnd) and e.epoch == 2 and e.batch == 2:
            stop.set()

    model = make_model()
    result = Trainer(model, config=CONFIG, on_event=on_event, checkpoint_dir=tmp_path).fit(
        TRAIN, VALID, stop=stop
    )
    last_batch = [e for e in events if isinstance(e, BatchEnd)][-1]
    assert (last_batch.epoch, last_batch.batch) == (2, 2)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1]
    assert isinstance(events[-1], TrainingDone)
    assert events[-1].interrupted and not events[-1].stopped_early
    assert result.interrupted
    assert result.best_epoch == 1
    assert read_training_checkpoint(tmp_path / "best.pt")["epoch"] == 1
    assert read_training_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, result.best_state_dict[k])


def test_resume_continues_to_same_result(tmp_path):
    # uninterrupted reference run
    ref_model = make_model()
    ref = Trainer(ref_model, config=CONFIG, checkpoint_dir=tmp_path / "ref").fit(TRAIN, VALID)

    stop = threading.Event()

    def stopper(e):
        if isinstance(e, BatchEnd) and e.epoch == 2 and e.batch == 3:
            stop.set()

    run_dir = tmp_path / "run"
    Trainer(make_model(), config=CONFIG, on_event=stopper, checkpoint_dir=run_dir).fit(
        TRAIN, VALID, stop=stop
    )
    events = []
    model = make_model(seed=99)  # different init: everything must come from last.pt
    result = Trainer(model, config=CONFIG, on_event=events.append, checkpoint_dir=run_dir).fit(
        TRAIN, VALID, resume=True
    )
    first = events[0]
    assert isinstance(first, BatchEnd) and (first.epoch, first.batch) == (2, 1)
    assert [h.epoch for h in result.history] == [1, 2, 3]
    assert all(h.n_epochs == 3 for h in result.history)
    for a, b in zip(result.history, ref.history, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)
        assert a.valid_accuracy == b.valid_accuracy
    assert result.best_epoch == ref.best_epoch
    for k, v in ref_model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=1e-4, atol=1e-5)

    # resuming a finished run does nothing but report
    events.clear()
    again = Trainer(make_model(), config=CONFIG, on_event=events.append, checkpoint_dir=run_dir)
    again_result = again.fit(TRAIN, VALID, resume=True)
    assert len(events) == 1 and isinstance(events[0], TrainingDone)
    assert len(again_result.history) == 3


def test_resume_refuses_other_config(tmp_path):
    Trainer(make_model(), config=TrainConfig(epochs=1, batch_size=32), checkpoint_dir=tmp_path).fit(
        TRAIN
    )
    other = TrainConfig(epochs=2, batch_size=32)
    with pytest.raises(ParameterError, match="different TrainConfig"):
        Trainer(make_model(), config=other, checkpoint_dir=tmp_path).fit(TRAIN, resume=True)


class ConstantNet(torch.nn.Module):
    """Same output whatever it learns: validation never improves after epoch 1."""

    n_classes = N_CLASSES

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        logits = torch.zeros(x.shape[0], N_CLASSES) + 0.0 * self.w
        return {"logits": logits, "embedding": logits}


def test_early_stopping():
    events = []
    config = TrainConfig(epochs=10, batch_size=32, patience=2)
    result = Trainer(ConstantNet(), config=config, on_event=events.append).fit(TRAIN, VALID)
    assert [h.epoch for h in result.history] == [1, 2, 3]
    assert [h.is_best for h in result.history] == [True, False, False]
    assert result.stopped_early and events[-1].stopped_early
    assert result.best_epoch == 1
    assert events[-1].checkpoint_path is None


def test_without_validation_last_epoch_is_best():
    result = Trainer(make_model(), config=TrainConfig(epochs=2, batch_size=48)).fit(TRAIN)
    assert [h.is_best for h in result.history] == [True, True]
    assert result.best_epoch == 2
    assert result.history[0].valid_accuracy is None and result.history[0].confusion is None


def test_batch_transform_and_augmentation_are_applied():
    seen = []

    def transform(x, targets, rng):
        assert isinstance(rng, np.random.Generator)
        seen.append((tuple(x.shape), targets.sum(dim=1), targets.max(dim=1).values))
        return x * 1.0, targets

    config = TrainConfig(epochs=1, batch_size=32, spec_augment=True, mixup_alpha=0.4)
    Trainer(make_model(), config=config, batch_transform=transform).fit(TRAIN)
    assert len(seen) == 3
    for shape, sums, _ in seen:
        assert shape == (32, N_MELS, FRAMES)
        torch.testing.assert_close(sums, torch.ones_like(sums))
    # mixup ran before the custom transform: targets are soft, not one-hot
    assert all((top < 1).any() for _, _, top in seen)


def test_same_seed_same_run():
    a = Trainer(make_model(), config=TrainConfig(epochs=1, batch_size=32)).fit(TRAIN, VALID)
    b = Trainer(make_model(), config=TrainConfig(epochs=1, batch_size=32)).fit(TRAIN, VALID)
    assert a.history[0].train_loss == b.history[0].train_loss


@pytest.mark.parametrize(
    ("n", "batch_size", "sizes"),
    [(10, 4, [4, 4, 2]), (9, 4, [4, 5]), (8, 4, [4, 4]), (1, 4, [1]), (5, 8, [5])],
)
def test_batch_slices_never_leave_a_single_example(n, batch_size, sizes):
    assert [s.stop - s.start for s in _batch_slices(n, batch_size)] == sizes


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_schedules_run(schedule):
    config = TrainConfig(epochs=1, batch_size=48, schedule=schedule)
    result = Trainer(make_model(), config=config).fit(TRAIN)
    assert np.isfinite(result.history[0].train_loss)


def test_config_round_trip():
    config = TrainConfig(epochs=5, patience=2, mixup_alpha=0.2, spec_augment=True)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ParameterError, match="unknown"):
        TrainConfig.from_dict({"epochs": 3, "momentum": 0.9})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(epochs=0), "epochs"),
        (dict(batch_size=2.5), "batch_size"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(learning_rate=float("inf")), "learning_rate"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(seed=-1), "seed"),
        (dict(label_smoothing=1.0), "label_smoothing"),
        (dict(spec_augment=1), "spec_augment"),
        (dict(mixup_alpha=-0.1), "mixup_alpha"),
        (dict(patience=0), "patience"),
        (dict(schedule="step"), "schedule"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        TrainConfig(**kwargs)


@pytest.mark.parametrize(
    ("train", "valid", "match"),
    [
        ((TRAIN[0][:, :, :, None], TRAIN[1]), None, "X must have shape"),
        ((TRAIN[0], TRAIN[1][:-1]), None, "y must have shape"),
        ((TRAIN[0], TRAIN[1].astype(float)), None, "integer"),
        ((TRAIN[0], TRAIN[1] + N_CLASSES), None, "outputs"),
        (TRAIN, (VALID[0][:, :8], VALID[1]), "valid segments have shape"),
        (TRAIN[0], None, "pair"),
    ],
)
def test_fit_rejects_bad_data(train, valid, match):
    with pytest.raises(ParameterError, match=match):
        Trainer(make_model(), config=CONFIG).fit(train, valid)


# --------------------------------------------------------------------- distillation


def test_soften_keeps_argmax_and_flattens():
    from genrecls.train import soften

    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32)
    np.testing.assert_allclose(soften(P, temperature=1.0), P, atol=1e-6)
    Q = soften(P, temperature=4.0)
    np.testing.assert_allclose(Q.sum(axis=1), 1.0, atol=1e-6)
    assert (Q.argmax(1) == P.argmax(1)).all()
    assert (Q.max(1) < P.max(1)).all()
    with pytest.raises(ParameterError, match="temperature"):
        soften(P, temperature=0.0)


def test_distillation_follows_the_teacher_not_the_labels():
    """With distill_weight=1 the student learns the teacher's (permuted) classes."""
    X, y = TRAIN
    teacher_class = (y + 1) % N_CLASSES
    P = np.full((len(y), N_CLASSES), 0.02, np.float32)
    P[np.arange(len(y)), teacher_class] = 1.0 - 0.02 * (N_CLASSES - 1)
    cfg = TrainConfig(
        epochs=6,
        batch_size=16,
        learning_rate=1e-2,
        seed=7,
        distill_weight=1.0,
        distill_temperature=2.0,
    )
    trainer = Trainer(make_model(), config=cfg)
    trainer.fit((X, y, P))
    pred = predict_logits(trainer.model, VALID[0]).argmax(1)
    assert np.mean(pred == (VALID[1] + 1) % N_CLASSES) > 0.8


def test_distillation_weight_zero_is_plain_training():
    """Teacher targets with weight 0 (and mixup on) train exactly like hard labels alone."""
    X, y = TRAIN
    P = np.full((len(y), N_CLASSES), 1.0 / N_CLASSES, np.float32)
    cfg = TrainConfig(epochs=2, batch_size=16, seed=3, mixup_alpha=0.4, distill_weight=0.0)
    a = Trainer(make_model(), config=cfg)
    a.fit((X, y))
    b = Trainer(make_model(), config=cfg)
    b.fit((X, y, P))
    sb = b.model.state_dict()
    for k, va in a.model.state_dict().items():
        vb = sb[k]
        torch.testing.assert_close(va, vb, msg=k)


@pytest.mark.parametrize(
    ("P", "match"),
    [
        (np.ones((96, 3), np.float32) / 3, "classes"),
        (np.ones((95, N_CLASSES), np.float32) / N_CLASSES, "shape"),
        (np.ones((96, N_CLASSES), np.float32), "distributions"),
        (np.full((96, N_CLASSES), np.nan, np.float32), "finite"),
    ],
)
def test_fit_rejects_bad_teacher_probabilities(P, match):
    with pytest.raises(ParameterError, match=match):
        Trainer(make_model(), config=CONFIG).fit((*TRAIN, P))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"distill_temperature": 0.0}, "distill_temperature"), ({"distill_weight": 1.5}, "weight")],
)
def test_distill_config_validation(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        TrainConfig(**kwargs)
