"""Train: choose data, train a genre model in the background, watch it learn, save it.

Thin page: the run lives in a genrecls.training_job.TrainingJob kept in this session's
state, so clicks, reruns and page switches never stop it, and another browser session
never sees it. A fragment polls the job's snapshot every second while it runs.
"""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np
import soundfile as sf
import streamlit as st
import torch

from genrecls import plots
from genrecls.archive import extract_training_zip
from genrecls.audio import load_audio
from genrecls.augment import apply_spec_masks, draw_spec_masks, pitch_shift, time_stretch
from genrecls.builtin_data import BUILTIN_CLASSES, builtin_tracks
from genrecls.checkpoint import safe_model_name, user_model_path
from genrecls.config import Limits, data_dir
from genrecls.data import Track, index_folder, index_shared_data
from genrecls.exceptions import GenreclsError, GenreclsWarning
from genrecls.features import FeatureConfig, log_mel
from genrecls.train import TrainConfig
from genrecls.training_job import (
    ARCHITECTURES,
    BackgroundTask,
    JobConfig,
    JobSnapshot,
    TrainingJob,
    data_overview,
    leakage_demo,
    prepare_segments,
)
from pages._navigation import run_inside_app

run_inside_app()  # first, before anything is drawn

JOB = "train_job"
LEAK = "train_leak_task"
UPLOAD = "train_upload"
FEATURES = FeatureConfig()
DATA_SOURCES = ("Built-in synthesized set", "Shared data directory", "Upload a zip")
STRETCH_RATES = (0.9, 1.1)
PITCH_STEPS = (-2.0, 2.0)
MIXUP_ALPHA = 0.4
#: Seconds between redraws of a running job (each redraw builds three figures).
LIVE_EVERY_S = 2.0


# ------------------------------------------------------------------------------ cached data
@st.cache_data(show_spinner="Synthesizing the built-in set (first time only)…")
def builtin_set(n_per_class: int) -> list[Track]:
    return builtin_tracks(n_per_class=n_per_class, seconds=6.0)


@st.cache_data(show_spinner="Indexing the shared data…", ttl=600)
def shared_set(root: str) -> list[Track]:
    return index_shared_data()


def limit_per_class(tracks: list[Track], n: int) -> list[Track]:
    """Keep the songs of each class up to ``n`` (deterministic: by hash of the group)."""
    keep: dict[str, list[str]] = {}
    for label in sorted({t.label for t in tracks}):
        groups = sorted(
            {t.group for t in tracks if t.label == label},
            key=lambda g: hashlib.sha1(g.encode()).hexdigest(),
        )
        keep[label] = groups[:n]
    return [t for t in tracks if t.group in keep[t.label]]


@st.cache_data(max_entries=32, show_spinner=False)
def clip_audio(path: str, seconds: float = 6.0) -> np.ndarray:
    return load_audio(path, sr=FEATURES.sr, max_duration=seconds).samples


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1, 1), sr, format="WAV")
    return buf.getvalue()


@st.cache_data(max_entries=32, show_spinner="Rendering the preview…")
def augmented_wav(path: str, kind: str, amount: float) -> bytes:
    y = clip_audio(path)
    if kind == "stretch":
        y = time_stretch(y, rate=amount)
    elif kind == "shift":
        y = pitch_shift(y, sr=FEATURES.sr, n_steps=amount)
    return wav_bytes(y, FEATURES.sr)


@st.cache_data(max_entries=16, show_spinner=False)
def segment_spectrogram_of(path: str) -> np.ndarray:
    M = log_mel(clip_audio(path), config=FEATURES)
    return M[:, : FEATURES.segment_frames]


