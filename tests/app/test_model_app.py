"""Model page run headless with AppTest."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from genrecls.config import bundled_models_dir

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.mark.skipif(
    not (bundled_models_dir() / "model_card.json").is_file(),
    reason="model card missing (run make model)",
)
def test_model_page_shows_the_card():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/model.py").run()
    assert not at.exception
    assert len(at.metric) == 4
    assert len(at.dataframe) >= 3
    assert any("Known limits" in s.value for s in at.subheader)


@pytest.mark.skipif(
    not (bundled_models_dir() / "saliency_report.json").is_file(),
    reason="saliency report missing (python -m genrecls saliency-report)",
)
def test_model_page_shows_the_trust_report_and_deletion_curves():
    import json

    report = json.loads((bundled_models_dir() / "saliency_report.json").read_text())
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/model.py").run()
    assert not at.exception
    assert any("trusted" in s.value for s in at.subheader)
    text = " ".join(m.value for m in at.markdown)
    assert "LayerCAM" in text and "Grad-CAM" in text
    assert report["rows"][0]["layer"] in text
    # one deletion-curve plot per set of clips (demo clips, real songs) at the default layer
    figures = [c for c in at.get("plotly_chart") if "Deletion curves" in c.proto.spec]
    assert len(figures) == len({r["set"] for r in report["rows"]})
    assert all("imputed from neighbours" in c.proto.spec for c in figures)


@pytest.mark.skipif(
    not (bundled_models_dir() / "lite_model_card.json").is_file(),
    reason="lite model card missing (python -m genrecls prune)",
)
def test_model_page_shows_the_lite_model_and_its_selection():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/model.py").run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "`genre_model_lite`" in text and "Classify page" in text
    tables = [d.value for d in at.dataframe]
    selection = [t for t in tables if "CV ≥ 95% of the full network's" in t.columns]
    assert len(selection) == 1 and len(selection[0]) >= 2  # every candidate tried is listed


def test_model_page_shows_the_tag_prior_validation():
    import json

    card = json.loads((bundled_models_dir() / "model_card.json").read_text())
    if not card.get("tag_prior_validation"):
        pytest.skip("this model card has no tag-prior validation (an older make model)")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/model.py").run()
    assert not at.exception
    assert any("zero-shot tag prior" in e.label for e in at.expander)
    tables = [d.value for d in at.dataframe]
    weights = [t for t in tables if "prior weight λ" in t.columns]
    assert len(weights) == 1 and len(weights[0]) == len(card["tag_prior_validation"])
    candidates = next(t for t in tables if "artist-disjoint balanced acc." in t.columns)
    assert (candidates["artist-disjoint balanced acc."] != "—").sum() >= 1
    assert any(card["history"][:40] in c.value for c in at.caption)
