"""Fixtures for the AppTest page tests."""

from __future__ import annotations

import pytest

import pages._navigation


@pytest.fixture(autouse=True)
def _pages_run_without_the_first_visit_rerun(monkeypatch):
    """Leave out ``pages._navigation.run_inside_app`` in AppTest runs.

    AppTest resets Streamlit's first-multipage-mode flag before *every* run (a server sets
    it once per process), so the guard would rerun every AppTest run and drop the button
    click that started it. The guard is tested where it matters, on a fresh server in a
    real browser (``tests/e2e/test_navigation_e2e.py``).
    """
    monkeypatch.setattr(pages._navigation, "run_inside_app", lambda: None)
