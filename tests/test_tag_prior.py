"""The zero-shot tag prior: torch module = numpy reference, model wiring, its validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrecls.bundle import (
    artist_disjoint_validation,
    export_probe,
    fit_probe,
    fit_tag_regression,
    probe_logits,
    tag_log_prior,
)
from genrecls.config import GENRES
from genrecls.data import SegmentDataset, Track, artist_disjoint_sides
from genrecls.exceptions import DataError, ParameterError
from genrecls.features import FeatureConfig
from genrecls.models.musicnn_transfer import MusicnnClassifier
from genrecls.models.tag_prior import (
    SCORE_FLOOR,
    ZeroShotPrior,
    neutral_unscored,
    predicted_mtt_tags,
    scoreable_genres,
)
from genrecls.pretrained import MSD_TAGS, MTT_TAGS, zero_shot_genre_scores


def _prior(in_dim: int, W: np.ndarray, b: np.ndarray, weight: float = 1.0) -> ZeroShotPrior:
    prior = ZeroShotPrior(in_dim=in_dim, weight=weight)
    with torch.no_grad():
        prior.mtt_head.weight.copy_(torch.from_numpy(W.astype(np.float32)))
        prior.mtt_head.bias.copy_(torch.from_numpy(b.astype(np.float32)))
    return prior


def test_predicted_mtt_tags_are_the_ones_the_mapping_reads():
    assert predicted_mtt_tags() == ("classical", "classic")
    assert all(t in MTT_TAGS for t in predicted_mtt_tags())


@pytest.mark.parametrize("weight", [0.5, 1.0, 2.0])
def test_module_matches_the_numpy_reference(weight):
    rng = np.random.default_rng(0)
    d = 12
    W, b = rng.normal(0, 0.4, (2, d)), rng.normal(0, 1, 2)
    pooled, tag_logits = rng.normal(size=(9, d)), rng.normal(0, 2, (9, len(MSD_TAGS)))
    with torch.no_grad():
        got = _prior(d, W, b, weight)(
            torch.from_numpy(pooled).float(), torch.from_numpy(tag_logits).float()
        ).numpy()
    want = tag_log_prior(1 / (1 + np.exp(-tag_logits)), pooled, (W, b), weight=weight)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_scores_equal_the_zero_shot_mapping_given_the_mtt_tags():
    """With the MTT logits predicted exactly, the prior is the zero-shot mapping itself."""
    rng = np.random.default_rng(1)
    msd = rng.uniform(0.01, 0.99, (6, len(MSD_TAGS)))
    mtt = rng.uniform(0.01, 0.99, (6, len(MTT_TAGS)))
    cols = [MTT_TAGS.index(t) for t in predicted_mtt_tags()]
    prior = _prior(1, np.zeros((2, 1)), np.zeros(2))
    scores = []
    for row in range(6):  # one bias per segment: W = 0, b = the exact logits
        logit = np.log(mtt[row, cols] / (1 - mtt[row, cols]))
        with torch.no_grad():
            prior.mtt_head.bias.copy_(torch.from_numpy(logit).float())
            msd_logits = torch.from_numpy(np.log(msd[row] / (1 - msd[row]))).float()[None]
            scores.append(prior.scores(torch.zeros(1, 1), msd_logits).numpy()[0])
    zero_shot = zero_shot_genre_scores(msd, mtt_probs=mtt)
    reggae = GENRES.index("reggae")
    assert np.all(zero_shot[:, reggae] == 0)  # the baseline can never say reggae ...
    scores = np.array(scores)
    np.testing.assert_allclose(scores[:, reggae], 0.1, atol=1e-6)  # ... the prior is neutral
    others = [g for g in range(10) if g != reggae]
    np.testing.assert_allclose(scores[:, others], 0.9 * zero_shot[:, others], atol=1e-5)


def test_neutral_unscored_in_numpy_and_torch():
    scoreable = np.array([True, True, False, True])
    s = np.array([[0.5, 0.25, 0.0, 0.25]])
    want = [[0.375, 0.1875, 0.25, 0.1875]]
    np.testing.assert_allclose(neutral_unscored(s, scoreable), want)
    got = neutral_unscored(torch.tensor(s), torch.tensor(scoreable))
    np.testing.assert_allclose(got.numpy(), want)
    assert list(scoreable_genres()) == [g != "reggae" for g in GENRES]


def test_a_genre_no_tag_covers_is_neither_favoured_nor_vetoed():
    prior = _prior(3, np.zeros((2, 3)), np.zeros(2), weight=2.0)
    with torch.no_grad():
        out = prior(torch.zeros(4, 3), torch.zeros(4, len(MSD_TAGS)))
    # all tags at 0.5: every genre, reggae included, gets the same share
    assert torch.allclose(out, torch.full((4, 10), 2 * np.log(0.1)), atol=1e-6)
    # a head sure of reggae keeps it against tags that point elsewhere
    with torch.no_grad():
        rock = torch.full((1, len(MSD_TAGS)), -6.0)
        rock[0, MSD_TAGS.index("rock")] = 6.0
        log_prior = prior(torch.zeros(1, 3), rock)[0]
    head = torch.zeros(10)
    head[GENRES.index("reggae")] = 8.0
    assert int((head + log_prior).argmax()) == GENRES.index("reggae")
    assert float(log_prior.min()) >= 2 * np.log(SCORE_FLOOR) - 1e-6


def test_weight_must_be_positive():
    with pytest.raises(ParameterError):
        ZeroShotPrior(in_dim=3, weight=0.0)
    with pytest.raises(ParameterError):
        MusicnnClassifier(tag_prior_weight=-1.0)


def test_fit_tag_regression_recovers_a_linear_logit():
    rng = np.random.default_rng(2)
    F = rng.normal(3, 2, (400, 8))
    true_w = rng.normal(0, 0.5, 8)
    logit = (F - 3) @ true_w - 1.0
    mtt = np.full((400, len(MTT_TAGS)), 0.2)
    for t in predicted_mtt_tags():
        mtt[:, MTT_TAGS.index(t)] = 1 / (1 + np.exp(-logit))
    W, b = fit_tag_regression(F, mtt, alpha=1e-3)
    np.testing.assert_allclose(F @ W.T + b, np.stack([logit, logit], 1), atol=1e-3)


def _classifier_with_prior(seed: int = 0) -> MusicnnClassifier:
    torch.manual_seed(seed)
    model = MusicnnClassifier(tag_prior_weight=1.0).eval()
    with torch.no_grad():
        model.tag_prior.mtt_head.weight.normal_(0, 0.01)
        model.tag_prior.mtt_head.bias.fill_(-1.0)
        model.head.weight.normal_(0, 0.01)
    return model


def test_classifier_adds_the_prior_and_grad_cam_explains_the_sum():
    model = _classifier_with_prior()
    x = torch.randn(3, 96, 187)
    with torch.inference_mode():
        out = model.backbone(x.transpose(1, 2))
        plain = model.head_logits(out["pooled"])
        logits = model(x)["logits"]
        prior = model.tag_prior(out["pooled"], out["logits"])
    assert torch.allclose(logits, plain + prior, atol=1e-5)
    assert not torch.allclose(logits, plain, atol=1e-2)
    fused, cam = model.gradcam_pass(x, layer="timbral_f77")
    assert torch.allclose(fused, logits, atol=1e-4)
    # the map's gradient runs through the prior too: it differs from the head's alone
    with_prior = cam(logits.argmax(1), "gradcam")
    model.tag_prior = None
    _, cam_plain = model.gradcam_pass(x, layer="timbral_f77")
    assert not torch.allclose(with_prior, cam_plain(logits.argmax(1), "gradcam"))


def test_prior_survives_save_and_load(tmp_path):
    from genrecls.checkpoint import load_model, save_model

    model = _classifier_with_prior(seed=3)
    path = tmp_path / "m.pt"
    save_model(
        path,
        model=model,
        architecture="musicnn_transfer",
        arch_kwargs={"n_classes": 10, "feature": "pooled", "tag_prior_weight": 1.0},
        feature_config=FeatureConfig(),
        labels=GENRES,
    )
    loaded = load_model(path).model.eval()
    x = torch.randn(2, 96, 187)
    with torch.inference_mode():
        assert torch.allclose(loaded(x)["logits"], model(x)["logits"], atol=1e-6)


def test_export_probe_with_prior_matches_the_numpy_path():
    """export_probe writes the regression into the model: logits = probe + tag_log_prior."""
    rng = np.random.default_rng(4)
    model = MusicnnClassifier().eval()
    x = torch.from_numpy(rng.normal(0, 1, (6, 96, 187)).astype(np.float32))
    with torch.inference_mode():
        out = model.backbone(x.transpose(1, 2))
    pooled, tags = out["pooled"].numpy(), torch.sigmoid(out["logits"]).numpy()
    y = np.arange(6) % 3
    scaler, clf = fit_probe(pooled, y, C=1.0)
    reg = (rng.normal(0, 0.01, (2, pooled.shape[1])), np.array([0.5, -0.5]))
    exported = export_probe(scaler, clf, feature="pooled", tag_prior=(1.0, reg))
    exported.backbone.load_state_dict(model.backbone.state_dict())
    want = probe_logits(scaler, clf, pooled, n_classes=10) + tag_log_prior(
        tags, pooled, reg, weight=1.0
    )
    with torch.inference_mode():
        got = exported(x)["logits"].numpy()
    np.testing.assert_allclose(got, want, atol=2e-3)


def test_teacher_logits_from_cached_features_include_the_prior():
    from genrecls.distill import teacher_logits
    from genrecls.exceptions import ModelError

    model = _classifier_with_prior(seed=5)
    x = torch.randn(4, 96, 187)
    with torch.inference_mode():
        out = model.backbone(x.transpose(1, 2))
        want = model(x)["logits"].numpy()
    got = teacher_logits(
        model, out["pooled"].numpy(), tag_probs=torch.sigmoid(out["logits"]).numpy()
    )
    np.testing.assert_allclose(got, want, atol=1e-3)
    with pytest.raises(ModelError):
        teacher_logits(model, out["pooled"].numpy())


# ----------------------------------------------------------- artist-disjoint validation


def _write_lists(folder, train, valid):
    folder.mkdir()
    for name, stems in (("train", train), ("valid", valid)):
        lines = [f"{s.split('.')[0]}/{s}.wav" for s in stems]
        (folder / f"{name}_filtered.txt").write_text("\n".join(lines) + "\n")


def test_artist_disjoint_sides(tmp_path):
    _write_lists(tmp_path / "s", ["rock.00001", "jazz.00002"], ["rock.00003"])
    sides = artist_disjoint_sides(
        ["rock.00003", "rock.00001", "fma:12", "jazz.00002"], split_dir=tmp_path / "s"
    )
    assert list(sides) == ["valid", "train", "", "train"]
    _write_lists(tmp_path / "bad", ["rock.00001"], ["rock.00001"])
    with pytest.raises(DataError, match="both"):
        artist_disjoint_sides(["rock.00001"], split_dir=tmp_path / "bad")


def _dataset(tmp_path, stems, labels, n_seg=2):
    tracks = [
        Track(tmp_path / f"{s}.wav", label, s, "gtzan")
        for s, label in zip(stems, labels, strict=True)
    ]
    n = len(tracks) * n_seg
    track_index = np.repeat(np.arange(len(tracks)), n_seg)
    return SegmentDataset(
        X=np.zeros((n, 1, 1), np.float32),
        y=np.array([GENRES.index(labels[t]) for t in track_index]),
        groups=np.array([stems[t] for t in track_index]),
        track_index=track_index,
        starts=np.zeros(n),
        variants=np.array(["original"] * n),
        labels=tuple(GENRES),
        tracks=tracks,
        config=FeatureConfig(),
    )


def test_artist_disjoint_validation_fits_on_one_list_and_scores_the_other(tmp_path):
    train = [f"rock.{i:05d}" for i in range(4)] + [f"jazz.{i:05d}" for i in range(4)]
    valid = [f"rock.{i:05d}" for i in range(10, 13)] + [f"jazz.{i:05d}" for i in range(10, 12)]
    _write_lists(tmp_path / "s", train, valid)
    stems = train + valid + ["fma:1"]
    labels = [s.split(".")[0] if "." in s else "pop" for s in stems]
    data = _dataset(tmp_path, stems, labels)
    calls = []

    def fit_predict(tr, va):
        calls.append((set(data.groups[tr]), set(data.groups[va])))
        logits = np.zeros((len(va), 10))
        logits[np.arange(len(va)), data.y[va]] = 5.0  # a perfect oracle
        return logits

    result = artist_disjoint_validation(fit_predict, data, split_dir=tmp_path / "s")
    (fit1, scored1), (fit2, scored2) = calls
    assert scored1 == set(valid) and fit1 == set(train) | {"fma:1"}
    assert scored2 == set(train) and fit2 == set(valid) | {"fma:1"}
    assert [f["scored"] for f in result["folds"]] == ["valid", "train"]
    assert [f["n"] for f in result["folds"]] == [5, 8]
    assert result["mean"]["top1"] == 1.0 and result["std"]["top1"] == 0.0


def test_predicting_the_msd_tags_too_matches_the_numpy_reference():
    """A pruned network's prior reads every tag from its pooled features."""
    from genrecls.models.tag_prior import predicted_tags

    predicted = predicted_tags(predict_msd=True)
    assert predicted[-2:] == (("mtt", "classical"), ("mtt", "classic"))
    assert {v for v, _ in predicted[:-2]} == {"msd"} and len(predicted) > 10
    rng = np.random.default_rng(6)
    d, n = 10, 7
    F = rng.normal(size=(n, d))
    W, b = rng.normal(0, 0.5, (len(predicted), d)), rng.normal(0, 1, len(predicted))
    prior = ZeroShotPrior(in_dim=d, weight=1.0, predict_msd=True)
    with torch.no_grad():
        prior.mtt_head.weight.copy_(torch.from_numpy(W).float())
        prior.mtt_head.bias.copy_(torch.from_numpy(b).float())
        # the backbone's own tag logits are ignored
        got = prior(torch.from_numpy(F).float(), torch.randn(n, len(MSD_TAGS))).numpy()
    want = tag_log_prior(None, F, (W, b), weight=1.0)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # and fit_tag_regression fits targets in that order
    msd, mtt = rng.uniform(0.1, 0.9, (50, 50)), rng.uniform(0.1, 0.9, (50, 50))
    W2, _ = fit_tag_regression(rng.normal(size=(50, d)), mtt, msd_probs=msd)
    assert W2.shape == (len(predicted), d)


