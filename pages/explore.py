"""Explore: look at a clip as waveform, mel spectrogram, MFCC and chroma."""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from genrecls import features, plots
from genrecls.features import DISPLAY_CONFIG, FeatureConfig
from pages._common import choose_clip, decode_or_explain, describe, play
from pages._navigation import run_inside_app

run_inside_app()  # first, before anything is drawn

SR = DISPLAY_CONFIG.sr


@st.cache_data(max_entries=16, show_spinner=False)
def waveform_fig(data_digest: str, _y: np.ndarray):
    times, lower, upper = features.waveform_envelope(_y, sr=SR, n_points=3000)
    return plots.waveform_figure(times, lower, upper)


@st.cache_data(max_entries=32, show_spinner="Computing the mel spectrogram…")
def mel_fig(data_digest: str, _y: np.ndarray, config: FeatureConfig):
    return plots.mel_figure(
        features.log_mel(_y, config=config), config=config, zmin=-config.top_db, zmax=0.0
    )


@st.cache_data(max_entries=32, show_spinner="Computing MFCCs…")
def mfcc_fig(data_digest: str, _y: np.ndarray, config: FeatureConfig, n_mfcc: int):
    return plots.mfcc_figure(features.mfcc(_y, config=config, n_mfcc=n_mfcc), config=config)


@st.cache_data(max_entries=32, show_spinner="Computing chroma…")
def chroma_fig(data_digest: str, _y: np.ndarray, config: FeatureConfig):
    return plots.chroma_figure(features.chroma(_y, config=config), config=config)


st.title("🔍 Explore a sound")
st.write(
    "Pick a clip and see it the way an audio model does. Turn the knobs in the sidebar "
    "and watch each picture change."
)

with st.sidebar:
    st.header("Spectrogram settings")
    n_mels = st.select_slider(
        "Mel bands (n_mels)",
        [32, 48, 64, 96, 128, 192, 256],
        value=128,
        key="explore_n_mels",
        help="How many frequency bands the mel spectrogram has.",
    )
    hop_length = st.select_slider(
        "Hop length (samples)",
        [128, 256, 512, 1024, 2048],
        value=512,
        key="explore_hop",
        help="Samples between frames: smaller = finer time detail.",
    )
    fmax = st.slider(
        "Highest frequency fmax (Hz)", 1000, SR // 2, SR // 2, step=500, key="explore_fmax"
    )
    top_db = st.slider(
        "Dynamic range (dB)",
        20,
        120,
        80,
        step=5,
        key="explore_top_db",
        help="Everything quieter than this below the loudest point is black.",
    )
    n_mfcc = st.slider("MFCC coefficients", 5, 40, 20, key="explore_n_mfcc")

clip = choose_clip(key="explore")
if clip is None:
    st.info("Upload a song, record one, or click a demo clip to begin.")
    st.stop()

audio = decode_or_explain(clip, sr=SR)
if audio is None:
    st.stop()

st.markdown(describe(audio, clip))
play(clip, audio)

config = dataclasses.replace(
    DISPLAY_CONFIG, n_mels=n_mels, hop_length=hop_length, fmax=float(fmax), top_db=float(top_db)
)
n_mfcc = min(n_mfcc, n_mels)
y = audio.samples
key = clip.digest

st.subheader("Waveform")
st.caption(
    "Air pressure over time. Loud passages are tall; silence is flat. Long files are "
    "drawn as the min/max of each short stretch so they stay fast."
)
st.plotly_chart(waveform_fig(key, y), theme=None, key="fig_waveform")

st.subheader("Mel spectrogram")
st.caption(
    "Time left to right, pitch bottom to top on the mel scale (spaced like human "
    "hearing), loudness as colour in dB. Drums are vertical lines, sustained notes "
    "horizontal lines; this picture is what the genre CNN reads."
)
st.plotly_chart(mel_fig(key, y, config), theme=None, key="fig_mel")

left, right = st.columns(2)
with left:
    st.subheader("MFCC")
    st.caption(
        "Mel-frequency cepstral coefficients: the overall shape of the spectrum "
        "(timbre) in a few numbers per frame. Row 0 is loudness."
    )
    st.plotly_chart(mfcc_fig(key, y, config, n_mfcc), theme=None, key="fig_mfcc")
with right:
    st.subheader("Chroma")
    st.caption(
        "Energy per pitch class (C, C#, …, B), octaves folded together: shows the "
        "chords and melody notes, whatever the instrument."
    )
    st.plotly_chart(chroma_fig(key, y, config), theme=None, key="fig_chroma")
