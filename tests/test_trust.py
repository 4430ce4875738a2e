"""The trust report: deletion and randomisation checks of every saliency map."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from genrecls.config import PROJECT_ROOT
from genrecls.exceptions import ParameterError
from genrecls.predict import GenrePredictor
from genrecls.synth import drum_loop, piano_melody
from genrecls.trust import (
    FILLS,
    KINDS,
    clip_segments,
    deletion_check,
    render_trust_text,
    trust_report,
)


@pytest.fixture
def predictor(tiny_model_path):
    return GenrePredictor.from_file(tiny_model_path)


def _segments(predictor, y):
    from genrecls.features import segment_spectrogram

    return segment_spectrogram(predictor.spectrogram(y), config=predictor.feature_config)[0][:2]


def test_trust_report_covers_every_map_and_layer(predictor):
    clips = {
        "drums": _segments(predictor, drum_loop(sr=16000, seconds=6.0)),
        "piano": _segments(predictor, piano_melody(sr=16000, seconds=6.0)),
    }
    report = trust_report(predictor, {"synthetic": clips}, steps=3)
    layers = list(predictor.model.gradcam_layers())
    assert [(r["kind"], r["layer"], r["fill"]) for r in report["rows"]] == [
        (k, layer, fill) for k in KINDS for layer in layers for fill in FILLS
    ]
    assert len(report["clips"]) == len(KINDS) * len(layers) * len(FILLS) * len(clips)
    for kind in KINDS:  # one map per (kind, layer, clip): ρ is the same for every fill
        for layer in layers:
            rhos = {
                (c["clip"], c["fill"]): c["randomization_spearman"]
                for c in report["clips"]
                if c["kind"] == kind and c["layer"] == layer
            }
            for clip in clips:
                assert rhos[(clip, "mean")] == rhos[(clip, "inpaint")]
    for r in report["rows"]:
        assert r["clips"] == 2 and 0 <= r["salient_wins"] <= 2
        assert 0 <= r["auc_salient"] <= 1 and 0 <= r["auc_random"] <= 1
        assert len(r["curve_salient"]) == len(r["curve_random"]) == 4
        assert r["curve_salient"][0] == pytest.approx(r["curve_random"][0])  # nothing deleted
    assert "Grad-CAM" in report["text"] and "LayerCAM" in report["text"]
    json.dumps(report)  # written as JSON by python -m genrecls saliency-report


def test_deletion_check_validates_and_is_reproducible(predictor):
    segs = _segments(predictor, drum_loop(sr=16000, seconds=4.0))
    layer = list(predictor.model.gradcam_layers())[-1]
    a = deletion_check(predictor.model, segs, layer=layer, kind="layercam", steps=2)
    b = deletion_check(predictor.model, segs, layer=layer, kind="layercam", steps=2)
    assert a == b
    with pytest.raises(ParameterError, match="n_random"):
        deletion_check(predictor.model, segs, layer=layer, kind="gradcam", n_random=0)
    with pytest.raises(ParameterError, match="kind"):
        trust_report(predictor, {"x": {"c": segs}}, kinds=("occlusion",), steps=2)
    with pytest.raises(ParameterError, match="fill"):
        trust_report(predictor, {"x": {"c": segs}}, fills=("zeros",), steps=2)
    with pytest.raises(ParameterError, match="fill"):
        deletion_check(predictor.model, segs, layer=layer, kind="gradcam", fill="zeros")
    c = deletion_check(predictor.model, segs, layer=layer, kind="layercam", steps=2, fill="inpaint")
    assert c["target"] == a["target"] and c["curve_salient"][0] == a["curve_salient"][0]
    assert c == deletion_check(
        predictor.model, segs, layer=layer, kind="layercam", steps=2, fill="inpaint"
    )
    from genrecls.saliency import grad_cam

    cam = grad_cam(predictor.model, segs, layer=layer, kind="layercam")
    assert a == deletion_check(
        predictor.model, segs, layer=layer, kind="layercam", steps=2, cam=cam
    )


#: A summary row of a Grad-CAM map that fails the deletion check (salient 0.5 > random 0.4).
FAILING_ROW = {
    "set": "demo clips",
    "kind": "gradcam",
    "layer": "conv",
    "clips": 3,
    "auc_salient": 0.5,
    "auc_random": 0.4,
    "salient_wins": 1,
    "randomization_spearman": 0.1,
}


def test_render_says_when_nothing_passes():
    row = FAILING_ROW
    # a report from before the fills: every row filled with the clip mean
    report = {"settings": {"steps": 10, "region": [8, 8]}, "rows": [row]}
    assert "the deletion check passes for no map" in render_trust_text(report)
    report["rows"] = [row, {**row, "kind": "layercam", "auc_salient": 0.2}]
    text = render_trust_text(report)
    assert "passes on average for LayerCAM at `conv` (demo clips), and fails for the other 1" in (
        text
    )
    assert "| demo clips | Grad-CAM | `conv` | 0.500 / 0.400 (1/3) | 0.10 |" in text
    assert "imputed" not in text


def test_render_reports_each_fill():
    row = {**FAILING_ROW, "fill": "mean"}
    report = {
        "settings": {"steps": 10, "region": [8, 8], "fills": ["mean", "inpaint"]},
        "rows": [row, {**row, "fill": "inpaint", "auc_salient": 0.3, "salient_wins": 2}],
    }
    text = render_trust_text(report)
    assert "Filled with the clip mean, the deletion check passes for no map" in text
    assert "Blocks imputed from neighbours, the deletion check passes on average for " in text
    assert "Grad-CAM at `conv` (demo clips)." in text
    assert (
        "| demo clips | Grad-CAM | `conv` | 0.500 / 0.400 (1/3) | 0.300 / 0.400 (2/3) | 0.10 |"
        in (text)
    )


def test_clip_segments_of_the_demo_clips(predictor):
    paths = sorted((PROJECT_ROOT / "assets").glob("*.ogg"))[:2]
    segments = clip_segments(predictor, paths, max_segments=2)
    assert list(segments) == [p.name for p in paths]
    for s in segments.values():
        assert s.shape[1:] == (96, predictor.feature_config.segment_frames) and len(s) <= 2


def test_cli_writes_the_report(tmp_path, tiny_model_path, monkeypatch):
    from genrecls import cli, trust

    monkeypatch.setattr(trust, "real_test_clips", lambda **kw: [])  # demo clips only
    monkeypatch.setattr(sys, "argv", ["genrecls"])
    out = tmp_path / "report.json"
    code = cli.main(
        ["saliency-report", "--model", str(tiny_model_path), "--out", str(out), "--steps", "2"]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert {r["set"] for r in report["rows"]} == {"demo clips"}
    assert {r["fill"] for r in report["rows"]} == set(FILLS)
    assert report["model"] == "tiny.pt" and report["command"].startswith("python -m genrecls")
    assert report["default_layer"] in {r["layer"] for r in report["rows"]}
    assert np.isfinite([r["auc_salient"] for r in report["rows"]]).all()
