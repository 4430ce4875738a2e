"""The Classify page's model: loaded in a background thread, cached per file.

Loading a model means importing torch and the network code (seconds on a two-core CPU)
and reading the file. :func:`start_loading` starts that in a background thread the first
time the page runs, *before* the page draws its clip picker, so a person picks a clip
while the model loads; :func:`get_predictor` waits for it (with a spinner) when the model
is actually needed. Once loaded, the same thread runs :func:`genrecls.predict.warm_up`
unless a request is already waiting for this model or another model was asked for since
(warming up would then only delay them: a request pays the same one-off costs itself).
One load per (file, modification time) per server process, shared by every session
(``st.cache_resource``). No machine learning here: that is :mod:`genrecls.predict`.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from genrecls.predict import GenrePredictor

# One loader thread: two models never load at once on a small CPU.
_LOADER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genrecls-model-loader")
_LATEST: list[_Loading] = []  # the load asked for last (one element at most)


class _Loading:
    """A model file being loaded: ``future`` gives the predictor; ``wanted`` is set by
    the first request that waits for it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.wanted = threading.Event()
        _LATEST[:] = [self]
        self.future: Future = _LOADER.submit(self._run)

    def _run(self) -> GenrePredictor:
        from genrecls.predict import GenrePredictor, warm_up

        predictor = GenrePredictor.from_file(self.path)
        if not self.wanted.is_set() and _LATEST == [self]:
            warm_up(predictor)  # the first request then pays no start-up costs
        return predictor


@st.cache_resource(max_entries=4, show_spinner=False)
def _loading(path: str, mtime: float) -> _Loading:
    return _Loading(path)


def start_loading(path: str, mtime: float) -> None:
    """Start loading the model file ``path`` in the background (once per file version)."""
    _loading(path, mtime)


def get_predictor(path: str, mtime: float) -> GenrePredictor:
    """The loaded model of ``path``; waits for its background load.

    Raises what loading raised (:class:`genrecls.exceptions.ModelError` for a broken
    file); a failed load is forgotten, so the next call tries again.
    """
    loading = _loading(path, mtime)
    future = loading.future
    try:
        if future.done():
            return future.result()
        loading.wanted.set()
        with st.spinner("Loading the model…"):
            return future.result()
    except BaseException:
        if future.done() and future.exception() is not None:  # a failed load: retry next time
            _loading.clear(path, mtime)
        raise