# ------------------------------------------------------------------------------ data choice
def choose_data() -> tuple[list[Track], str] | None:
    """Draw the data picker; return the tracks and a one-line description."""
    shared_root = data_dir()
    has_shared = (shared_root / "MANIFEST.md").is_file()
    source = st.radio(
        "Training data",
        DATA_SOURCES,
        horizontal=True,
        key="train_source",
        help="The built-in set is synthesized on this machine: it works on a fresh install.",
    )
    if source == DATA_SOURCES[0]:
        n = st.select_slider(
            "Clips per class", options=[4, 6, 8, 12, 16, 24], value=12, key="train_builtin_n"
        )
        st.caption(
            f"Four classes ({', '.join(BUILTIN_CLASSES)}) named after the instrument that "
            "leads each 6 s clip. Every clip has its own tempo, key, second instrument, "
            "background noise and hum, like songs with their own recording."
        )
        return builtin_set(n), f"built-in synthesized set ({n} clips per class)"

    if source == DATA_SOURCES[1]:
        if not has_shared:
            st.info(
                f"No shared data found at `{shared_root}` (set GENRECLS_DATA_DIR). "
                "Use the built-in set or upload a zip."
            )
            return None
        try:
            tracks = shared_set(str(shared_root))
        except GenreclsError as exc:
            st.error(f"The shared data cannot be indexed: {exc}")
            return None
        sources = sorted({t.source for t in tracks})
        chosen = st.multiselect(
            "Folders",
            sources,
            default=[s for s in sources if "20s" in s] or sources[:1],
            key="train_shared_sources",
        )
        per_class = st.slider(
            "At most this many songs per class", 2, 100, 20, key="train_shared_per_class"
        )
        n_test = sum(t.role == "test" for t in tracks if t.source in chosen)
        tracks = [t for t in tracks if t.source in chosen and t.role == "train"]
        if n_test:
            st.caption(
                f"{n_test} file(s) of the fixed test split are left out: they are never "
                "used for training or model selection."
            )
        return limit_per_class(tracks, per_class), f"shared data: {', '.join(chosen)}"

    upload = st.file_uploader(
        "A zip with one folder per class (an optional top folder around them is fine)",
        type=["zip"],
        key="train_zip",
    )
    if upload is None:
        st.info("Upload a zip like `rock/song1.mp3`, `jazz/take2.wav`, …")
        return None
    data = upload.getvalue()
    digest = hashlib.sha1(data).hexdigest()
    held = st.session_state.get(UPLOAD)
    if held is None or held["digest"] != digest:
        if held is not None:
            job = st.session_state.get(JOB)
            if job is None or not job.snapshot().running:  # a run may still be reading it
                held["archive"].cleanup()
            st.session_state.pop(UPLOAD)
        try:
            archive = extract_training_zip(data, limits=Limits.from_env())
        except GenreclsError as exc:
            st.error(f"**{upload.name}**: {exc}")
            return None
        try:
            with warnings.catch_warnings():
                # Empty class folders are reported from the archive below.
                warnings.simplefilter("ignore", GenreclsWarning)
                tracks = index_folder(archive.root, source="upload")
        except GenreclsError as exc:
            archive.cleanup()
            st.error(f"**{upload.name}**: {exc}")
            return None
        held = {"digest": digest, "archive": archive, "tracks": tracks}
        st.session_state[UPLOAD] = held
    archive = held["archive"]
    if archive.skipped:
        st.caption(
            f"{len(archive.skipped)} non-audio or stray file(s) skipped, e.g. "
            f"`{archive.skipped[0]}`."
        )
    for empty in archive.empty_classes:
        st.warning(f"Class folder **{empty}** holds no audio file; it is left out.")
    return held["tracks"], f"uploaded archive {upload.name}"


