"""Pruning musicnn to a few front-end branches (genrecls.prune) and the pruned network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrecls.checkpoint import load_model, save_model
from genrecls.config import GENRES, bundled_models_dir
from genrecls.exceptions import ParameterError
from genrecls.features import FeatureConfig
from genrecls.models.cnn import count_macs
from genrecls.models.musicnn import Musicnn
from genrecls.models.musicnn_transfer import MusicnnClassifier
from genrecls.prune import (
    CANDIDATES,
    LITE_MODEL_FILE,
    Candidate,
    distill_midend,
    frontend_outputs,
    prune_classifier,
    rank_channels,
    refit_first_layer,
)
from genrecls.saliency import grad_cam
from tests.test_lowrank import _music_like, _random_bn_model

LITE = ("timbral_f74", "timbral_f77")


def test_a_network_with_fewer_branches_has_fewer_features():
    net = Musicnn(branches=["timbral_f77", "timbral_f74"], timbral_filters=16).eval()
    assert net.branches == LITE  # kept in musicnn's order
    assert not hasattr(net, "temporal_s1")
    assert net.pooled_features == 2 * (2 * 16 + 3 * 64)
    with torch.inference_mode():
        out = net(torch.from_numpy(_music_like(2)).transpose(1, 2))
    assert out["pooled"].shape == (2, net.pooled_features)


@pytest.mark.parametrize("branches", [[], ["timbral_f99"], ["timbral_f77", "timbral_f77"]])
def test_unknown_or_repeated_branches_are_refused(branches):
    with pytest.raises(ParameterError):
        Musicnn(branches=branches)


def test_refit_reproduces_the_first_layer_when_every_channel_is_kept():
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(12, 5, kernel_size=7, padding=3)
    frontend = torch.randn(20, 12, 40)
    weight, bias = refit_first_layer(conv, frontend, np.arange(12), ridge=0.0)
    assert torch.allclose(weight, conv.weight, atol=1e-4)
    assert torch.allclose(bias, conv.bias, atol=1e-4)


def test_refit_absorbs_a_dropped_channel_that_copies_a_kept_one():
    torch.manual_seed(1)
    conv = torch.nn.Conv1d(4, 3, kernel_size=7, padding=3)
    frontend = torch.randn(10, 4, 50)
    frontend[:, 3] = 2 * frontend[:, 1] - frontend[:, 0]  # channel 3 carries nothing new
    weight, bias = refit_first_layer(conv, frontend, np.array([0, 1, 2]), ridge=0.0)
    x = frontend.double()
    with torch.no_grad():
        want = conv.double()(x)
        got = torch.nn.functional.conv1d(x[:, :3], weight.double(), bias.double(), padding=3)
    assert torch.allclose(got, want, atol=1e-6)


def test_rank_channels_prefers_channels_that_move_the_output():
    weight = torch.ones(2, 3, 7)
    weight[:, 2] = 0  # channel 2 is ignored by the layer
    frontend = torch.randn(8, 3, 30)
    frontend[:, 0] *= 10  # channel 0 varies most
    importance = rank_channels(weight, frontend)
    assert importance.argmax() == 0 and importance[2] == 0


def _fitted_pruning(candidate: Candidate):
    model = _random_bn_model((12, 8))
    X = _music_like(24, seed=2)
    frontend = frontend_outputs(model, X)
    pruned, keep = prune_classifier(model, frontend, candidate)
    return model, pruned, keep, X


def test_keeping_everything_gives_the_same_network():
    model, pruned, keep, X = _fitted_pruning(Candidate(Musicnn.FRONTEND, 204))
    assert len(keep) == 561
    x = torch.from_numpy(X[:4])
    with torch.inference_mode():
        a, b = model.backbone_features(x), pruned.backbone_features(x)
    assert torch.allclose(a, b, atol=2e-2 * float(a.abs().max()))


def test_a_pruned_network_keeps_the_chosen_channels_weights():
    model, pruned, keep, _ = _fitted_pruning(Candidate(LITE, 48))
    assert pruned.backbone.branches == LITE
    assert len(keep) == 96 and np.all(np.diff(keep) > 0)
    f74 = keep[keep < 204]
    src, dst = model.backbone.timbral_f74, pruned.backbone.timbral_f74
    assert torch.equal(dst.conv.mix.weight, src.conv.mix.weight[torch.from_numpy(f74)])
    assert torch.equal(dst.conv.basis.weight, src.conv.basis.weight)
    assert torch.equal(dst.bn.running_var, src.bn.running_var[torch.from_numpy(f74)])
    assert pruned.backbone.midend1.conv.weight.shape == (64, 96, 7)


@pytest.mark.parametrize("layer", ["timbral_f74", "timbral_f77", "midend3"])
def test_gradcam_pass_of_a_pruned_network_equals_the_hooked_one(layer):
    _, pruned, _, X = _fitted_pruning(Candidate(LITE, 48))
    with torch.no_grad():
        pruned.head.weight.normal_(0, 0.05)
    assert set(pruned.gradcam_layers()) == {*LITE, "midend3"}
    assert pruned.default_gradcam_layer() == "timbral_f77"
    targets = list(range(4))
    hooked = grad_cam(pruned, X[:4], layer=layer, target=targets, method="hooks")
    fast = grad_cam(pruned, X[:4], layer=layer, target=targets, method="auto")
    assert hooked.maps.max() > 0
    np.testing.assert_allclose(fast.maps, hooked.maps, atol=1e-4 * hooked.maps.max(), rtol=1e-3)


def test_a_pruned_network_saves_and_loads(tmp_path):
    _, pruned, _, X = _fitted_pruning(Candidate(LITE, 48))
    kwargs = {"n_classes": 10, "feature": "pooled", "timbral_rank": 12, "temporal_rank": 8}
    kwargs.update(branches=list(LITE), timbral_filters=48)
    path = save_model(
        tmp_path / "lite.pt",
        model=pruned,
        architecture="musicnn_transfer",
        arch_kwargs=kwargs,
        feature_config=FeatureConfig(),
        labels=GENRES,
    )
    loaded = load_model(path)
    x = torch.from_numpy(X[:2])
    with torch.inference_mode():
        assert torch.allclose(loaded.model(x)["logits"], pruned(x)["logits"])


def test_mid_end_distillation_moves_the_features_towards_the_teacher():
    model, pruned, _, X = _fitted_pruning(Candidate(("timbral_f77",), 16))
    with torch.inference_mode():
        teacher = model.backbone(torch.from_numpy(X).transpose(1, 2))["pooled"][:, -384:]
    teacher = teacher.numpy()
    frontend = frontend_outputs(pruned, X)

    def distance() -> float:
        with torch.inference_mode():
            mine = pruned.backbone(torch.from_numpy(X).transpose(1, 2))["pooled"][:, -384:]
        return float(((mine.numpy() - teacher) ** 2).mean())

    before = distance()
    losses = distill_midend(pruned, frontend, teacher, epochs=6, learning_rate=1e-4, batch_size=8)
    assert losses[-1] < losses[0]
    assert distance() < before
    assert not pruned.training
    assert not any(p.requires_grad for p in pruned.backbone.parameters())  # still frozen


def test_mid_end_distillation_checks_the_target_shape():
    _, pruned, _, X = _fitted_pruning(Candidate(("timbral_f77",), 16))
    with pytest.raises(ParameterError):
        distill_midend(pruned, frontend_outputs(pruned, X), np.zeros((len(X), 10)))


def test_a_timbral_only_source_without_the_branch_is_refused():
    model = MusicnnClassifier(branches=["timbral_f77"], timbral_rank=4).eval()
    frontend = frontend_outputs(model, _music_like(2))
    with pytest.raises(ParameterError):
        prune_classifier(model, frontend, Candidate(LITE, 16))


def test_candidates_are_listed_cheapest_first():
    seg = torch.zeros(1, 96, 187)
    macs = [
        count_macs(
            MusicnnClassifier(
                branches=c.branches, timbral_filters=c.timbral_filters, timbral_rank=24
            ).eval(),
            seg,
        )
        for c in CANDIDATES
    ]
    assert macs == sorted(macs)


def test_the_bundled_lite_model_is_smaller_and_agrees_with_the_fast_one():
    lite_path = bundled_models_dir() / LITE_MODEL_FILE
    fast_path = bundled_models_dir() / "genre_model_fast.pt"
    if not lite_path.is_file() or not fast_path.is_file():
        pytest.skip("models/genre_model_lite.pt not built (python -m genrecls prune)")
    lite, fast = load_model(lite_path), load_model(fast_path)
    seg = torch.zeros(1, 96, 187)
    assert count_macs(lite.model, seg) * 2 < count_macs(fast.model, seg)
    X = torch.from_numpy(_music_like(8, seed=5))
    with torch.inference_mode():
        a = fast.model(X)["logits"].argmax(1)
        b = lite.model(X)["logits"].argmax(1)
    assert (a == b).float().mean() >= 0.5  # a sanity bound on synthetic input, not a score


def test_with_tag_prior_adds_a_prior_that_save_and_load_rebuild(tmp_path):
    """The lite model carries the teacher's prior, every tag predicted from its features."""
    from genrecls.bundle import tag_log_prior
    from genrecls.models.tag_prior import predicted_tags
    from genrecls.prune import with_tag_prior

    torch.manual_seed(0)
    kwargs = {"branches": ["timbral_f77"], "timbral_filters": 8}
    model = MusicnnClassifier(**kwargs).eval()
    d = model.backbone.pooled_features
    rng = np.random.default_rng(0)
    n_tags = len(predicted_tags(predict_msd=True))
    regression = (rng.normal(0, 0.01, (n_tags, d)), rng.normal(0, 1, n_tags))
    lite = with_tag_prior(model, weight=1.0, regression=regression)
    assert model.tag_prior is None  # the source is left alone
    x = torch.randn(2, 96, 187)
    with torch.inference_mode():
        out = lite.backbone(x.transpose(1, 2))
        want = lite.head_logits(out["pooled"]).numpy() + tag_log_prior(
            None, out["pooled"].numpy(), regression, weight=1.0
        )
        np.testing.assert_allclose(lite(x)["logits"].numpy(), want, atol=1e-4)
    path = tmp_path / "lite.pt"
    save_model(
        path,
        model=lite,
        architecture="musicnn_transfer",
        arch_kwargs={**kwargs, "tag_prior_weight": 1.0, "tag_prior_predicts_msd": True},
        feature_config=FeatureConfig(),
        labels=GENRES,
    )
    with torch.inference_mode():
        assert torch.allclose(load_model(path).model(x)["logits"], lite(x)["logits"], atol=1e-6)
