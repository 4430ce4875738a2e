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
    bundled = [
        n
        for n in ("genre_model_fast", "genre_model_lite", "genre_model", "genre_model_student")
        if (bundled_models_dir() / f"{n}.pt").is_file()
    ]
    assert names[: len(bundled)] == bundled  # the fast variant first: the default
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