# ------------------------------------------------------------------------------ previews
def augmentation_previews(tracks: list[Track], *, spec_augment: bool, mixup: bool) -> None:
    by_label: dict[str, Track] = {}
    for t in tracks:
        by_label.setdefault(t.label, t)
    clips = list(by_label.values())
    names = [f"{t.label}: {t.path.name}" for t in clips]
    pick = st.selectbox(
        "Preview clip", range(len(clips)), format_func=names.__getitem__, key="train_preview_clip"
    )
    clip = str(clips[pick].path)
    try:
        clip_audio(clip)
    except GenreclsError as exc:
        st.error(f"Cannot preview {names[pick]}: {exc}")
        return
    tabs = st.tabs(["Time-stretch", "Pitch-shift", "SpecAugment", "mixup"])
    with tabs[0]:
        st.caption(
            f"Adds copies of every training song played at {STRETCH_RATES[0]}× and "
            f"{STRETCH_RATES[1]}× speed, same pitch. Computed once, cached."
        )
        cols = st.columns(3)
        cols[0].caption("Original")
        cols[0].audio(augmented_wav(clip, "none", 1.0), format="audio/wav")
        for col, rate in zip(cols[1:], STRETCH_RATES, strict=True):
            col.caption(f"{rate}× speed")
            col.audio(augmented_wav(clip, "stretch", rate), format="audio/wav")
    with tabs[1]:
        st.caption("Adds copies shifted by −2 and +2 semitones, same tempo.")
        cols = st.columns(3)
        cols[0].caption("Original")
        cols[0].audio(augmented_wav(clip, "none", 1.0), format="audio/wav")
        for col, steps in zip(cols[1:], PITCH_STEPS, strict=True):
            col.caption(f"{steps:+g} semitones")
            col.audio(augmented_wav(clip, "shift", steps), format="audio/wav")
    M = segment_spectrogram_of(clip)
    with tabs[2]:
        st.caption(
            "Every training batch gets two random frequency bands and two random time "
            "spans blanked out (Park et al., 2019), so the network cannot lean on any one "
            "of them." + ("" if spec_augment else " (Off for this run.)")
        )
        seed = st.number_input("Mask seed", 0, 999, 0, key="train_mask_seed")
        masks = draw_spec_masks((1,) + M.shape, rng=np.random.default_rng(int(seed)))
        masked = apply_spec_masks(torch.from_numpy(M[None]), masks).numpy()[0]
        a, b = st.columns(2)
        zmin, zmax = float(M.min()), float(M.max())
        a.plotly_chart(
            plots.mel_figure(M, config=FEATURES, title="One 3 s segment", zmin=zmin, zmax=zmax),
            theme=None,
            key="train_fig_spec_orig",
        )
        b.plotly_chart(
            plots.mel_figure(
                masked, config=FEATURES, title="With SpecAugment masks", zmin=zmin, zmax=zmax
            ),
            theme=None,
            key="train_fig_spec_masked",
        )
    with tabs[3]:
        other = next((t for t in clips if t.label != clips[pick].label), None)
        if other is None:
            st.info("mixup needs a clip of a second class.")
            return
        lam = 0.7
        st.caption(
            f"mixup (Zhang et al., 2018) trains on weighted blends of two examples with "
            f"blended targets: here {lam:.0%} {clips[pick].label} + {1 - lam:.0%} "
            f"{other.label}. The network sees the blend of the two spectrograms; the audio "
            "blends the waveforms the same way, for listening."
            + ("" if mixup else " (Off for this run.)")
        )
        M2 = segment_spectrogram_of(str(other.path))
        y1, y2 = clip_audio(clip), clip_audio(str(other.path))
        n = min(len(y1), len(y2))
        a, b = st.columns([2, 1])
        a.plotly_chart(
            plots.mel_figure(lam * M + (1 - lam) * M2, config=FEATURES, title="Mixed segment"),
            theme=None,
            key="train_fig_mixup",
        )
        b.audio(wav_bytes(lam * y1[:n] + (1 - lam) * y2[:n], FEATURES.sr), format="audio/wav")
        b.caption(f"target: {lam:.0%} {clips[pick].label}, {1 - lam:.0%} {other.label}")


# ------------------------------------------------------------------------------ live panel
def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"


