"""Interactive plotly figures of audio and features, with real axes.

Functions here take arrays and return :class:`plotly.graph_objects.Figure` objects; they
compute nothing expensive, so a caller can cache features and figures separately.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from genrecls.exceptions import ParameterError
from genrecls.features import PITCH_CLASSES, FeatureConfig, frame_times, mel_frequencies

#: Most time columns a heatmap sends to the browser; longer ones are block-averaged.
MAX_COLUMNS = 1600


def _decimate(Z: np.ndarray, times: np.ndarray, *, max_columns: int = MAX_COLUMNS):
    """Average blocks of columns so a long spectrogram stays light in the browser."""
    n = Z.shape[1]
    if n <= max_columns:
        return Z, times
    step = int(np.ceil(n / max_columns))
    m = n // step
    Zd = Z[:, : m * step].reshape(Z.shape[0], m, step).mean(axis=2)
    return Zd, times[: m * step].reshape(m, step).mean(axis=1)


_LAYOUT = dict(margin=dict(l=60, r=20, t=40, b=45), height=320, template="plotly_white")

# Figures redrawn every second or two while a model trains: a named template costs more
# than the rest of the figure (about 50 ms to build), so these are styled by hand.
_LIVE_LAYOUT = dict(
    margin=dict(l=60, r=20, t=40, b=45),
    height=300,
    template="none",
    plot_bgcolor="white",
    paper_bgcolor="white",
    font=dict(color="#2a3f5f"),
)
_LIVE_GRID = dict(showgrid=True, gridcolor="#e5ecf6", zeroline=False, linecolor="#c8d4e3")


def waveform_figure(
    times: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, title: str = "Waveform"
) -> go.Figure:
    """Plot a waveform envelope (see :func:`genrecls.features.waveform_envelope`).

    Parameters
    ----------
    times : np.ndarray [shape=(m,)]
        Bucket centres in seconds.
    lower, upper : np.ndarray [shape=(m,)]
        Minimum and maximum sample per bucket.
    title : str
        Figure title.

    Returns
    -------
    fig : plotly.graph_objects.Figure
    """
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=times,
            y=upper,
            mode="lines",
            line=dict(width=0.5, color="#1f77b4"),
            name="max",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=times,
            y=lower,
            mode="lines",
            line=dict(width=0.5, color="#1f77b4"),
            fill="tonexty",
            name="min",
            showlegend=False,
            hovertemplate="t=%{x:.2f} s<extra></extra>",
        )
    )
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_xaxes(title_text="Time (s)")
    fig.update_yaxes(title_text="Amplitude", range=[-1.05, 1.05])
    return fig


def mel_figure(
    M: np.ndarray,
    *,
    config: FeatureConfig,
    title: str = "Mel spectrogram",
    zmin: float | None = None,
    zmax: float | None = None,
    colorbar_title: str | None = None,
) -> go.Figure:
    """Plot a (log) mel spectrogram with time in seconds and frequency in Hz.

    The vertical axis is the mel band index, labelled with band centre frequencies in Hz,
    so the picture keeps the mel scale's spacing.

    Parameters
    ----------
    M : np.ndarray [shape=(n_mels, t)]
        Log mel spectrogram computed with ``config``.
    config : FeatureConfig
        The parameters used to compute ``M`` (for the axes).
    title : str
        Figure title.
    zmin, zmax : float or None
        Colour range; ``None`` uses the data range.
    colorbar_title : str or None
        Unit shown on the colour bar; default from ``config.compression``.

    Returns
    -------
    fig : plotly.graph_objects.Figure
    """
    n_mels, n_frames = M.shape
    M, times = _decimate(M, frame_times(n_frames, config=config))
    freqs = mel_frequencies(config=config)
    ticks = _mel_ticks(freqs)
    unit = colorbar_title or ("dB" if config.compression == "db" else "log10(1+10⁴·S)")
    fig = go.Figure(
        go.Heatmap(
            z=M,
            x=times,
            y=np.arange(n_mels),
            colorscale=_colorscale("Magma"),
            zmin=zmin,
            zmax=zmax,
            colorbar=dict(title=unit),
            customdata=_band_hz(freqs, M.shape),
            hovertemplate="t=%{x:.2f} s<br>f≈%{customdata} Hz<br>%{z:.1f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_xaxes(title_text="Time (s)")
    fig.update_yaxes(
        title_text="Frequency (Hz, mel scale)",
        tickvals=[t[0] for t in ticks],
        ticktext=[t[1] for t in ticks],
    )
    return fig


def _colorscale(name: str) -> list[list]:
    """The plotly colour scale ``name`` with every colour written ``rgb(r, g, b)``.

    Streamlit's chart component replaces the colours ``#000001``, ``#000002``, … anywhere in
    a figure's JSON with its theme's colours (they are its placeholders, ``theme=None`` or
    not), so Magma's black ``#000004`` was drawn lavender; ``rgb(0, 0, 4)`` is left alone.
    """
    scale = []
    for position, colour in plotly.colors.get_colorscale(name):
        if colour.startswith("#"):
            colour = "rgb({}, {}, {})".format(*plotly.colors.hex_to_rgb(colour))
        scale.append([position, colour])
    return scale


def _band_hz(freqs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Each cell's band centre in whole Hz, for the hover text.

    16-bit integers: a quarter of the bytes of a float64 grid, which was half of a 30 s
    clip's Grad-CAM figure as sent to the browser.
    """
    return np.broadcast_to(np.rint(freqs).astype(np.int16)[:, None], shape)


