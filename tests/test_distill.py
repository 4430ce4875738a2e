"""Distillation helpers: teacher logits from cached features, student training, CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from genrecls.cli import build_parser
from genrecls.distill import StudentConfig, make_student, teacher_logits, train_student
from genrecls.exceptions import ModelError
from genrecls.models.musicnn_transfer import MusicnnClassifier


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_teacher_logits_from_features_equal_the_full_forward(rng):
    torch.manual_seed(0)
    teacher = MusicnnClassifier(n_classes=10).eval()
    with torch.no_grad():
        teacher.feature_mean.normal_()
        teacher.feature_scale.uniform_(0.5, 2.0)
    x = torch.from_numpy(rng.normal(1.0, 0.5, (2, 96, 187)).astype(np.float32))
    with torch.inference_mode():
        full = teacher(x)["logits"].numpy()
        pooled = teacher.backbone_features(x).numpy()
    np.testing.assert_allclose(teacher_logits(teacher, pooled), full, atol=1e-4)


def test_teacher_must_be_a_probe():
    with pytest.raises(ModelError, match="musicnn probe"):
        teacher_logits(torch.nn.Linear(3, 3), np.zeros((1, 3), np.float32))


def test_student_learns_from_teacher_targets(rng):
    n, n_classes = 64, 3
    y = rng.integers(0, n_classes, n)
    X = rng.normal(0, 1, (n, 16, 24)).astype(np.float32)
    for i, c in enumerate(y):
        X[i, c * 5 : c * 5 + 5] += 2.0
    P = np.full((n, n_classes), 0.1, np.float32)
    P[np.arange(n), y] = 0.8
    config = dataclasses.replace(
        StudentConfig(),
        channels=(4, 8),
        pools=((2, 2), (2, 2)),
        epochs=6,
        learning_rate=1e-2,
        batch_size=16,
        mixup_alpha=0.0,
    )
    model = train_student(X, y, P, config=config, n_classes=n_classes)
    assert not model.training
    with torch.inference_mode():
        pred = model(torch.from_numpy(X))["logits"].argmax(1).numpy()
    assert np.mean(pred == y) > 0.8


def test_student_config_round_trips_into_train_config():
    config = StudentConfig()
    tc = config.train_config(epochs=2)
    assert tc.epochs == 2 and tc.distill_temperature == config.temperature
    kwargs = config.arch_kwargs(n_classes=10, n_mels=96)
    model = make_student(config, n_classes=10, n_mels=96, seed=0)
    assert model.channels == tuple(kwargs["channels"])


def test_cli_has_a_distill_command():
    args = build_parser().parse_args(["distill", "--quick", "--channels", "8,16,32,64"])
    assert args.quick and args.channels == "8,16,32,64" and args.cv == 0
