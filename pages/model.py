"""Model: the bundled model's card, for people."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from genrecls import plots
from genrecls.config import bundled_models_dir
from genrecls.model_card import candidates_rows, load_card, tag_prior_rows
from genrecls.model_store import lite_is_default
from genrecls.trust import FILLS, KINDS
from pages._navigation import run_inside_app

run_inside_app()  # first, before anything is drawn

CARD = bundled_models_dir() / "model_card.json"
CONFUSION = bundled_models_dir() / "confusion_matrix.png"
SALIENCY_REPORT = bundled_models_dir() / "saliency_report.json"

st.title("🧠 The model behind the verdict")
if not CARD.is_file():
    st.error("The model card `models/model_card.json` is missing: run `make model`.")
    st.stop()
card = load_card(CARD)
m, b = card["model"], card["bundled"]

st.markdown(f"**{m['name']}** — {m['description']}")
st.caption(f"{m['citation']} · built with `{card['command']}` on {card['created']}")

c1, c2, c3, c4 = st.columns(4)
c1.metric("Real-song top-1", f"{100 * b['real_test']['top1']:.0f}%")
c2.metric("Real-song top-3", f"{100 * b['real_test']['top3']:.0f}%")
c3.metric("Balanced accuracy", f"{100 * b['real_test']['balanced_accuracy']:.0f}%")
c4.metric("Test tracks", b["real_test"]["n"])

st.subheader("What it was trained on")
st.markdown(card["data"]["description"])
st.dataframe(pd.DataFrame(card["data"]["table"]), hide_index=True)

st.subheader("Candidates, side by side")
st.markdown(
    "Every candidate was scored the same way: 5-fold cross-validation on the training "
    "songs, **grouped by song** so no song is on both sides, and once on held-out real "
    "songs that nothing was trained or tuned on. The musicnn probes were also validated "
    "**across artists**: fitted on the artist-disjoint GTZAN *train* list and scored on "
    "the *valid* list, and the other way round."
)
st.dataframe(pd.DataFrame(candidates_rows(card)), hide_index=True)
st.markdown(f"Bundled: **{b['candidate']}**.")
if card.get("selection_note"):
    st.caption(card["selection_note"])
if card.get("tag_prior_validation"):
    with st.expander("The zero-shot tag prior: weights tried, validated across artists"):
        st.markdown(
            "The genre head's logits plus λ × log of the zero-shot tag scores (musicnn's "
            "own tags mapped onto genres). Song-grouped folds cannot judge it: GTZAN has "
            "many songs per artist, and those stay in training. Across artists the prior "
            "helps; λ = 0 is the plain probe."
        )
        st.dataframe(pd.DataFrame(tag_prior_rows(card)), hide_index=True)
        if card.get("history"):
            st.caption(card["history"])
if card.get("probe_settings_cv"):
    with st.expander("Linear-probe settings tried"):
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "setting": k,
                        "CV top-1": f"{100 * v['mean']['top1']:.1f}%",
                        "± (std over folds)": f"{100 * v['std']['top1']:.1f}",
                        "CV balanced": f"{100 * v['mean']['balanced_accuracy']:.1f}%",
                    }
                    for k, v in card["probe_settings_cv"].items()
                ]
            ),
            hide_index=True,
        )

st.subheader("Where it goes wrong")
if CONFUSION.is_file():
    st.image(
        str(CONFUSION),
        caption="Confusion matrix on the real-song test tracks "
        "(rows: true genre, columns: predicted).",
    )
st.dataframe(pd.DataFrame(b["per_class"]), hide_index=True)
st.caption(
    f"Calibration: temperature {b['calibration']['temperature']:.2f}; expected calibration "
    f"error {b['calibration']['ece_before']:.3f} → {b['calibration']['ece_after']:.3f}."
)

if "feature_baseline" in card:
    st.subheader("The leakage gap")
    st.markdown(card["feature_baseline"]["text"])
MIDI_REPORT = bundled_models_dir() / "midi_report.json"
if "rendered_midi" in card and "domain_gap" in card["rendered_midi"]:
    st.subheader("Rendered MIDI: how far from real recordings?")
    st.markdown(card["rendered_midi"]["domain_gap"]["text"])
elif MIDI_REPORT.is_file():
    midi_report = load_card(MIDI_REPORT)
    st.subheader("Rendered MIDI: does it help?")
    st.markdown(midi_report["domain_gap"]["text"])
    st.markdown(midi_report["text"] + f" (`{midi_report['command']}`)")
trust = load_card(SALIENCY_REPORT) if SALIENCY_REPORT.is_file() else card.get("saliency")
if trust:
    st.subheader("Can the Grad-CAM maps be trusted?")
    if "model" in trust:
        st.caption(f"Model `{trust['model']}`, measured by `{trust['command']}`.")
    st.markdown(trust["text"])
    sets = list(dict.fromkeys(r["set"] for r in trust.get("rows", [])))
    for set_name in sets:
        shown = [
            r
            for r in trust["rows"]
            if r["set"] == set_name and r["layer"] == trust.get("default_layer")
        ]
        if shown:
            st.plotly_chart(
                plots.deletion_curves_figure(
                    [
                        (
                            f"{KINDS[r['kind']]}, {FILLS[r.get('fill', 'mean')]}",
                            r["curve_salient"],
                            r["curve_random"],
                        )
                        for r in shown
                    ],
                    title=f"Deletion curves, {set_name}, layer {shown[0]['layer']} (mean)",
                ),
                theme=None,
                key=f"fig_deletion_{set_name}",
            )
if "timing" in card:
    st.subheader("Speed")
    st.markdown(card["timing"]["text"])
    lite_card = bundled_models_dir() / "lite_model_card.json"
    fast_card = bundled_models_dir() / "fast_model_card.json"
    lite_default = lite_is_default()
    if fast_card.is_file():
        role = "selectable on the Classify page" if lite_default else "the Classify default"
        st.markdown(
            f"**`genre_model_fast`** ({role}) is this model with low-rank front-end "
            "convolutions. " + load_card(fast_card)["text"]
        )
    if lite_card.is_file():
        lite = load_card(lite_card)
        role = (
            "the default on the Classify page: it keeps at least 95% of this model's "
            "real-song accuracy"
            if lite_default
            else "selectable on the Classify page"
        )
        st.markdown(
            f"**`genre_model_lite`** ({role}) is the fast model pruned to two of musicnn's "
            "five front-end branches. " + lite["text"]
        )
        st.dataframe(
            [
                {
                    "candidate": r["candidate"],
                    "M MACs / segment": round(r["macs_per_segment"] / 1e6),
                    "CV top-1": f"{100 * r['cv']['mean']['top1']:.1f} ± "
                    f"{100 * r['cv']['std']['top1']:.1f}%",
                    "CV ≥ 95% of the full network's": "yes" if r["meets_bar"] else "no",
                }
                for r in lite["selection"]["candidates_tried"]
            ],
            hide_index=True,
        )

st.subheader("Known limits")
st.markdown("\n".join(f"- {x}" for x in card["limits"]))
