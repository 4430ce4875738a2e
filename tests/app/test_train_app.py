"""Train page run headless with streamlit.testing.v1.AppTest: a 1-epoch tiny training."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from genrecls.model_store import available_models

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 120
WAIT = 90


@pytest.fixture
def user_models(tmp_path, monkeypatch):
    folder = tmp_path / "user_models"
    monkeypatch.setenv("GENRECLS_USER_MODELS", str(folder))
    return folder


def _open_train() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    return at


def _tiny_builtin(at: AppTest) -> AppTest:
    at.select_slider(key="train_builtin_n").set_value(4).run()
    at.slider(key="train_epochs").set_value(1).run()
    return at


def _run_until(at: AppTest, done, timeout: float = WAIT) -> None:
    """Rerun the page (as the polling fragment would) until ``done()`` or the time is up."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the background run did not finish in time"
        time.sleep(0.5)
        at.run()
    at.run()


def _job_done(at: AppTest):
    return lambda: not at.session_state["train_job"].snapshot().running


def test_train_page_trains_one_epoch_and_saves(user_models):
    at = _tiny_builtin(_open_train())
    assert at.title[0].value.startswith("🏋️")
    table = at.dataframe[0].value
    assert list(table["clips"]) == [4, 4, 4, 4]
    assert any("fewer than 5" in w.value for w in at.warning)  # small classes are flagged
    assert any("Start training" in i.value for i in at.info)

    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    job = at.session_state["train_job"]
    # A page switch and back keeps the run: it lives in this session's state.
    at.switch_page("pages/classify.py").run()
    at.switch_page("pages/train.py").run()
    assert at.session_state["train_job"] is job
    _run_until(at, _job_done(at))

    assert not at.exception
    snap = job.snapshot()
    assert snap.status == "done", snap.error
    charts = [c.proto.id for c in at.get("plotly_chart")]
    assert any("train_fig_loss" in c for c in charts)
    assert any("train_fig_accuracy" in c for c in charts)
    assert any("train_fig_confusion" in c for c in charts)
    labels = [m.label for m in at.metric]
    assert "Accuracy (segments)" in labels and "Time left" in labels

    at.text_input(key="train_model_name").set_value("apptest-model").run()
    at.button(key="train_save").click().run()
    assert not at.exception
    assert any("apptest-model" in s.value for s in at.success)
    assert (user_models / "apptest-model.pt").is_file()
    assert (user_models / "apptest-model.card.json").is_file()
    assert "apptest-model" in [m.name for m in available_models()]

    # The Classify page offers it.
    at.switch_page("pages/classify.py").run()
    options = at.selectbox(key="classify_model").options
    assert any("apptest-model" in o for o in options)


def test_stop_button_ends_the_run_and_keeps_the_best_epoch():
    at = _open_train()
    at.select_slider(key="train_builtin_n").set_value(4).run()
    at.slider(key="train_epochs").set_value(50).run()
    at.button(key="train_start").click().run()
    job = at.session_state["train_job"]
    _run_until(at, lambda: len(job.snapshot().epochs) >= 1)
    assert at.button(key="train_stop")  # drawn by the live fragment
    at.button(key="train_stop").click().run()
    _run_until(at, _job_done(at))
    snap = job.snapshot()
    assert snap.stopped and snap.can_save and 1 <= len(snap.epochs) < 50
    assert any("best epoch so far is kept" in p.text for p in at.get("progress"))
    assert at.button(key="train_save")


def test_bad_model_names_cannot_be_saved(user_models):
    at = _tiny_builtin(_open_train())
    at.button(key="train_start").click().run()
    _run_until(at, _job_done(at))
    for name in ("../escape", "with space", "con", ""):
        at.text_input(key="train_model_name").set_value(name).run()
        assert at.error, f"the invalid name {name!r} must be explained"
        assert at.button(key="train_save").disabled
    assert not user_models.exists() or not list(user_models.glob("*.pt"))


def test_two_sessions_have_their_own_runs(user_models):
    a = _tiny_builtin(_open_train())
    b = _tiny_builtin(_open_train())
    a.button(key="train_start").click().run()
    assert "train_job" not in b.session_state  # b sees nothing of a's run
    b.slider(key="train_epochs").set_value(2).run()
    b.button(key="train_start").click().run()
    job_a, job_b = a.session_state["train_job"], b.session_state["train_job"]
    assert job_a is not job_b and job_a.work_dir != job_b.work_dir
    _run_until(a, _job_done(a))
    _run_until(b, _job_done(b))
    assert len(job_a.snapshot().epochs) == 1
    assert len(job_b.snapshot().epochs) == 2


def test_frozen_backbone_disables_spec_augment():
    at = _open_train()
    at.selectbox(key="train_arch").set_value("musicnn_frozen").run()
    assert at.checkbox(key="train_aug_spec").disabled
    at.selectbox(key="train_arch").set_value("musicnn_finetune").run()
    assert any("Fine-tuning" in w.value for w in at.warning)
    assert not at.checkbox(key="train_aug_spec").disabled


def test_leakage_demo_shows_both_splits():
    at = _tiny_builtin(_open_train())
    at.radio(key="train_leak_model").set_value("linear").run()
    at.button(key="train_leak_run").click().run()
    _run_until(at, lambda: not at.session_state["train_leak_task"].running)
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "Random segment split (leaky)" in labels and "Song-grouped split" in labels


def test_augmentation_previews_play_and_show_masks():
    at = _tiny_builtin(_open_train())
    at.toggle(key="train_previews").set_value(True).run()
    assert not at.exception
    assert len(at.get("audio")) == 7  # original + 2 stretched, original + 2 shifted, mixup
    charts = [c.proto.id for c in at.get("plotly_chart")]
    for key in ("train_fig_spec_orig", "train_fig_spec_masked", "train_fig_mixup"):
        assert any(key in c for c in charts)
    before = at.get("plotly_chart")[1].proto.spec
    at.number_input(key="train_mask_seed").set_value(3).run()
    assert at.get("plotly_chart")[1].proto.spec != before  # new masks


def test_missing_shared_data_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("GENRECLS_DATA_DIR", str(tmp_path / "nothing"))
    at = _open_train()
    at.radio(key="train_source").set_value("Shared data directory").run()
    assert not at.exception
    assert any("No shared data" in i.value for i in at.info)
    assert at.button(key="train_start").disabled


def test_upload_source_waits_for_a_zip():
    at = _open_train()
    at.radio(key="train_source").set_value("Upload a zip").run()
    assert not at.exception
    assert any("Upload a zip" in i.value for i in at.info)
    assert at.button(key="train_start").disabled
