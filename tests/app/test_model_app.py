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
