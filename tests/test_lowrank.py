"""Low-rank musicnn front-end and the fused frequency-max path: same numbers, less work."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from genrecls.checkpoint import load_model, save_model
from genrecls.compress import compress_musicnn_classifier
from genrecls.config import GENRES
from genrecls.exceptions import ParameterError
from genrecls.features import FeatureConfig
from genrecls.model_store import bundled_model_path
from genrecls.models.lowrank import LowRankConv2d, factorize_conv
from genrecls.models.musicnn_transfer import MusicnnClassifier
from genrecls.saliency import grad_cam


def _music_like(n: int, *, seed: int = 0) -> np.ndarray:
    """Smooth positive log-mel-like segments [n, 96, 187] (harmonic stripes + onsets)."""
    rng = np.random.default_rng(seed)
    t = np.arange(187)[None, :]
    f = np.arange(96)[:, None]
    out = []
    for _ in range(n):
        base = rng.uniform(0.5, 2.0) * np.exp(-f / rng.uniform(20, 60))
        stripes = sum(
            rng.uniform(0.5, 1.5) * np.exp(-0.5 * ((f - rng.uniform(5, 90)) / 2.0) ** 2)
            for _ in range(4)
        )
        beats = (np.sin(2 * np.pi * t / rng.uniform(8, 30)) > 0.8) * rng.uniform(0.2, 1.0)
        out.append(base + stripes * (1 + 0.3 * np.sin(t / 9.0)) + beats * (f < 30))
    return np.stack(out).astype(np.float32)


def test_factorize_conv_is_exact_on_a_low_rank_kernel():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 32, kernel_size=(5, 7))
    with torch.no_grad():  # make the 32 filters span only 6 directions
        conv.weight.copy_((torch.randn(32, 6) @ torch.randn(6, 35)).view(32, 1, 5, 7))
    x = torch.randn(3, 1, 40, 30)
    low = factorize_conv(conv, x, rank=6)
    assert isinstance(low, LowRankConv2d) and low.rank == 6
    assert low.explained == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        assert torch.allclose(low(x), conv(x), atol=1e-4)


def test_factorize_conv_explains_more_with_more_rank():
    torch.manual_seed(1)
    conv = nn.Conv2d(1, 24, kernel_size=(3, 9))
    x = torch.randn(2, 1, 30, 40)
    explained = [factorize_conv(conv, x, rank=r).explained for r in (1, 4, 12, 24)]
    assert all(0 <= e <= 1 + 1e-9 for e in explained)
    assert explained == sorted(explained) and explained[-1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "bad", [nn.Conv2d(2, 4, 3), nn.Conv2d(1, 4, 3, stride=2), nn.Conv2d(1, 4, 3, padding=1)]
)
def test_factorize_conv_rejects_other_convolutions(bad):
    with pytest.raises(ParameterError):
        factorize_conv(bad, torch.randn(1, bad.in_channels, 10, 10), rank=2)


def test_low_rank_conv_checks_rank():
    with pytest.raises(ParameterError):
        LowRankConv2d(out_channels=4, kernel_size=(3, 3), rank=5)


def _random_bn_model(ranks: tuple[int | None, int | None], *, seed: int = 0):
    torch.manual_seed(seed)
    model = MusicnnClassifier(n_classes=10, timbral_rank=ranks[0], temporal_rank=ranks[1]).eval()
    for m in model.modules():  # non-trivial BN statistics, negative scales included
        if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            with torch.no_grad():
                m.weight.uniform_(-1.5, 1.5)
    with torch.no_grad():  # a head whose classes differ, so the maps are not all zero
        model.head.weight.normal_(0, 0.05)
    return model


@pytest.mark.parametrize("ranks", [(None, None), (12, 8)])
def test_fused_frontend_off_runs_the_plain_layers(ranks, monkeypatch):
    """``fused_frontend = False``: the reference path (no fused max), the same logits."""
    import genrecls.models.musicnn as musicnn_module

    calls = []
    fused_max = musicnn_module._frequency_max
    monkeypatch.setattr(
        musicnn_module, "_frequency_max", lambda *a: calls.append(1) or fused_max(*a)
    )
    model = _random_bn_model(ranks)
    x = torch.from_numpy(_music_like(4))
    with torch.inference_mode():
        fused = model(x)["logits"]
        assert len(calls) == 5  # one per front-end branch
        model.backbone.fused_frontend = False
        plain = model(x)["logits"]
    assert len(calls) == 5  # not called again
    assert torch.allclose(fused, plain, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("ranks", [(None, None), (12, 8)])
def test_fused_frequency_max_matches_the_plain_path(ranks):
    """inference_mode takes the fused path; with autograd on, the plain one; same logits."""
    model = _random_bn_model(ranks)
    x = torch.from_numpy(_music_like(6))
    plain = model(x)["logits"].detach()
    with torch.inference_mode():
        fused = model(x)["logits"]
    assert torch.allclose(fused, plain, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("kind", ["gradcam", "layercam"])
@pytest.mark.parametrize("ranks", [(None, None), (12, 8)])
@pytest.mark.parametrize("layer", ["timbral_f74", "timbral_f77", "midend3"])
def test_gradcam_pass_equals_grad_cam_through_hooks(ranks, layer, kind):
    """musicnn's cheap Grad-CAM pass (fused front-end, 1-D backward) = the hooked one."""
    model = _random_bn_model(ranks)
    x = _music_like(6, seed=3)
    targets = list(range(6))  # one class per segment: some maps are non-empty
    hooked = grad_cam(model, x, layer=layer, target=targets, kind=kind, method="hooks")
    fast = grad_cam(model, x, layer=layer, target=targets, kind=kind, method="auto")
    np.testing.assert_allclose(fast.logits, hooked.logits, atol=1e-3, rtol=1e-4)
    assert hooked.maps.max() > 0  # the comparison is not between empty maps
    np.testing.assert_allclose(fast.maps, hooked.maps, atol=1e-4 * hooked.maps.max(), rtol=1e-3)
    if kind == "layercam":  # a different map from Grad-CAM's
        gradcam = grad_cam(model, x, layer=layer, target=targets, kind="gradcam")
        assert not np.allclose(gradcam.maps, fast.maps)


