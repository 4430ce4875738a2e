"""Classify: the genre of a song, over time, and what the network looked at.

The page draws its clip picker first and loads the model in the background meanwhile
(``pages/_predictor.py``): torch, the network and the plotting code are imported while a
person chooses a clip, not before the page shows.
"""

from __future__ import annotations

import io

import numpy as np
import streamlit as st

from genrecls.exceptions import GenreclsError
from genrecls.model_store import available_models
from genrecls.trust import KINDS
from pages._common import (
    Clip,
    choose_clip,
    decode,
    decode_or_explain,
    describe,
    play,
    warm_explore_in_background,
)
from pages._navigation import run_inside_app
from pages._predictor import get_predictor, start_loading

run_inside_app()  # first, before anything is drawn


@st.cache_data(max_entries=16, show_spinner="Classifying…")
def classify(digest: str, _y: np.ndarray, model_path: str, mtime: float):
    predictor = get_predictor(model_path, mtime)
    M = predictor.spectrogram(_y)
    return M, predictor.predict_spectrogram(M, duration=len(_y) / predictor.feature_config.sr)


@st.cache_data(max_entries=16, show_spinner="Classifying…")
def classify_explained(
    digest: str, _y: np.ndarray, model_path: str, mtime: float, max_segments: int | None
):
    """The verdict and the Grad-CAM map of its genre (default layer) from one pass.

    ``max_segments`` caps the segments analysed (``None``: the model's own setting).
    """
    from genrecls.explain import classify_and_explain

    predictor = get_predictor(model_path, mtime)
    if max_segments is not None:
        predictor = predictor.with_options(max_segments=max_segments)
    M = predictor.spectrogram(_y)
    duration = len(_y) / predictor.feature_config.sr
    return (M, *classify_and_explain(predictor, M, duration=duration))


@st.cache_data(max_entries=16, show_spinner=False)
def music_check(digest: str, _y: np.ndarray, sr: int):
    from genrecls.musicness import assess_music

    return assess_music(_y, sr=sr)


@st.cache_data(max_entries=16, show_spinner="Computing Grad-CAM…")
def explain(
    digest: str, _M: np.ndarray, model_path: str, mtime: float, target: int, layer: str, kind: str
):
    from genrecls.explain import explain_track

    predictor = get_predictor(model_path, mtime)
    return explain_track(predictor, _M, target=target, layer=layer, kind=kind)


@st.cache_data(max_entries=8, show_spinner="Resynthesising what the model heard…")
def heard_wav(
    digest: str,
    _y,
    _explanation,
    model_path: str,
    mtime: float,
    target: int,
    layer: str,
    kind: str,
    keep: float,
) -> bytes:
    import soundfile as sf

    from genrecls.explain import model_heard

    predictor = get_predictor(model_path, mtime)
    y = model_heard(_y, _explanation, predictor=predictor, keep_fraction=keep)
    buf = io.BytesIO()
    sf.write(buf, y, predictor.feature_config.sr, format="WAV")
    return buf.getvalue()


st.title("🎧 What genre is this?")

models = available_models()
if not models:
    st.error(
        "No model found: the bundled model `models/genre_model.pt` is missing "
        "(run `make model`), and no model was trained on the Train page yet."
    )
    st.stop()
with st.sidebar:
    entry = st.selectbox("Model", models, format_func=lambda e: e.label, key="classify_model")
start_loading(str(entry.path), entry.mtime)


def loaded_predictor():
    """The chosen model, once loaded; a message and a stop when it cannot be loaded."""
    try:
        return get_predictor(str(entry.path), entry.mtime)
    except GenreclsError as exc:
        st.error(f"Could not load the model **{entry.name}**: {exc}")
        st.stop()


single, batch = st.tabs(["One song", "Several files"])