def draw_snapshot(job: TrainingJob, snap: JobSnapshot) -> None:
    cfg = job.config
    st.caption(
        f"Run `{job.id}` · {ARCHITECTURES[cfg.architecture]} · {cfg.train.epochs} epochs · "
        f"batch {cfg.train.batch_size} · lr {cfg.train.learning_rate:g} · "
        + ("hold-out" if cfg.validation == "holdout" else f"{cfg.n_folds}-fold")
        + f" · {job.data_name}"
    )
    if snap.status == "failed":
        st.error(f"Training failed: {snap.error}")
    elif snap.status == "preparing":
        frac = snap.prep_done / snap.prep_total if snap.prep_total else 0.0
        st.progress(min(1.0, frac), text=snap.message)
    else:
        st.progress(snap.progress, text=snap.message)
    c = st.columns(4)
    c[0].metric("Elapsed", _fmt_seconds(snap.elapsed_s))
    c[1].metric("Time left", _fmt_seconds(snap.eta_s) if snap.running else "—")
    fold = snap.epochs[snap.epochs["fold"] == snap.fold] if len(snap.epochs) else snap.epochs
    c[2].metric(
        "Epoch",
        f"{int(fold['epoch'].max()) if len(fold) else 0}/{snap.n_epochs}"
        + (f" (fold {snap.fold}/{snap.n_folds})" if snap.n_folds > 1 else ""),
    )
    best = fold["valid_accuracy"].max() if len(fold) else None
    c[3].metric("Best validation accuracy", "—" if best is None else f"{best:.0%}")
    for message in snap.warnings:
        st.caption(f"⚠️ {message}")
    batches = snap.batches[snap.batches["fold"] == snap.fold]
    if len(batches):
        left, right = st.columns(2)
        for col, metric in ((left, "loss"), (right, "accuracy")):
            col.plotly_chart(
                plots.training_curve_figure(
                    batches["epoch_progress"].to_numpy(),
                    batches[metric].to_numpy(),
                    epoch_x=fold["epoch"].to_numpy(),
                    train_values=fold[f"train_{metric}"].to_numpy(),
                    valid_values=fold[f"valid_{metric}"].to_numpy(),
                    metric=metric,
                    n_epochs=snap.n_epochs,
                ),
                theme=None,
                key=f"train_fig_{metric}",
            )
    if snap.confusion is not None:
        left, _ = st.columns([3, 2])
        epoch = int(fold["epoch"].max()) if len(fold) else 0
        left.plotly_chart(
            confusion_figure(job.id, snap.fold, epoch, snap.confusion, snap.labels),
            theme=None,
            key="train_fig_confusion",
        )


@st.cache_resource(max_entries=4, show_spinner=False)
def confusion_figure(job_id: str, fold: int, epoch: int, _cm: np.ndarray, labels: tuple):
    """The confusion heatmap changes once per epoch: build it once per epoch."""
    return plots.confusion_heatmap_figure(
        _cm, labels=labels, title=f"Validation confusion, epoch {epoch}"
    )


@st.fragment(run_every=LIVE_EVERY_S)
def live_panel() -> None:
    job: TrainingJob | None = st.session_state.get(JOB)
    if job is None:
        return
    snap = job.snapshot()
    if not snap.running:
        st.rerun()  # draw the finished run (and the save form) once, without polling
    if st.button(
        "⏹ Stop after this batch",
        key="train_stop",
        disabled=snap.status == "stopping",
        help="Training ends after the current batch; the best epoch so far is kept.",
    ):
        job.stop()
        snap = job.snapshot()
    draw_snapshot(job, snap)


