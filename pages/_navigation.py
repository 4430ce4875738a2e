"""Run every page inside ``app.py``'s navigation, even on a server's very first visit.

Streamlit (1.67) treats a folder named ``pages/`` beside the main script as a multipage
app of its first version until ``st.navigation`` has run once in the server process: a
first visit straight to ``/explore`` runs ``pages/explore.py`` alone, without ``app.py``,
so the page links and the page configuration never appear (and stay missing for every
direct visit until somebody opens ``/``). ``st.navigation`` clears Streamlit's flag for
that mode; :func:`run_inside_app` clears it too and reruns, which goes through ``app.py``
and lands on the page that was asked for. ``tests/e2e/test_navigation_e2e.py`` checks a
fresh server.
"""

from __future__ import annotations

import streamlit as st


def run_inside_app() -> None:
    """Rerun through ``app.py`` when Streamlit ran this page on its own.

    Call it first in every page file, before anything is drawn. A no-op once
    ``st.navigation`` has run, and when Streamlit no longer has the old mode.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the first-version mode
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False  # what st.navigation sets
        st.rerun()
