import collections
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from genrecls import checkpoint
from genrecls.checkpoint import (
    ARCHITECTURES,
    LoadedModel,
    load_model,
    register_architecture,
    safe_model_name,
    save_model,
    user_model_path,
)
from genrecls.config import bundled_models_dir
from genrecls.exceptions import ModelError, ParameterError
from genrecls.features import FeatureConfig
from genrecls.models.cnn import CompactCNN

LABELS = ("a", "b", "c")
KWARGS = dict(n_mels=16, n_classes=3, channels=(4, 8), pools=((2, 2), (2, 2)), dropout=0.1)
CONFIG = FeatureConfig(n_mels=16, segment_frames=20, segment_hop_frames=20)


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = CompactCNN(**KWARGS)
    # move BN running stats away from their defaults so the round trip checks them
    m.train()
    m(torch.randn(8, 16, 20) * 3 + 1)
    return m.eval()


def _save(path, model_, **overrides):
    args = dict(
        model=model_,
        architecture="compact_cnn",
        arch_kwargs=KWARGS,
        feature_config=CONFIG,
        labels=LABELS,
        temperature=1.7,
        metadata={"valid_accuracy": 0.5, "note": "test", "history": [1.0, 2.0]},
    )
    args.update(overrides)
    return save_model(path, **args)


def test_round_trip_gives_identical_outputs(tmp_path, model):
    path = _save(tmp_path / "m.pt", model)
    loaded = load_model(path)
    assert isinstance(loaded, LoadedModel)
    assert loaded.architecture == "compact_cnn"
    assert loaded.labels == LABELS
    assert loaded.temperature == pytest.approx(1.7)
    assert loaded.feature_config == CONFIG
    assert loaded.metadata["note"] == "test"
    assert loaded.arch_kwargs["pools"] == ((2, 2), (2, 2))
    assert not loaded.model.training
    x = torch.randn(3, 16, 20)
    with torch.no_grad():
        assert torch.equal(model(x)["logits"], loaded.model(x)["logits"])
        assert torch.equal(model(x)["embedding"], loaded.model(x)["embedding"])


def test_file_is_plain_data_readable_weights_only(tmp_path, model):
    path = _save(tmp_path / "m.pt", model, metadata={"n": np.int64(3), "acc": np.float32(0.5)})
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "genrecls-model"
    assert payload["version"] == 1
    assert payload["metadata"] == {"n": 3, "acc": 0.5}
    assert type(payload["metadata"]["n"]) is int


def test_atomic_write_leaves_no_temp_files_and_replaces(tmp_path, model):
    path = tmp_path / "sub" / "m.pt"
    _save(path, model)
    _save(path, model, temperature=2.0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.pt"]
    assert load_model(path).temperature == 2.0


def test_failed_write_keeps_old_file_and_no_temp(tmp_path, model, monkeypatch):
    path = _save(tmp_path / "m.pt", model)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        _save(path, model, temperature=3.0)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


CALLS = []


def _record_call():
    CALLS.append(1)
    return "pwned"


class Foreign:
    def __reduce__(self):
        return (_record_call, ())


@pytest.mark.parametrize(
    ("writer", "match"),
    [
        (lambda p, good: p.write_bytes(good[: len(good) // 2]), "not a readable"),
        (lambda p, good: p.write_bytes(np.random.default_rng(0).bytes(4096)), "not a readable"),
        (lambda p, good: p.write_bytes(b""), "not a readable"),
        (lambda p, good: p.write_bytes(pickle.dumps(Foreign(), protocol=2)), "not a readable"),
        (lambda p, good: torch.save(collections.OrderedDict(a=1), p), "not a genrecls model"),
        (lambda p, good: torch.save({"format": "other", "state_dict": {}}, p), "format"),
        (lambda p, good: torch.save([1, 2, 3], p), "not a genrecls model"),
    ],
    ids=["truncated", "random", "empty", "foreign-pickle", "plain-dict", "wrong-format", "list"],
)
def test_bad_files_raise_model_error(tmp_path, model, writer, match):
    good = _save(tmp_path / "good.pt", model).read_bytes()
    bad = tmp_path / "bad.pt"
    writer(bad, good)
    with pytest.raises(ModelError, match=match):
        load_model(bad)


def test_foreign_pickle_does_not_execute(tmp_path):
    CALLS.clear()
    bad = tmp_path / "evil.pt"
    torch.save({"format": "genrecls-model", "x": Foreign()}, bad)
    with pytest.raises(ModelError, match="not a readable"):
        load_model(bad)
    assert CALLS == []


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no model file"):
        load_model(tmp_path / "nope.pt")


def _tamper(path, **changes):
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (dict(architecture="no_such_net"), "unknown architecture"),
        (dict(version=99), "version"),
        (dict(arch_kwargs={**KWARGS, "channels": (4, 16)}), "do not fit"),
        (dict(arch_kwargs={**KWARGS, "bogus": 1}), "cannot build"),
        (dict(labels=["a", "b"]), "do not fit"),
        (dict(labels=["a", "a", "b"]), "unique"),
        (dict(temperature=-1.0), "temperature"),
        (dict(feature_config={"sr": 0}), "invalid field"),
        (dict(state_dict={"x": 1}), "state_dict"),
    ],
)
def test_inconsistent_files_raise_model_error(tmp_path, model, changes, match):
    path = _save(tmp_path / "m.pt", model)
    _tamper(path, **changes)
    with pytest.raises(ModelError, match=match):
        load_model(path)


def test_missing_state_key(tmp_path, model):
    path = _save(tmp_path / "m.pt", model)
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["classifier.bias"]
    torch.save(payload, path)
    with pytest.raises(ModelError, match="do not fit"):
        load_model(path)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (dict(architecture="nope"), "unknown architecture"),
        (dict(labels=("a", "b")), "3 outputs but 2 labels"),
        (dict(labels=[]), "empty"),
        (dict(labels="abc"), "sequence of strings"),
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=float("nan")), "temperature"),
        (dict(metadata={"x": np.zeros(3)}), "metadata"),
        (dict(metadata={1: "x"}), "keys must be strings"),
        (dict(feature_config={"sr": 16000}), "FeatureConfig"),
        (dict(model="not a model"), "torch.nn.Module"),
    ],
)
def test_save_rejects_bad_arguments(tmp_path, model, overrides, match):
    with pytest.raises(ParameterError, match=match):
        _save(tmp_path / "m.pt", model, **overrides)
    assert not list(tmp_path.iterdir())