def test_card_tables_of_the_prior_weights():
    from genrecls.model_card import candidates_rows, tag_prior_rows

    fold = {"top1": 0.5, "balanced_accuracy": 0.4}
    card = {
        "candidates": {
            "a": {"cv": None, "artist_disjoint": {"mean": fold, "std": fold}},
            "b": {"cv": None},
        },
        "tag_prior_validation": [
            {
                "weight": 0.0,
                "mean": fold,
                "std": {"top1": 0.1, "balanced_accuracy": 0.05},
                "folds": [{"fit": "train", "scored": "valid", "balanced_accuracy": 0.45}],
            }
        ],
    }
    rows = tag_prior_rows(card)
    assert rows == [
        {
            "prior weight λ": "0",
            "top-1 (mean of both ways)": "50.0%",
            "balanced acc.": "40.0 ± 5.0%",
            "train → valid balanced": "45.0%",
        }
    ]
    cand = candidates_rows(card)
    assert cand[0]["artist-disjoint balanced acc."] == "40.0 ± 40.0%"
    assert cand[1]["artist-disjoint balanced acc."] == "—"


def test_the_bundled_card_records_the_prior_and_its_history():
    import json

    from genrecls.config import bundled_models_dir
    from genrecls.model_card import render_markdown

    path = bundled_models_dir() / "model_card.json"
    if not path.is_file():
        pytest.skip(f"{path} missing (make model)")
    card = json.loads(path.read_text())
    if card["bundled"]["candidate"] != "musicnn_probe_tag_prior":
        pytest.skip("the bundled model has no tag prior")
    weights = [r["weight"] for r in card["tag_prior_validation"]]
    chosen = max(
        card["tag_prior_validation"], key=lambda r: (r["mean"]["balanced_accuracy"], -r["weight"])
    )
    assert 0.0 in weights and chosen["weight"] > 0
    assert (
        f"plus {chosen['weight']:g} × log"
        in card["candidates"]["musicnn_probe_tag_prior"]["description"]
    )
    text = render_markdown(card)
    assert "prior weight λ" in text and card["history"] in text