def test_a_hooked_branch_still_gets_its_2d_map():
    model = MusicnnClassifier(n_classes=10, timbral_rank=8, temporal_rank=4).eval()
    seen = []
    handle = model.backbone.timbral_f77.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.inference_mode():
        model(torch.from_numpy(_music_like(2)))
    handle.remove()
    assert seen == [torch.Size([2, 204, 187, 30])]


def test_low_rank_model_saves_and_loads(tmp_path):
    model = MusicnnClassifier(n_classes=10, timbral_rank=8, temporal_rank=4).eval()
    path = save_model(
        tmp_path / "fast.pt",
        model=model,
        architecture="musicnn_transfer",
        arch_kwargs={"n_classes": 10, "feature": "pooled", "timbral_rank": 8, "temporal_rank": 4},
        feature_config=FeatureConfig(),
        labels=GENRES,
    )
    loaded = load_model(path)
    x = torch.from_numpy(_music_like(2))
    with torch.inference_mode():
        assert torch.allclose(loaded.model(x)["logits"], model(x)["logits"])
    assert isinstance(loaded.model.backbone.timbral_f74.conv, LowRankConv2d)


def test_compressing_the_bundled_model_keeps_its_verdicts():
    path = bundled_model_path()
    if not path.is_file():
        pytest.skip(f"bundled model {path} missing")
    teacher = load_model(path).model.eval()
    fit, check = _music_like(12, seed=1), _music_like(8, seed=2)
    fast, explained = compress_musicnn_classifier(
        teacher, fit, timbral_rank=24, temporal_rank=16, max_positions=20_000
    )
    assert set(explained) == {
        "timbral_f74",
        "timbral_f77",
        "temporal_s1",
        "temporal_s2",
        "temporal_s3",
    }
    assert min(explained.values()) > 0.99
    with torch.inference_mode():
        p_teacher = torch.softmax(teacher(torch.from_numpy(check))["logits"], 1)
        p_fast = torch.softmax(fast(torch.from_numpy(check))["logits"], 1)
    assert (p_teacher.argmax(1) == p_fast.argmax(1)).all()
    assert (p_teacher - p_fast).abs().max() < 0.05
    # the original is untouched
    assert isinstance(teacher.backbone.timbral_f74.conv, nn.Conv2d)
