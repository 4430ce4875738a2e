import json

from genrecls import model_store
from genrecls.config import bundled_models_dir
from genrecls.model_card import candidates_rows, load_card, render_markdown


def test_user_models_are_listed_after_the_bundled_one(tmp_path, monkeypatch, tiny_model_path):
    monkeypatch.setenv("GENRECLS_USER_MODELS", str(tmp_path))
    (tmp_path / "mine.pt").write_bytes(tiny_model_path.read_bytes())
    (tmp_path / "notes.txt").write_text("not a model")
    entries = model_store.available_models()
    names = [e.name for e in entries]
    assert "mine" in names and "notes" not in names
    order = ["genre_model_fast", "genre_model_lite", "genre_model", "genre_model_student"]
    if model_store.lite_is_default():
        order[:2] = order[1::-1]
    bundled = [n for n in order if (bundled_models_dir() / f"{n}.pt").is_file()]
    assert names[: len(bundled)] == bundled  # the default first
    assert all(e.bundled for e in entries[: len(bundled)])
    assert not next(e for e in entries if e.name == "mine").bundled


def test_bundled_model_card_renders():
    card_path = bundled_models_dir() / "model_card.json"
    card = load_card(card_path)
    md = render_markdown(card)
    assert md.startswith("# Model card")
    assert (bundled_models_dir() / "model_card.md").read_text() == md
    rows = candidates_rows(card)
    assert {r["candidate"] for r in rows} >= {"musicnn_probe", "zero_shot_tags"}
    json.dumps(card)  # serialisable


def test_the_lite_model_leads_only_when_its_card_says_it_keeps_95_percent(tmp_path, monkeypatch):
    monkeypatch.setattr(model_store, "bundled_models_dir", lambda: tmp_path)
    for name in ("genre_model_fast.pt", "genre_model_lite.pt", "genre_model.pt"):
        (tmp_path / name).write_bytes(b"x")
    first = lambda: model_store.available_models()[0].name  # noqa: E731
    assert not model_store.lite_is_default() and first() == "genre_model_fast"  # no card
    card = tmp_path / "lite_model_card.json"
    card.write_text(json.dumps({"meets_95_percent": False}))
    assert first() == "genre_model_fast"
    card.write_text(json.dumps({"meets_95_percent": True}))
    assert model_store.lite_is_default() and first() == "genre_model_lite"
    assert [e.name for e in model_store.available_models()][:3] == [
        "genre_model_lite",
        "genre_model_fast",
        "genre_model",
    ]
    card.write_text("{broken")
    assert first() == "genre_model_fast"


def test_the_shipped_lite_card_agrees_with_its_numbers():
    path = bundled_models_dir() / "lite_model_card.json"
    if not path.is_file():
        import pytest

        pytest.skip(f"{path} missing (python -m genrecls prune)")
    card = load_card(path)
    kept = card["real_test"]["top1"] / card["teacher"]["real_test"]["top1"]
    assert abs(kept - card["top1_kept_vs_teacher"]) < 1e-9
    assert card["meets_95_percent"] == (kept >= 0.95)
