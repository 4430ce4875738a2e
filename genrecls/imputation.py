"""Fill deleted cells of a spectrogram from their neighbours (noisy linear imputation).

A deletion check (:func:`genrecls.saliency.deletion_curve`) has to put *something* where
it removed a region. A constant (the clip's mean or its floor) leaves the shape of the
removed region in the input: a scatter of flat blocks that the model may react to
whatever they hide, so that deleting at random can destroy a prediction faster than
deleting the evidence. Rong et al. (2022) call this information leakage through the
mask and remove it by imputing each deleted cell as the weighted mean of its eight
neighbours (1/6 for the four direct ones, 1/12 for the diagonals), solved jointly for
all deleted cells as one sparse linear system, plus a little Gaussian noise. This
module does that for ``[n_mels, frames]`` spectrograms.

References
----------
.. [#] Rong, Y., Leemann, T., Borisov, V., Kasneci, G., & Kasneci, E. (2022). A
   consistent and efficient evaluation strategy for attribution methods (ROAD). In
   *Proc. ICML*, PMLR 162, 18770–18795. https://arxiv.org/abs/2202.00449
"""

from __future__ import annotations

import numpy as np

from genrecls.exceptions import ParameterError

__all__ = ["NEIGHBOUR_WEIGHTS", "noisy_linear_imputation"]

#: (row offset, column offset) → weight, as in Rong et al. (2022).
NEIGHBOUR_WEIGHTS: dict[tuple[int, int], float] = {
    (0, 1): 1 / 6,
    (0, -1): 1 / 6,
    (1, 0): 1 / 6,
    (-1, 0): 1 / 6,
    (1, 1): 1 / 12,
    (1, -1): 1 / 12,
    (-1, 1): 1 / 12,
    (-1, -1): 1 / 12,
}

#: Weight of the pull towards the image mean that keeps the system solvable where a
#: deleted region touches no kept cell (e.g. everything deleted): such a region becomes
#: the mean; elsewhere the effect is below 0.1 % of a neighbour's weight.
_ANCHOR = 1e-4


def noisy_linear_imputation(
    image: np.ndarray,
    deleted: np.ndarray,
    *,
    noise: float = 0.01,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Replace the ``deleted`` cells of a 2-D image by the weighted mean of their neighbours.

    Every deleted cell ``u`` satisfies ``x_u = sum_v w_v x_v / sum_v w_v`` over its
    in-bounds neighbours ``v`` (:data:`NEIGHBOUR_WEIGHTS`); kept cells keep their values.
    The deleted cells are solved for together, so a large hole is filled smoothly from
    its border. Then Gaussian noise of standard deviation ``noise × std(image)`` is added
    to the filled cells.

    Parameters
    ----------
    image : np.ndarray [shape=(n_rows, n_cols)]
        E.g. a log-mel segment (mel bands × frames).
    deleted : np.ndarray [shape=image.shape, dtype=bool]
        The cells to replace.
    noise : float >= 0
        Noise level relative to the image's standard deviation (Rong et al.: 0.01).
    rng : np.random.Generator or None
        Source of the noise; ``None`` = a fresh default generator.

    Returns
    -------
    filled : np.ndarray [shape=image.shape, dtype=float32]

    Raises
    ------
    genrecls.exceptions.ParameterError
        If the shapes differ, the image is not 2-D and finite, or ``noise < 0``.

    Examples
    --------
    A hole in a linear ramp is filled with the ramp:

    >>> ramp = np.tile(np.arange(6, dtype=np.float32), (5, 1))
    >>> hole = np.zeros(ramp.shape, bool)
    >>> hole[1:4, 2:4] = True
    >>> filled = noisy_linear_imputation(ramp, hole, noise=0.0)
    >>> bool(np.allclose(filled, ramp, atol=1e-3))
    True
    """
    image = np.asarray(image, dtype=np.float64)
    deleted = np.asarray(deleted, dtype=bool)
    if image.ndim != 2 or image.shape != deleted.shape:
        raise ParameterError(
            f"image and deleted must be 2-D of one shape, got {image.shape} and {deleted.shape}"
        )
    if not np.all(np.isfinite(image)):
        raise ParameterError("image must be finite")
    if not noise >= 0:
        raise ParameterError(f"noise must be >= 0, got {noise!r}")
    out = image.astype(np.float32)
    n_unknown = int(deleted.sum())
    if n_unknown == 0:
        return out
    if deleted.all():  # the system's solution is the mean: skip the solve
        filled = np.full(image.shape, image.mean())
        if noise > 0:
            filled += (rng or np.random.default_rng()).normal(0.0, noise * image.std(), image.shape)
        return filled.astype(np.float32)
    rows, cols = np.nonzero(deleted)
    index = np.full(image.shape, -1, dtype=np.int64)
    index[rows, cols] = np.arange(n_unknown)
    n_rows, n_cols = image.shape
    diagonal = np.full(n_unknown, _ANCHOR)
    rhs = np.full(n_unknown, _ANCHOR * image.mean())
    a_rows, a_cols, a_vals = [], [], []
    for (dr, dc), w in NEIGHBOUR_WEIGHTS.items():
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < n_rows) & (c >= 0) & (c < n_cols)
        me, r, c = np.flatnonzero(inside), r[inside], c[inside]
        diagonal[me] += w
        neighbour = index[r, c]
        unknown = neighbour >= 0
        a_rows.append(me[unknown])
        a_cols.append(neighbour[unknown])
        a_vals.append(np.full(int(unknown.sum()), -w))
        np.add.at(rhs, me[~unknown], w * image[r[~unknown], c[~unknown]])
    a_rows.append(np.arange(n_unknown))
    a_cols.append(np.arange(n_unknown))
    a_vals.append(diagonal)
    from scipy.sparse import coo_matrix  # loaded here: the classify path never imputes
    from scipy.sparse.linalg import spsolve

    system = coo_matrix(
        (np.concatenate(a_vals), (np.concatenate(a_rows), np.concatenate(a_cols))),
        shape=(n_unknown, n_unknown),
    ).tocsc()
    values = spsolve(system, rhs)
    if noise > 0:
        rng = rng or np.random.default_rng()
        values = values + rng.normal(0.0, noise * image.std(), n_unknown)
    out[rows, cols] = values
    return out