with single:
    clip = choose_clip(key="classify")
    if clip is None:
        st.info("Upload a song, record one, or click a demo clip to begin.")
    else:
        from genrecls import plots
        from genrecls.explain import default_layer_name, gradcam_layer_names
        from genrecls.predict import FIRST_LOOK_SEGMENTS, wants_first_look

        predictor = loaded_predictor()
        cfg, labels = predictor.feature_config, predictor.labels
        audio = decode_or_explain(clip, sr=cfg.sr)
        if audio is not None:
            st.markdown(describe(audio, clip))
            play(clip, audio)
            y, key = audio.samples, clip.digest
            # A long song gets a first verdict from a spread of segments at once, then the
            # page reruns with every segment analysed (see the end of this tab).
            refined = st.session_state.setdefault("classify_refined", set())
            first_look = (key, str(entry.path)) not in refined and wants_first_look(
                len(y), config=cfg
            )
            M, prediction, verdict_map = classify_explained(
                key, y, str(entry.path), entry.mtime, FIRST_LOOK_SEGMENTS if first_look else None
            )
            check = music_check(key, y, cfg.sr)

            left, right = st.columns([2, 3])
            with left:
                st.metric("Genre", prediction.genre.capitalize())
                st.markdown(f"**{prediction.confidence:.0%}** probability")
                if not check.is_music:
                    st.warning(
                        f"**Probably not music.** {check.reason} The genre above is "
                        "what the model would say anyway; do not trust it."
                    )
                elif prediction.is_unsure:
                    st.warning(
                        f"**The model is unsure.** Its best guess has only "
                        f"{prediction.confidence:.0%}, and the probability is spread over "
                        "several genres. The song may mix styles, or be a genre it knows "
                        "little of."
                    )
                st.caption(
                    f"Track verdict from {len(prediction.segment_starts)} segments of "
                    f"{cfg.segment_seconds:.1f} s: the geometric mean of the segments' "
                    "probabilities, calibrated by temperature scaling "
                    f"(T = {prediction.temperature:.2f})."
                )
                if first_look:
                    st.info(
                        f"**First look** from {len(prediction.segment_starts)} segments "
                        "spread over the song; refining with more of them…",
                        icon="⏳",
                    )
            with right:
                st.plotly_chart(
                    plots.probability_bar_figure(prediction.probabilities, labels=labels),
                    theme=None,
                    key="fig_top3",
                )
            st.plotly_chart(
                plots.genre_timeline_figure(
                    prediction.segment_starts,
                    prediction.segment_ends,
                    prediction.segment_probabilities,
                    labels=labels,
                ),
                theme=None,
                key="fig_timeline",
            )

            st.subheader("Why? Grad-CAM and LayerCAM")
            layers = gradcam_layer_names(predictor)
            c1, c2, c3 = st.columns([2, 2, 1])
            with c1:
                target_name = st.selectbox(
                    "Explain the genre",
                    labels,
                    index=labels.index(prediction.genre),
                    key="classify_target",
                )
            with c2:
                layer = st.selectbox(
                    "Layer (deeper = coarser)",
                    layers,
                    index=layers.index(default_layer_name(predictor)),
                    key="classify_layer",
                )
            with c3:
                kind = st.radio(
                    "Map",
                    list(KINDS),
                    format_func=KINDS.get,
                    key="classify_kind",
                    help="Grad-CAM weights each feature map by its average gradient; "
                    "LayerCAM weights every cell by its own gradient, so only the cells that "
                    "reached the decision light up.",
                )
            target = labels.index(target_name)
            wanted = (target, layer, kind)
            if wanted == (verdict_map.target, verdict_map.layer, verdict_map.kind):
                explanation = verdict_map  # computed with the verdict
            else:
                explanation = explain(key, M, str(entry.path), entry.mtime, *wanted)
            st.plotly_chart(
                plots.saliency_overlay_figure(
                    M,
                    explanation.saliency,
                    config=cfg,
                    scale=explanation.scale or 1.0,
                    title=f"What the network looked at ({KINDS[explanation.kind]}, "
                    f"{explanation.layer})",
                ),
                theme=None,
                key="fig_gradcam",
            )
            st.caption(
                "Coloured regions raised the score of the chosen genre (Grad-CAM: gradients "
                "of the genre's score weight the layer's feature maps; LayerCAM: each cell by "
                "its own gradient). One colour scale for the whole track, so weak evidence "
                "looks weak."
            )
            keep = st.slider(
                "Keep the most salient share of the sound",
                0.05,
                0.5,
                0.2,
                step=0.05,
                key="classify_keep",
            )
            a, b = st.columns(2)
            with a:
                st.caption("Original")
                play(clip, audio)
            with b:
                st.caption("What the model heard (only the salient regions)")
                st.audio(
                    heard_wav(key, y, explanation, str(entry.path), entry.mtime, *wanted, keep),
                    format="audio/wav",
                )

            if first_look:  # the refined verdict replaces this one when it is ready
                classify_explained(key, y, str(entry.path), entry.mtime, None)
                refined.add((key, str(entry.path)))
                st.rerun()

            with st.expander("Can I trust this map?"):
                st.markdown(
                    "- **Randomisation check** (Adebayo et al., 2018): with the network's "
                    "weights re-initialised the map must change completely; the test suite "
                    "checks it.\n"
                    "- **Deletion check** (Samek et al., 2017): removing the regions marked "
                    "salient first must lower the genre's probability faster than removing "
                    "random regions. Measured for every layer and both maps, on the demo "
                    "clips and on real songs, with the removed regions filled two ways (the "
                    "clip's mean, and imputed from their neighbours): see the Model page, "
                    "which says which maps pass.\n"
                    "- A map shows where the evidence *for this network* lies, not what a "
                    "musician would point at."
                )
            warm_explore_in_background()  # the page is drawn: the CPU is free

with batch:
    files = st.file_uploader("Drop several songs", accept_multiple_files=True, key="classify_batch")
    if files:
        import pandas as pd

        cfg = loaded_predictor().feature_config
        rows = []
        progress = st.progress(0.0, text="Classifying…")
        for i, f in enumerate(files):
            data = f.getvalue()
            try:
                audio = decode(data, f.name, cfg.sr)
            except GenreclsError as exc:
                rows.append({"file": f.name, "genre": None, "confidence": None, "error": str(exc)})
            else:
                _, p = classify(
                    Clip(data, f.name).digest, audio.samples, str(entry.path), entry.mtime
                )
                top = p.top_k(3)
                rows.append(
                    {
                        "file": f.name,
                        "genre": p.genre,
                        "confidence": round(p.confidence, 3),
                        "second": top[1][0],
                        "third": top[2][0],
                        "unsure": p.is_unsure,
                        "error": None,
                    }
                )
            progress.progress((i + 1) / len(files), text=f"{i + 1}/{len(files)} done")
        table = pd.DataFrame(rows)
        st.dataframe(table, hide_index=True)
        st.download_button(
            "Download as CSV",
            table.to_csv(index=False).encode(),
            file_name="genres.csv",
            mime="text/csv",
            key="classify_csv",
        )