def save_form(job: TrainingJob, snap: JobSnapshot) -> None:
    result = snap.result
    st.subheader("Result")
    c = st.columns(4)
    c[0].metric("Accuracy (segments)", f"{result['valid_accuracy']:.0%}")
    c[1].metric("Accuracy (songs)", f"{result['clip_accuracy']:.0%}")
    c[2].metric("Macro-F1", f"{result['valid_macro_f1']:.2f}")
    c[3].metric("Best epoch", result["best_epoch"])
    if result["n_folds"] > 1:
        st.caption(
            "Folds: "
            + ", ".join(f"{a:.0%}" for a in result["fold_valid_accuracy"])
            + f" — mean {result['mean_valid_accuracy']:.0%}. The model of the best fold "
            f"(fold {result['fold']}) is the one saved."
        )
    st.caption(
        f"Measured on {result['n_valid_segments']} segments of {result['n_valid_clips']} "
        "songs the model never trained on."
    )
    name = st.text_input("Model name", value="my-genre-model", key="train_model_name", max_chars=64)
    problem = None
    try:
        path = user_model_path(safe_model_name(name))
    except GenreclsError as exc:
        problem, path = str(exc), None
    if problem:
        st.error(problem)
    overwrite = False
    if path is not None and path.exists():
        overwrite = st.checkbox(
            f"A model called **{name}** exists: replace it", key="train_overwrite"
        )
    if st.button(
        "💾 Save model",
        key="train_save",
        type="primary",
        disabled=path is None or (path.exists() and not overwrite),
    ):
        try:
            saved = job.save(name, overwrite=overwrite)
        except GenreclsError as exc:
            st.error(f"Not saved: {exc}")
        else:
            st.success(f"Saved **{name}** to `{saved}` with its model card.")
    if snap.saved_path is not None:
        st.page_link(
            "pages/classify.py", label=f"Classify a clip with {snap.saved_path.stem} →", icon="🎧"
        )


# ------------------------------------------------------------------------------ leakage demo
@st.fragment(run_every=LIVE_EVERY_S)
def leakage_live() -> None:
    task: BackgroundTask | None = st.session_state.get(LEAK)
    if task is None:
        return
    if not task.running:
        st.rerun()
    st.info(f"{task.message} ({task.elapsed_s:.0f} s)")


def leakage_section(tracks: list[Track] | None) -> None:
    st.subheader("Leakage demo: why splits must be by song")
    st.markdown(
        "Most genre-classification tutorials cut every song into segments and split the "
        "**segments** at random. Then almost every validation segment has a sibling from "
        "the same song in training, and the model is rewarded for recognising the song "
        "(its mix, its noise, its singer) instead of the genre. One click trains the same "
        "model on both splits of the same data."
    )
    kind = st.radio(
        "Model",
        ["cnn", "linear"],
        format_func={
            "cnn": "Small CNN, 6 epochs (about 20–40 s on the built-in set)",
            "linear": "Logistic regression on log-mel statistics, 5 seeds (seconds)",
        }.get,
        horizontal=True,
        key="train_leak_model",
    )
    task: BackgroundTask | None = st.session_state.get(LEAK)
    running = task is not None and task.running
    if st.button("Run the leakage demo", key="train_leak_run", disabled=running or not tracks):
        data_tracks = list(tracks)
        labels = tuple(sorted({t.label for t in data_tracks}))

        def work(progress, stop):
            torch.set_num_threads(1)
            progress("Computing spectrograms")
            data = prepare_segments(
                data_tracks,
                labels=labels,
                config=FEATURES,
                stop=stop,
                on_progress=lambda d, n: progress(f"Computing spectrograms {d}/{n}"),
            )
            return leakage_demo(data, model=kind, stop=stop, on_progress=progress)

        st.session_state[LEAK] = BackgroundTask(work, name="leakage")
        running = True
    if running:
        leakage_live()
        return
    if task is None:
        return
    if task.status == "failed":
        st.error(f"The demo failed: {task.error}")
        return
    r = task.result
    c = st.columns(3)
    c[0].metric("Random segment split (leaky)", f"{r['random']['valid_accuracy']:.0%}")
    c[1].metric("Song-grouped split", f"{r['grouped']['valid_accuracy']:.0%}")
    c[2].metric("Inflation", f"{100 * r['gap']:+.0f} points")
    st.caption(
        f"{r['random']['valid_songs_also_in_train']:.0%} of the leaky split's validation "
        f"segments come from songs it also trained on (grouped split: "
        f"{r['grouped']['valid_songs_also_in_train']:.0%}). Both validate on "
        f"{r['grouped']['n_valid']} segments; chance (largest class) is {r['chance']:.0%}. "
        f"Took {r['seconds']:.0f} s."
    )


