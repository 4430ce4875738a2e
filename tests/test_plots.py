import numpy as np

from genrecls import features, plots
from genrecls.features import DISPLAY_CONFIG
from genrecls.synth import chord_progression


def test_figures_have_labelled_axes():
    y = chord_progression(sr=DISPLAY_CONFIG.sr, seconds=2.0)
    figs = [
        plots.waveform_figure(*features.waveform_envelope(y, sr=DISPLAY_CONFIG.sr)),
        plots.mel_figure(features.log_mel(y, config=DISPLAY_CONFIG), config=DISPLAY_CONFIG),
        plots.mfcc_figure(features.mfcc(y, config=DISPLAY_CONFIG), config=DISPLAY_CONFIG),
        plots.chroma_figure(features.chroma(y, config=DISPLAY_CONFIG), config=DISPLAY_CONFIG),
    ]
    for fig in figs:
        assert fig.layout.xaxis.title.text == "Time (s)"
        assert fig.layout.yaxis.title.text
    # Time axis spans the clip.
    assert figs[1].data[0].x[-1] == np.float64(
        features.frame_times(figs[1].data[0].z.shape[1], config=DISPLAY_CONFIG)[-1]
    )
    assert 1.9 < figs[1].data[0].x[-1] <= 2.0
    assert list(figs[3].data[0].y) == list(features.PITCH_CLASSES)
    assert "Hz" in figs[1].layout.yaxis.title.text


def test_probability_bar_shows_top_k_in_order():
    fig = plots.probability_bar_figure([0.1, 0.6, 0.3], labels=["a", "b", "c"], top_k=2)
    assert list(fig.data[0].y) == ["c", "b"]  # plotted bottom-up: best on top


def test_long_spectrograms_are_decimated_for_the_browser():
    M = np.random.default_rng(0).random((128, 30_000)).astype(np.float32)
    fig = plots.mel_figure(M, config=DISPLAY_CONFIG)
    z = np.asarray(fig.data[0].z)
    assert z.shape[0] == 128 and z.shape[1] <= plots.MAX_COLUMNS
    duration = features.frame_times(30_000, config=DISPLAY_CONFIG)[-1]
    assert fig.data[0].x[-1] > 0.99 * duration
    np.testing.assert_allclose(z.mean(), M.mean(), rtol=1e-3)  # block means keep the level
    overlay = plots.saliency_overlay_figure(M, M, config=DISPLAY_CONFIG, scale=1.0)
    assert np.asarray(overlay.data[1].z).shape == z.shape


def test_no_colour_streamlit_would_replace():
    # Streamlit's chart component swaps "#000001", "#000002", ... anywhere in a figure's
    # JSON for its theme colours: Magma's black "#000004" came out lavender on Explore
    import re

    y = chord_progression(sr=DISPLAY_CONFIG.sr, seconds=2.0)
    M = features.log_mel(y, config=DISPLAY_CONFIG)
    figs = [
        plots.mel_figure(M, config=DISPLAY_CONFIG),
        plots.mfcc_figure(features.mfcc(y, config=DISPLAY_CONFIG), config=DISPLAY_CONFIG),
        plots.chroma_figure(features.chroma(y, config=DISPLAY_CONFIG), config=DISPLAY_CONFIG),
        plots.saliency_overlay_figure(M, np.abs(M), config=DISPLAY_CONFIG, scale=1.0),
        plots.confusion_heatmap_figure(np.eye(3, dtype=int), labels=["a", "b", "c"]),
    ]
    for fig in figs:
        assert not re.search(r"#0000[0-9a-f]{2}\b", fig.to_json(), flags=re.IGNORECASE)
    magma = figs[0].data[0].colorscale
    assert magma[0][1] == "rgb(0, 0, 4)" and len(magma) == 10  # the same scale, spelled out
