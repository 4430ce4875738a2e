import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from genrecls.baseline import (
    FEATURE_TABLE_PATH,
    SPLIT_DIR,
    FeatureBaseline,
    evaluate_predictions,
    feature_permutation_importance,
    load_fault_filtered_lists,
    load_gtzan_feature_table,
    predict_clip,
    random_split_scores,
    random_stratified_split,
    split_by_fault_filtered_lists,
    table_arrays,
)
from genrecls.config import GENRES, bundled_models_dir, data_dir
from genrecls.exceptions import DataError, ModelError, ParameterError
from genrecls.summary_features import SUMMARY_FEATURE_NAMES

N_PER_GENRE = 12

requires_data = pytest.mark.skipif(
    not ((data_dir() / FEATURE_TABLE_PATH).is_file() and (data_dir() / SPLIT_DIR).is_dir()),
    reason=f"shared data not found under {data_dir()}; set GENRECLS_DATA_DIR",
)


def _synthetic_table(seed=0, n_per_genre=N_PER_GENRE):
    """Kaggle-shaped table: class-dependent means on a few features, noise elsewhere."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, genre in enumerate(GENRES):
        for i in range(n_per_genre):
            x = rng.standard_normal(len(SUMMARY_FEATURE_NAMES))
            x[k % 5] += 3.0 * (1 + k // 5)  # genre signal in the first five columns
            x[5] += 2.0 * k
            rows.append(
                {
                    "filename": f"{genre}.{i:05d}.wav",
                    "length": 661794.0,
                    **dict(zip(SUMMARY_FEATURE_NAMES, x, strict=True)),
                    "label": genre,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def table_csv(tmp_path):
    path = tmp_path / "features_30_sec.csv"
    _synthetic_table().to_csv(path, index=False)
    return path


@pytest.fixture
def split_dir(tmp_path):
    """Lists over the synthetic tracks: 0-5 train, 6-8 valid, 9-10 test, 11 excluded."""
    folder = tmp_path / "splits"
    folder.mkdir()
    ranges = {"train": range(0, 6), "valid": range(6, 9), "test": range(9, 11)}
    for name, idx in ranges.items():
        lines = [f"{g}/{g}.{i:05d}.wav" for g in GENRES for i in idx]
        (folder / f"{name}_filtered.txt").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def fitted():
    X, y = table_arrays(_synthetic_table())
    return FeatureBaseline(C=1.0).fit(X, y), X, y


# ---------------------------------------------------------------------------- table


def test_load_table_adds_track_and_keeps_order(table_csv):
    table = load_gtzan_feature_table(path=table_csv)
    assert list(table.columns) == [
        "filename",
        "length",
        *SUMMARY_FEATURE_NAMES,
        "label",
        "track",
    ]
    assert table["track"].iloc[0] == "blues.00000"
    assert len(table) == len(GENRES) * N_PER_GENRE


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (lambda t: t.drop(columns=["tempo"]), "lacks the column"),
        (lambda t: t.assign(label=t["label"].replace("blues", "polka")), "not GTZAN genres"),
        (lambda t: t.assign(tempo=np.where(t.index == 3, np.nan, t["tempo"])), "NaN"),
        (lambda t: pd.concat([t, t.iloc[:1]]), "more than once"),
    ],
    ids=["missing-column", "bad-label", "nan", "duplicate"],
)
def test_load_table_rejects_malformed(tmp_path, corrupt, match):
    path = tmp_path / "bad.csv"
    corrupt(_synthetic_table()).to_csv(path, index=False)
    with pytest.raises(DataError, match=match):
        load_gtzan_feature_table(path=path)


def test_load_table_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_gtzan_feature_table(path=tmp_path / "nope.csv")


# ---------------------------------------------------------------------------- split


def test_split_by_lists_is_disjoint_and_drops_unlisted(table_csv, split_dir):
    table = load_gtzan_feature_table(path=table_csv)
    splits = split_by_fault_filtered_lists(table, split_dir=split_dir)
    assert {k: len(v) for k, v in splits.items()} == {"train": 60, "valid": 30, "test": 20}
    sets = {k: set(v["track"]) for k, v in splits.items()}
    assert not sets["train"] & sets["valid"]
    assert not sets["train"] & sets["test"]
    assert not sets["valid"] & sets["test"]
    assert "blues.00011" not in set().union(*sets.values())
    assert splits["train"]["track"].iloc[0] == "blues.00000"  # list order kept


def test_track_on_two_sides_is_refused(table_csv, split_dir):
    with (split_dir / "test_filtered.txt").open("a") as fh:
        fh.write("rock/rock.00000.wav\n")  # already in train
    with pytest.raises(DataError, match="rock.00000"):
        load_fault_filtered_lists(split_dir=split_dir)
    table = load_gtzan_feature_table(path=table_csv)
    lists = {"train": ["rock.00000"], "valid": [], "test": ["rock/rock.00000.wav"]}
    with pytest.raises(DataError, match="both"):
        split_by_fault_filtered_lists(table, lists=lists)


def test_listed_track_absent_from_table(table_csv):
    table = load_gtzan_feature_table(path=table_csv)
    with pytest.raises(DataError, match="not in the table"):
        split_by_fault_filtered_lists(table, lists={"train": ["jazz.00054"]})


def test_random_stratified_split(table_csv):
    table = load_gtzan_feature_table(path=table_csv)
    train, test = random_stratified_split(table, test_size=30, seed=3)
    assert len(test) == 30
    assert len(train) == len(table) - 30
    assert not set(train["track"]) & set(test["track"])
    assert test["label"].value_counts().tolist() == [3] * len(GENRES)


# ---------------------------------------------------------------------------- model


def test_matches_sklearn_pipeline(fitted):
    model, X, y = fitted
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    reference.fit(X, y)
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-12)
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))
    assert model.score(X, y) > 0.9


def test_save_load_round_trip(tmp_path, fitted):
    model, X, _ = fitted
    npz_path, json_path = model.save(tmp_path / "m.npz", metadata={"note": "synthetic"})
    assert (npz_path.name, json_path.name) == ("m.npz", "m.json")
    assert npz_path.stat().st_size < 20_000
    loaded = FeatureBaseline.load(tmp_path / "m.json")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    assert tuple(loaded.feature_names) == SUMMARY_FEATURE_NAMES
    assert loaded.metadata_["metadata"] == {"note": "synthetic"}
    assert loaded.C == model.C


def test_single_row_and_probabilities(fitted):
    model, X, _ = fitted
    proba = model.predict_proba(X[0])
    assert proba.shape == (1, len(GENRES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_binary_problem():
    X, y = table_arrays(_synthetic_table())
    keep = np.isin(y, ["blues", "rock"])
    model = FeatureBaseline(C=1.0).fit(X[keep], y[keep])
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    reference.fit(X[keep], y[keep])
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-12)


def test_tampered_npz_is_refused(tmp_path, fitted):
    model, _, _ = fitted
    npz_path, _ = model.save(tmp_path / "m.npz")
    data = dict(np.load(npz_path))
    data["coef"] = data["coef"] * 2
    np.savez(npz_path, **data)
    with pytest.raises(ModelError, match="hash"):
        FeatureBaseline.load(npz_path)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(format="something-else"), "does not describe"),
        (lambda d: d.update(format_version=99), "format version"),
        (lambda d: d["classes"].pop(), "has shape"),
        (lambda d: d.pop("params"), "lacks a field"),
    ],
    ids=["format", "version", "shape", "field"],
)
def test_foreign_or_inconsistent_json_is_refused(tmp_path, fitted, edit, match):
    model, _, _ = fitted
    _, json_path = model.save(tmp_path / "m.npz")
    doc = json.loads(json_path.read_text())
    edit(doc)
    json_path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=match):
        FeatureBaseline.load(json_path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        FeatureBaseline.load(tmp_path / "absent.npz")


def test_unfitted_and_bad_parameters(fitted):
    with pytest.raises(ModelError, match="not fitted"):
        FeatureBaseline().predict(np.zeros((1, 57)))
    _, X, y = fitted
    with pytest.raises(ParameterError, match="C must be"):
        FeatureBaseline(C=0.0).fit(X, y)
    with pytest.raises(ParameterError, match="shape"):
        FeatureBaseline().fit(X[:, :10], y)
    with pytest.raises(ParameterError, match="two classes"):
        FeatureBaseline().fit(X[:5], ["blues"] * 5)
    with pytest.raises(ParameterError, match="NaN"):
        fitted[0].predict(np.full((1, 57), np.nan))


# ----------------------------------------------------------------------- evaluation


def test_evaluate_predictions_known_values():
    classes = ["a", "b", "c", "d"]
    proba = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],  # a -> a
            [0.1, 0.6, 0.2, 0.1],  # b -> b
            [0.5, 0.1, 0.3, 0.1],  # c -> a (c 2nd)
            [0.4, 0.3, 0.2, 0.1],  # d -> a (d 4th)
        ]
    )
    rep = evaluate_predictions(["a", "b", "c", "d"], proba, classes=classes)
    assert rep["accuracy"] == pytest.approx(0.5)
    assert rep["top3_accuracy"] == pytest.approx(0.75)
    assert rep["confusion_matrix"][2] == [1, 0, 0, 0]
    assert rep["per_class"]["a"]["precision"] == pytest.approx(1 / 3)
    assert rep["macro_f1"] == pytest.approx((0.5 + 1 + 0 + 0) / 4)


def test_evaluate_predictions_unsorted_classes():
    proba = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    rep = evaluate_predictions(["a", "z"], proba, classes=["a", "m", "k", "z"])
    assert rep["accuracy"] == 0.0
    assert rep["top3_accuracy"] == 0.0  # each true class is the least probable


def test_evaluate_predictions_rejects_bad_shapes():
    with pytest.raises(ParameterError, match="shape"):
        evaluate_predictions(["a"], np.ones((1, 3)), classes=["a", "b"])
    with pytest.raises(ParameterError, match="not among"):
        evaluate_predictions(["q"], np.ones((1, 2)), classes=["a", "b"])


def test_permutation_importance_finds_the_informative_feature():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 57))
    y = np.where(X[:, 7] > 0, "rock", "jazz")
    model = FeatureBaseline(C=1.0).fit(X, y)
    imp = feature_permutation_importance(model, X, y, n_repeats=5, seed=0)
    assert list(imp.columns) == ["feature", "importance_mean", "importance_std"]
    assert len(imp) == 57
    assert imp["feature"].iloc[0] == SUMMARY_FEATURE_NAMES[7]
    assert imp["importance_mean"].iloc[0] > 0.3
    assert imp["importance_mean"].is_monotonic_decreasing


def test_random_split_scores_shape():
    table = _synthetic_table()
    scores = random_split_scores(table, C=1.0, test_size=20, seeds=[0, 1])
    assert scores["seeds"] == [0, 1]
    assert (scores["n_train"], scores["n_test"]) == (len(table) - 20, 20)
    assert len(scores["accuracy"]["values"]) == 2
    assert 0.0 <= scores["accuracy"]["mean"] <= 1.0


def test_predict_clip_on_audio(fitted):
    model = fitted[0]
    y = 0.1 * np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    proba = predict_clip(model, y, sr=22050)
    assert list(proba) == list(model.classes_)
    assert sum(proba.values()) == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="22050"):
        predict_clip(model, y, sr=16000)


# ---------------------------------------------------------------------- real data


@pytest.mark.data
@requires_data
def test_real_table_and_fault_filtered_split():
    table = load_gtzan_feature_table()
    assert len(table) == 1000
    assert table["label"].value_counts().to_dict() == {g: 100 for g in GENRES}
    splits = split_by_fault_filtered_lists(table)
    assert {k: len(v) for k, v in splits.items()} == {"train": 443, "valid": 197, "test": 290}
    tracks = [set(v["track"]) for v in splits.values()]
    assert sum(len(t) for t in tracks) == len(set().union(*tracks)) == 930


@pytest.mark.data
@requires_data
def test_bundled_model_reproduces_its_test_score():
    path = bundled_models_dir() / "feature_baseline.npz"
    if not path.is_file():
        pytest.skip("models/feature_baseline.npz not built; run scripts/feature_baseline.py")
    model = FeatureBaseline.load(path)
    splits = split_by_fault_filtered_lists(load_gtzan_feature_table())
    X, y = table_arrays(splits["test"])
    stored = model.metadata_["metadata"]["fault_filtered_test"]["accuracy"]
    assert model.score(X, y) == pytest.approx(stored, abs=1e-12)
    assert tuple(model.classes_) == GENRES
