"""Noisy linear imputation (Rong et al., 2022) for the deletion check."""

import numpy as np
import pytest

from genrecls.exceptions import ParameterError
from genrecls.imputation import NEIGHBOUR_WEIGHTS, noisy_linear_imputation


def test_weights_are_those_of_the_paper():
    assert sum(NEIGHBOUR_WEIGHTS.values()) == pytest.approx(1.0)
    assert {w for (dr, dc), w in NEIGHBOUR_WEIGHTS.items() if dr and dc} == {1 / 12}
    assert {w for (dr, dc), w in NEIGHBOUR_WEIGHTS.items() if not (dr and dc)} == {1 / 6}


def test_a_hole_in_a_plane_is_filled_with_the_plane():
    rows, cols = np.mgrid[0:12, 0:20]
    plane = (0.5 * rows - 0.25 * cols + 3.0).astype(np.float32)
    hole = np.zeros(plane.shape, bool)
    hole[3:9, 5:15] = True
    filled = noisy_linear_imputation(plane, hole, noise=0.0)
    np.testing.assert_allclose(filled, plane, atol=5e-3)


def test_kept_cells_are_unchanged_and_filled_cells_are_neighbour_means():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(10, 14)).astype(np.float32)
    deleted = rng.random(image.shape) < 0.3
    filled = noisy_linear_imputation(image, deleted, noise=0.0)
    np.testing.assert_array_equal(filled[~deleted], image[~deleted])
    # interior deleted cells satisfy the mean-of-neighbours equation
    for r, c in zip(*np.nonzero(deleted[1:-1, 1:-1]), strict=True):
        r, c = r + 1, c + 1
        mean = sum(w * filled[r + dr, c + dc] for (dr, dc), w in NEIGHBOUR_WEIGHTS.items())
        assert filled[r, c] == pytest.approx(mean, abs=1e-3)


def test_no_kept_neighbour_gives_the_mean_and_nothing_deleted_is_a_copy():
    image = np.arange(24, dtype=np.float32).reshape(4, 6)
    everything = noisy_linear_imputation(image, np.ones(image.shape, bool), noise=0.0)
    np.testing.assert_allclose(everything, image.mean())
    nothing = noisy_linear_imputation(image, np.zeros(image.shape, bool))
    np.testing.assert_array_equal(nothing, image)


def test_noise_scales_with_the_image_and_follows_the_generator():
    image = np.random.default_rng(1).normal(scale=4.0, size=(30, 30)).astype(np.float32)
    deleted = np.zeros(image.shape, bool)
    deleted[5:25, 5:25] = True
    clean = noisy_linear_imputation(image, deleted, noise=0.0)
    a = noisy_linear_imputation(image, deleted, noise=0.1, rng=np.random.default_rng(7))
    b = noisy_linear_imputation(image, deleted, noise=0.1, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert np.std(a[deleted] - clean[deleted]) == pytest.approx(0.1 * image.std(), rel=0.15)


@pytest.mark.parametrize(
    ("image", "deleted", "noise", "match"),
    [
        (np.zeros((3, 3)), np.zeros((3, 4), bool), 0.0, "shape"),
        (np.zeros(9), np.zeros(9, bool), 0.0, "2-D"),
        (np.full((3, 3), np.nan), np.ones((3, 3), bool), 0.0, "finite"),
        (np.zeros((3, 3)), np.ones((3, 3), bool), -1.0, "noise"),
    ],
)
def test_bad_arguments(image, deleted, noise, match):
    with pytest.raises(ParameterError, match=match):
        noisy_linear_imputation(image, deleted, noise=noise)
