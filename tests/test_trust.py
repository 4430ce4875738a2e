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
    assert [(r["kind"], r["layer"]) for r in report["rows"]] == [
        (k, layer) for k in KINDS for layer in layers
    ]
    assert len(report["clips"]) == len(KINDS) * len(layers) * len(clips)
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


def test_render_says_when_nothing_passes():
    row = {
        "set": "demo clips",
        "kind": "gradcam",
        "layer": "conv",
        "clips": 3,
        "auc_salient": 0.5,
        "auc_random": 0.4,
        "salient_wins": 1,
        "randomization_spearman": 0.1,
    }
    report = {"settings": {"steps": 10, "region": [8, 8]}, "rows": [row]}
    assert "does not pass for any map" in render_trust_text(report)
    report["rows"] = [row, {**row, "kind": "layercam", "auc_salient": 0.2}]
    text = render_trust_text(report)
    assert "passes for LayerCAM at `conv` (demo clips)" in text
    assert "| demo clips | Grad-CAM | `conv` | 0.500 | 0.400 | 1/3 | 0.10 |" in text


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
    code = cli.main(["saliency-report", "--model", str(tiny_model_path), "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert {r["set"] for r in report["rows"]} == {"demo clips"}
    assert report["model"] == "tiny.pt" and report["command"].startswith("python -m genrecls")
    assert report["default_layer"] in {r["layer"] for r in report["rows"]}
    assert np.isfinite([r["auc_salient"] for r in report["rows"]]).all()