def test_register_architecture(tmp_path):
    class Tiny(torch.nn.Module):
        def __init__(self, *, n_classes=2):
            super().__init__()
            self.n_classes = n_classes
            self.lin = torch.nn.Linear(4, n_classes)

    register_architecture("tiny_test_net", Tiny)
    try:
        path = save_model(
            tmp_path / "t.pt",
            model=Tiny(),
            architecture="tiny_test_net",
            arch_kwargs={"n_classes": 2},
            feature_config=CONFIG,
            labels=["x", "y"],
        )
        assert isinstance(load_model(path).model, Tiny)
    finally:
        ARCHITECTURES.pop("tiny_test_net")
    with pytest.raises(ParameterError, match="architecture name"):
        register_architecture("Bad Name", Tiny)
    with pytest.raises(ParameterError, match="not callable"):
        register_architecture("ok_name", 3)


def test_lazy_architecture_missing_module_is_model_error(monkeypatch):
    monkeypatch.setitem(checkpoint._LAZY_ARCHITECTURES, "ghost", ("genrecls.no_such_mod", "X"))
    with pytest.raises(ModelError, match="not available"):
        checkpoint.get_architecture("ghost")


# -- names and paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../x", "/abs", "a/b", "a\\b", "", ".", "..", "x" * 65, "a.b", " a", "a b", "-rf", "con",
     "NUL", "com1", "é", "a\n", None, 3],
)  # fmt: skip
def test_bad_model_names(name):
    with pytest.raises(ParameterError):
        safe_model_name(name)


@pytest.mark.parametrize("name", ["a", "my-model_2", "X" * 64, "0abc", "rock_vs_jazz", "conv"])
def test_good_model_names(name):
    assert safe_model_name(name) == name


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    d = tmp_path / "user_models"
    monkeypatch.setenv("GENRECLS_USER_MODELS", str(d))
    return d


@pytest.mark.parametrize("name", ["a", "my-model_2", "X" * 64])
def test_user_model_path_stays_inside(user_dir, name):
    path = user_model_path(name)
    assert path.parent == user_dir.resolve()
    assert path.name == f"{name}.pt"
    assert path.is_relative_to(user_dir.resolve())


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "..", ""])
def test_user_model_path_rejects_escapes(user_dir, name):
    with pytest.raises(ParameterError):
        user_model_path(name)


def test_user_model_path_rejects_symlink_out(user_dir, tmp_path):
    user_dir.mkdir()
    outside = tmp_path / "outside.pt"
    outside.write_bytes(b"")
    (user_dir / "link.pt").symlink_to(outside)
    with pytest.raises(ParameterError, match="outside"):
        user_model_path("link")


def test_user_models_dir_inside_bundled_is_refused(monkeypatch):
    monkeypatch.setenv("GENRECLS_USER_MODELS", str(bundled_models_dir() / "sub"))
    with pytest.raises(ParameterError, match="bundled"):
        user_model_path("ok")
    monkeypatch.setenv("GENRECLS_USER_MODELS", str(bundled_models_dir()))
    with pytest.raises(ParameterError, match="bundled"):
        user_model_path("ok")


def test_save_to_user_path_round_trip(user_dir, model):
    path = _save(user_model_path("mine"), model)
    assert Path(path).parent == user_dir.resolve()
    assert load_model(path).labels == LABELS
