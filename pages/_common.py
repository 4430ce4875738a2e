"""Widgets shared by the pages: choosing a clip (upload, microphone, demo) and decoding it.

No machine learning here: decoding is genrecls.audio; this file only draws and caches.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from genrecls.audio import SUPPORTED_EXTENSIONS, AudioClip, load_audio
from genrecls.config import PROJECT_ROOT
from genrecls.exceptions import AudioError
from genrecls.features import warm_up as warm_up_features
from genrecls.playback import browser_audio
from genrecls.synth import DEMO_CLIPS

ASSETS_DIR = PROJECT_ROOT / "assets"
SOURCES = ("Upload a file", "Record", "Demo clip")


@dataclass(frozen=True)
class Clip:
    """Raw bytes of the clip a person chose, with the name it came with."""

    data: bytes
    name: str

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.data).hexdigest()[:12]


def record_with_component(*, key: str) -> bytes | None:
    """Record from the microphone with audio-recorder-streamlit (tests replace this)."""
    from audio_recorder_streamlit import audio_recorder

    return audio_recorder(text="Click to record, click again to stop", key=key)


def demo_clips() -> list[Path]:
    """Return the demo clips shipped under assets/."""
    return sorted(ASSETS_DIR.glob("*.ogg"))


def _demo_caption(path: Path) -> str:
    entry = DEMO_CLIPS.get(path.stem)
    return entry[1] if entry else "Drums and piano together."


def choose_clip(*, key: str) -> Clip | None:
    """Draw the source picker and return the current clip (shared by all pages).

    The chosen clip is kept in ``st.session_state["clip"]`` so that switching pages keeps it.
    """
    mode = st.radio("Audio source", SOURCES, horizontal=True, key=f"{key}_source")
    new: Clip | None = None
    if mode == SOURCES[0]:
        upload = st.file_uploader(
            "Drop a song (wav, flac, ogg, mp3, m4a, aac, opus, webm, …)",
            type=[e.lstrip(".") for e in SUPPORTED_EXTENSIONS],
            key=f"{key}_upload",
        )
        if upload is not None:
            new = Clip(upload.getvalue(), upload.name)
    elif mode == SOURCES[1]:
        left, right = st.columns(2)
        with left:
            recorded = st.audio_input("Record with your microphone", key=f"{key}_audio_input")
            if recorded is not None:
                new = Clip(recorded.getvalue(), "recording.wav")
        with right:
            st.caption("…or with the one-click recorder (stops by itself after a pause):")
            data = record_with_component(key=f"{key}_recorder")
            if data:
                new = Clip(bytes(data), "recording.wav")
    else:
        clips = demo_clips()
        if not clips:
            st.info("No demo clips found under assets/ (run `make assets`).")
        columns = st.columns(max(1, len(clips)))
        for column, path in zip(columns, clips, strict=False):
            with column:
                if st.button(
                    path.stem.replace("_", " "),
                    key=f"{key}_demo_{path.stem}",
                    help=_demo_caption(path),
                    width="stretch",
                ):
                    new = Clip(path.read_bytes(), path.name)
    current: Clip | None = st.session_state.get("clip")
    if new is not None and (current is None or new.digest != current.digest):
        st.session_state["clip"] = new
        current = new
    return current


@st.cache_data(max_entries=8, show_spinner="Decoding audio…")
def decode(data: bytes, name: str, sr: int) -> AudioClip:
    """Decode a clip once per (bytes, rate); errors propagate and are not cached."""
    return load_audio(data, sr=sr, name=name)


def decode_or_explain(clip: Clip, *, sr: int) -> AudioClip | None:
    """Decode ``clip``, showing a clear message instead of a traceback on bad input."""
    try:
        audio = decode(clip.data, clip.name, sr)
    except AudioError as exc:
        st.error(f"**{clip.name}**: {exc}")
        return None
    for message in audio.warnings:
        st.warning(message)
    return audio


@st.cache_data(max_entries=4, show_spinner=False)
def _playable(digest: str, name: str, sr: int, _data: bytes, _samples) -> tuple[bytes, str]:
    return browser_audio(_data, name=name, samples=_samples, sr=sr)


def play(clip: Clip, audio: AudioClip) -> None:
    """Draw an audio player for ``clip``.

    Its own bytes when browsers read its format, else the decoded signal as WAV
    (:func:`genrecls.playback.browser_audio`: browsers cannot play GTZAN's ``.au``,
    AIFF, WMA, …).
    """
    data, mime = _playable(clip.digest, clip.name, audio.sr, clip.data, audio.samples)
    st.audio(data, format=mime)


def describe(audio: AudioClip, clip: Clip) -> str:
    """One line about the clip: name, length, original rate and channels."""
    channels = {1: "mono", 2: "stereo"}.get(audio.n_channels, f"{audio.n_channels} channels")
    return f"**{clip.name}** — {audio.duration:.1f} s, {audio.original_sr} Hz, {channels}" + (
        f" (analysing the first {audio.analysed_duration:.0f} s)" if audio.truncated else ""
    )


@st.cache_resource(show_spinner=False)
def warm_explore_in_background() -> threading.Thread:
    """Load the Explore page's feature code in a background thread, once per server.

    Its first spectrogram otherwise waits about 2 s for librosa's imports
    (:func:`genrecls.features.warm_up`). Call it when the CPU is idle: after a page is
    drawn, not while a model loads.
    """
    thread = threading.Thread(target=warm_up_features, name="genrecls-warm-features", daemon=True)
    thread.start()
    return thread