def _mel_ticks(freqs: np.ndarray) -> list[tuple[int, str]]:
    """Pick band indices near round frequencies for axis labels."""
    targets = [64, 128, 256, 512, 1000, 2000, 4000, 8000, 16000]
    ticks = []
    for f in targets:
        if freqs[0] <= f <= freqs[-1] * 1.01:
            i = int(np.argmin(np.abs(freqs - f)))
            ticks.append((i, f"{f / 1000:g}k" if f >= 1000 else f"{f}"))
    return ticks


def mfcc_figure(C: np.ndarray, *, config: FeatureConfig, title: str = "MFCC") -> go.Figure:
    """Plot MFCCs over time.

    Parameters
    ----------
    C : np.ndarray [shape=(n_mfcc, t)]
        Coefficients computed with ``config``.
    config : FeatureConfig
        The parameters used (for the time axis).
    title : str
        Figure title.

    Returns
    -------
    fig : plotly.graph_objects.Figure
    """
    C, times = _decimate(C, frame_times(C.shape[1], config=config))
    lim = float(np.max(np.abs(C[1:]))) if C.shape[0] > 1 else None
    fig = go.Figure(
        go.Heatmap(
            z=C,
            x=times,
            y=np.arange(C.shape[0]),
            colorscale=_colorscale("RdBu_r"),
            zmid=0,
            zmin=-lim if lim else None,
            zmax=lim,
            colorbar=dict(title="value"),
            hovertemplate="t=%{x:.2f} s<br>MFCC %{y}<br>%{z:.1f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_xaxes(title_text="Time (s)")
    fig.update_yaxes(title_text="Coefficient")
    return fig


def chroma_figure(C: np.ndarray, *, config: FeatureConfig, title: str = "Chroma") -> go.Figure:
    """Plot a chromagram with pitch-class names.

    Parameters
    ----------
    C : np.ndarray [shape=(12, t)]
        Chroma computed with ``config``.
    config : FeatureConfig
        The parameters used (for the time axis).
    title : str
        Figure title.

    Returns
    -------
    fig : plotly.graph_objects.Figure
    """
    C, times = _decimate(C, frame_times(C.shape[1], config=config))
    fig = go.Figure(
        go.Heatmap(
            z=C,
            x=times,
            y=list(PITCH_CLASSES),
            colorscale=_colorscale("Viridis"),
            zmin=0,
            zmax=1,
            colorbar=dict(title="energy"),
            hovertemplate="t=%{x:.2f} s<br>%{y}<br>%{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_xaxes(title_text="Time (s)")
    fig.update_yaxes(title_text="Pitch class")
    return fig


def probability_bar_figure(
    probabilities: Sequence[float],
    *,
    labels: Sequence[str],
    top_k: int = 3,
    title: str = "Top genres",
) -> go.Figure:
    """Plot the ``top_k`` class probabilities as a horizontal bar chart.

    Parameters
    ----------
    probabilities : sequence of float [shape=(n_classes,)]
        Class probabilities summing to 1.
    labels : sequence of str [shape=(n_classes,)]
        Class names.
    top_k : int > 0
        Number of bars.
    title : str
        Figure title.

    Returns
    -------
    fig : plotly.graph_objects.Figure
    """
    p = np.asarray(probabilities, dtype=float)
    order = np.argsort(p)[::-1][:top_k][::-1]
    fig = go.Figure(
        go.Bar(
            x=p[order] * 100,
            y=[labels[i] for i in order],
            orientation="h",
            text=[f"{p[i] * 100:.0f}%" for i in order],
            textposition="auto",
            marker_color="#4c78a8",
        )
    )
    fig.update_layout(title=title, **{**_LAYOUT, "height": 90 + 45 * len(order)})
    fig.update_xaxes(title_text="Probability (%)", range=[0, 100])
    return fig


#: One colour per genre, stable across figures (Tableau 10).
GENRE_COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


def genre_timeline_figure(
    starts: np.ndarray,
    ends: np.ndarray,
    probabilities: np.ndarray,
    *,
    labels: Sequence[str],
    title: str = "Genre over time",
) -> go.Figure:
    """Plot per-segment genre probabilities as a stacked area over time.

    Parameters
    ----------
    starts, ends : np.ndarray [shape=(n_segments,)]
        Segment boundaries in seconds.
    probabilities : np.ndarray [shape=(n_segments, n_classes)]
        Probabilities of each segment.
    labels : sequence of str [shape=(n_classes,)]
        Class names.
    title : str
        Figure title.

    Returns
    -------
    fig : plotly.graph_objects.Figure
        Each segment is drawn at its centre time; hover shows the probability.
    """
    centres = (np.asarray(starts) + np.asarray(ends)) / 2
    order = np.argsort(centres)
    fig = go.Figure()
    for k, label in enumerate(labels):
        fig.add_trace(
            go.Scatter(
                x=centres[order],
                y=probabilities[order, k] * 100,
                name=label,
                mode="lines",
                stackgroup="genres",
                line=dict(width=0.5, shape="hvh"),
                fillcolor=GENRE_COLOURS[k % len(GENRE_COLOURS)],
                marker_color=GENRE_COLOURS[k % len(GENRE_COLOURS)],
                hovertemplate=f"{label}: %{{y:.0f}}%<br>t=%{{x:.1f}} s<extra></extra>",
            )
        )
    fig.update_layout(
        title=title, **{**_LAYOUT, "height": 300}, legend=dict(orientation="h", y=-0.25)
    )
    fig.update_xaxes(title_text="Time (s)")
    fig.update_yaxes(title_text="Probability (%)", range=[0, 100])
    return fig


def saliency_overlay_figure(
    M: np.ndarray,
    saliency: np.ndarray,
    *,
    config: FeatureConfig,
    scale: float,
    title: str = "What the network looked at (Grad-CAM)",
    opacity: float = 0.55,
) -> go.Figure:
    """Lay a Grad-CAM map over a log-mel spectrogram.

    Parameters
    ----------
    M : np.ndarray [shape=(n_mels, t)]
        Log-mel spectrogram, drawn in grey.
    saliency : np.ndarray [shape=(n_mels, t)]
        Non-negative saliency on the same grid.
    config : FeatureConfig
        Front end of ``M`` (axes).
    scale : float > 0
        Saliency value drawn at full colour: one scale for the whole track, so segments
        with weak evidence look weak.
    title : str
        Figure title.
    opacity : float in (0, 1]
        Opacity of the saliency layer.

    Returns
    -------
    fig : plotly.graph_objects.Figure
    """
    n_mels, n_frames = M.shape
    times = frame_times(n_frames, config=config)
    M, _ = _decimate(M, times)
    saliency, times = _decimate(np.asarray(saliency, dtype=np.float32), times)
    freqs = mel_frequencies(config=config)
    ticks = _mel_ticks(freqs)
    heat = saliency / max(float(scale), 1e-12)
    heat = np.where(heat < 0.05, np.nan, np.clip(heat, 0, 1))  # transparent where no evidence
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            z=M,
            x=times,
            y=np.arange(n_mels),
            colorscale=_colorscale("Greys"),
            reversescale=True,
            showscale=False,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Heatmap(
            z=heat,
            x=times,
            y=np.arange(n_mels),
            colorscale=_colorscale("Jet"),
            zmin=0,
            zmax=1,
            opacity=opacity,
            colorbar=dict(title="evidence"),
            customdata=_band_hz(freqs, M.shape),
            hovertemplate="t=%{x:.2f} s<br>f≈%{customdata} Hz<br>%{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, **{**_LAYOUT, "height": 380})
    fig.update_xaxes(title_text="Time (s)")
    fig.update_yaxes(
        title_text="Frequency (Hz, mel scale)",
        tickvals=[t[0] for t in ticks],
        ticktext=[t[1] for t in ticks],
    )
    return fig


def training_curve_figure(
    batch_x: np.ndarray,
    batch_values: np.ndarray,
    *,
    epoch_x: np.ndarray,
    train_values: np.ndarray,
    valid_values: np.ndarray | None = None,
    metric: str = "loss",
    n_epochs: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """Plot a training curve: every batch faintly, epoch means and validation boldly.

    Parameters
    ----------
    batch_x : np.ndarray [shape=(n_batches,)]
        Position of each batch in epochs (``epoch - 1 + batch / n_batches``).
    batch_values : np.ndarray [shape=(n_batches,)]
        The metric of each training batch.
    epoch_x : np.ndarray [shape=(n_epochs_done,)]
        Epoch numbers (from 1).
    train_values : np.ndarray [shape=(n_epochs_done,)]
        The metric over each whole epoch of training.
    valid_values : np.ndarray [shape=(n_epochs_done,)] or None
        The metric on the validation set after each epoch.
    metric : str
        ``"loss"`` or ``"accuracy"`` (accuracy is drawn on a 0–1 axis).
    n_epochs : int or None
        Planned number of epochs: fixes the horizontal axis so the curve grows into it.
    title : str or None
        Figure title (default: the metric's name).

    Returns
    -------
    fig : plotly.graph_objects.Figure
    """
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=np.asarray(batch_x),
            y=np.asarray(batch_values),
            mode="lines",
            line=dict(width=1, color="rgba(31,119,180,0.35)"),
            name="train (each batch)",
            hovertemplate="epoch %{x:.2f}<br>%{y:.3f}<extra>batch</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=np.asarray(epoch_x),
            y=np.asarray(train_values),
            mode="lines+markers",
            line=dict(width=2, color="#1f77b4"),
            name="train (epoch)",
            hovertemplate="epoch %{x}<br>%{y:.3f}<extra>train</extra>",
        )
    )
    if valid_values is not None:
        fig.add_trace(
            go.Scatter(
                x=np.asarray(epoch_x),
                y=np.asarray(valid_values, dtype=float),
                mode="lines+markers",
                line=dict(width=2, color="#d62728"),
                name="validation",
                hovertemplate="epoch %{x}<br>%{y:.3f}<extra>validation</extra>",
            )
        )
    name = "Accuracy" if metric == "accuracy" else "Loss (cross entropy)"
    fig.update_layout(
        title=title or name,
        **{**_LIVE_LAYOUT, "height": 350, "margin": dict(l=60, r=20, t=40, b=100)},
        legend=dict(orientation="h", yanchor="top", y=-0.33, x=0.0, xanchor="left"),
    )
    fig.update_xaxes(
        title_text="Epoch", range=[0, max(1, n_epochs or 0)] if n_epochs else None, **_LIVE_GRID
    )
    fig.update_yaxes(
        title_text=name, range=[0, 1.02] if metric == "accuracy" else None, **_LIVE_GRID
    )
    return fig


def confusion_heatmap_figure(
    cm: np.ndarray, *, labels: Sequence[str], title: str = "Validation confusion matrix"
) -> go.Figure:
    """Plot a confusion matrix: colour = share of the true class, text = count.

    Parameters
    ----------
    cm : np.ndarray [shape=(n_classes, n_classes)]
        Counts; rows are the true class, columns the predicted class.
    labels : sequence of str [shape=(n_classes,)]
        Class names.
    title : str
        Figure title.

    Returns
    -------
    fig : plotly.graph_objects.Figure
        True classes top to bottom in ``labels`` order.
    """
    cm = np.asarray(cm)
    labels = list(labels)
    if cm.ndim != 2 or cm.shape != (len(labels), len(labels)):
        raise ParameterError(f"cm must be square with one row per label, got {cm.shape}")
    totals = cm.sum(axis=1, keepdims=True)
    rates = np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)
    fig = go.Figure(
        go.Heatmap(
            z=rates,
            x=labels,
            y=labels,
            text=cm.astype(int),
            texttemplate="%{text}",
            colorscale=_colorscale("Blues"),
            zmin=0,
            zmax=1,
            colorbar=dict(title="share of<br>true class"),
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text} (%{z:.0%})<extra></extra>",
        )
    )
    size = 140 + 40 * len(labels)
    fig.update_layout(title=title, **{**_LIVE_LAYOUT, "height": max(300, size)})
    fig.update_xaxes(title_text="Predicted", side="bottom")
    fig.update_yaxes(title_text="True", autorange="reversed")
    return fig


def deletion_curves_figure(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]], *, title: str = "Deletion curves"
) -> go.Figure:
    """Plot deletion curves: each map's salient-first curve beside its random control.

    Parameters
    ----------
    curves : sequence of (str, np.ndarray, np.ndarray)
        ``(name, salient, random)``: the explained genre's mean probability after deleting
        ``k / steps`` of the blocks (``steps + 1`` points each), most salient first and in
        random order (:func:`genrecls.trust.trust_report`).
    title : str

    Returns
    -------
    fig : plotly.graph_objects.Figure
        Salient curves solid, their random controls dotted in the same colour.
    """
    if not curves:
        raise ParameterError("curves is empty")
    palette = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
    fig = go.Figure()
    for i, (name, salient, random) in enumerate(curves):
        salient, random = np.asarray(salient, float), np.asarray(random, float)
        if salient.ndim != 1 or salient.shape != random.shape or salient.size < 2:
            raise ParameterError(f"curves of {name!r} must be two 1-D arrays of one length >= 2")
        x = np.linspace(0, 100, salient.size)
        color = palette[i % len(palette)]
        fig.add_scatter(x=x, y=salient, name=f"{name}: salient first", line=dict(color=color))
        fig.add_scatter(x=x, y=random, name=f"{name}: random", line=dict(color=color, dash="dot"))
    fig.update_layout(
        title=title,
        xaxis_title="blocks deleted (%)",
        yaxis_title="probability of the explained genre",
        yaxis_range=[0, 1],
        height=360,
        margin=dict(l=60, r=20, t=50, b=50),
    )
    return fig