# ------------------------------------------------------------------------------ layout
st.title("🏋️ Train a genre model")
st.caption(
    "Train on the built-in set, the shared data or your own zip; watch the curves; save the "
    "model and pick it on the Classify page. The run continues while you use other pages."
)

st.header("1 · Data")
chosen = choose_data()
tracks: list[Track] | None = None
data_name = ""
if chosen is not None:
    tracks, data_name = chosen
    table, problems = data_overview(tracks)
    st.dataframe(table, hide_index=True, key="train_data_table")
    for problem in problems:
        st.warning(problem)

st.header("2 · Settings")
a, b, c, d = st.columns(4)
architecture = a.selectbox(
    "Architecture", list(ARCHITECTURES), format_func=ARCHITECTURES.get, key="train_arch"
)
epochs = b.slider("Epochs", 1, 50, 8, key="train_epochs")
batch_size = c.select_slider("Batch size", [4, 8, 16, 32, 64], value=16, key="train_batch")
lr = d.select_slider(
    "Learning rate",
    [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
    value=3e-3 if architecture == "cnn" else 1e-3,
    format_func=lambda x: f"{x:g}",
    key="train_lr",
)
if architecture == "musicnn_finetune":
    st.warning(
        "Fine-tuning runs the whole pretrained network (about 0.1–0.4 s per 3 s segment "
        "on this CPU) forward and backward every epoch: expect minutes per epoch. The "
        "frozen backbone computes its features once and trains only the head."
    )
frozen = architecture == "musicnn_frozen"
a, b, c, d = st.columns(4)
use_stretch = a.checkbox("Time-stretch", key="train_aug_stretch")
use_shift = b.checkbox("Pitch-shift", key="train_aug_shift")
use_spec = c.checkbox(
    "SpecAugment",
    key="train_aug_spec",
    disabled=frozen,
    help="Not with a frozen backbone: it trains on features, not spectrograms." if frozen else None,
)
use_mixup = d.checkbox("mixup", key="train_aug_mixup")
if tracks and st.toggle("Hear and see the augmentations on one clip", key="train_previews"):
    with st.container(border=True):
        augmentation_previews(tracks, spec_augment=use_spec, mixup=use_mixup)
a, b = st.columns(2)
scheme = a.radio(
    "Validation (always grouped by song)",
    ["holdout", "kfold"],
    format_func={"holdout": "Hold-out", "kfold": "k-fold"}.get,
    horizontal=True,
    key="train_scheme",
)
if scheme == "holdout":
    valid_fraction = b.slider(
        "Songs held out per class", 0.1, 0.5, 0.25, step=0.05, key="train_valid_fraction"
    )
    n_folds = 4
else:
    n_folds = b.slider("Folds", 2, 10, 4, key="train_folds")
    valid_fraction = 0.25

st.header("3 · Train")
job: TrainingJob | None = st.session_state.get(JOB)
running = job is not None and job.snapshot().running
if st.button(
    "▶ Start training",
    key="train_start",
    type="primary",
    disabled=running or not tracks,
    help="Runs in the background: you may change pages meanwhile.",
):
    try:
        config = JobConfig(
            architecture=architecture,
            train=TrainConfig(
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=lr,
                spec_augment=bool(use_spec and not frozen),
                mixup_alpha=MIXUP_ALPHA if use_mixup else 0.0,
            ),
            validation=scheme,
            valid_fraction=valid_fraction,
            n_folds=n_folds,
            stretch_rates=STRETCH_RATES if use_stretch else (),
            pitch_steps=PITCH_STEPS if use_shift else (),
        )
        new = TrainingJob(tracks, config=config, data_name=data_name)
    except GenreclsError as exc:
        st.error(f"Cannot start: {exc}")
    else:
        if job is not None:
            job.cleanup()
        job = st.session_state[JOB] = new.start()
        running = True

if job is None:
    st.info("Choose data and settings, then press **Start training**.")
elif running:
    live_panel()
else:
    snap = job.snapshot()
    draw_snapshot(job, snap)
    if snap.can_save:
        save_form(job, snap)

st.divider()
leakage_section(tracks)
