"""Pieces of the bundled-model build that run without the shared data."""

from __future__ import annotations

import numpy as np

from genrecls.bundle import cached_result, digest


def test_digest_depends_on_values_shapes_and_dtypes():
    a = np.arange(6, dtype=np.float32)
    assert digest(a, "x", 1.0) == digest(a.copy(), "x", 1.0)
    assert digest(a, "x") != digest(a.reshape(2, 3), "x")
    assert digest(a, "x") != digest(a.astype(np.float64), "x")
    assert digest(a, "x") != digest(a + 1, "x")
    assert digest(a, "x") != digest(a, "y")


def test_cached_result_computes_once_and_round_trips(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"mean": {"top1": 0.5}, "n": 3, "logits": np.eye(3)}

    first = cached_result(tmp_path, "k", compute)
    second = cached_result(tmp_path, "k", compute)
    assert len(calls) == 1
    assert second["mean"] == {"top1": 0.5} and second["n"] == 3
    np.testing.assert_array_equal(second["logits"], first["logits"])


def test_cached_result_recomputes_a_damaged_entry(tmp_path):
    cached_result(tmp_path, "k", lambda: {"a": 1})
    (tmp_path / "k.npz").write_bytes(b"garbage")
    assert cached_result(tmp_path, "k", lambda: {"a": 2}) == {"a": 2}
    assert cached_result(tmp_path, "k", lambda: {"a": 3}) == {"a": 2}


def test_probe_logits_with_two_training_classes():
    from genrecls.bundle import fit_probe, probe_logits

    rng = np.random.default_rng(0)
    F = np.concatenate([rng.normal(-2, 1, (20, 4)), rng.normal(2, 1, (20, 4))])
    y = np.array([3] * 20 + [7] * 20)
    scaler, clf = fit_probe(F, y, C=1.0)
    logits = probe_logits(scaler, clf, F, n_classes=10)
    assert logits.shape == (40, 10)
    assert (logits.argmax(1) == y).mean() > 0.9
    assert np.all(logits[:, [0, 1, 2, 4, 5, 6, 8, 9]] == -30.0)
