"""Training figures: live curves and the confusion heatmap."""

import numpy as np
import pytest

from genrecls import plots
from genrecls.exceptions import ParameterError


@pytest.mark.parametrize("metric", ["loss", "accuracy"])
def test_training_curve_has_batches_epochs_and_validation(metric):
    batch_x = np.arange(1, 7) / 3  # 3 batches per epoch, 2 epochs
    fig = plots.training_curve_figure(
        batch_x,
        np.linspace(1.0, 0.5, 6),
        epoch_x=np.array([1, 2]),
        train_values=np.array([0.9, 0.6]),
        valid_values=np.array([0.8, 0.7]),
        metric=metric,
        n_epochs=10,
    )
    assert [t.name for t in fig.data] == ["train (each batch)", "train (epoch)", "validation"]
    assert fig.layout.xaxis.title.text == "Epoch"
    assert tuple(fig.layout.xaxis.range) == (0, 10)  # the curve grows into the planned run
    if metric == "accuracy":
        assert tuple(fig.layout.yaxis.range) == (0, 1.02)
    np.testing.assert_allclose(fig.data[0].x, batch_x)


def test_training_curve_without_validation():
    fig = plots.training_curve_figure(
        np.array([0.5, 1.0]),
        np.array([1.0, 0.8]),
        epoch_x=np.array([1]),
        train_values=np.array([0.9]),
    )
    assert len(fig.data) == 2


def test_confusion_heatmap_colours_rates_and_prints_counts():
    cm = np.array([[3, 1], [0, 0]])
    fig = plots.confusion_heatmap_figure(cm, labels=["rock", "jazz"])
    heat = fig.data[0]
    np.testing.assert_allclose(heat.z, [[0.75, 0.25], [0.0, 0.0]])  # empty row stays 0
    assert heat.text.tolist() == [[3, 1], [0, 0]]
    assert list(heat.x) == list(heat.y) == ["rock", "jazz"]
    assert fig.layout.yaxis.autorange == "reversed"  # first true class on top
    with pytest.raises(ParameterError, match="square"):
        plots.confusion_heatmap_figure(np.ones((2, 3)), labels=["a", "b"])
