"""Does rendered MIDI help the bundled model? Measure it without rebuilding the model.

Uses the ``make model`` cache and the bundled model's chosen probe setting (feature, C,
pitch-shift augmentation: read from ``models/model_card.json``), renders the shared MIDI
(:func:`genrecls.bundle.midi_training_data`), and reports

- grouped 5-fold CV on the real training tracks of the same probe trained on real audio
  plus rendered MIDI at each weight in ``--weights`` (MIDI is only ever added to the
  training folds; validation is real tracks only), beside the card's CV without MIDI;
- the domain gap (:func:`genrecls.bundle.midi_domain_gap`).

Writes ``models/midi_report.json``. The real-song test set is not touched.

Usage::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/midi_report.py
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

from genrecls.bundle import (
    backbone_outputs,
    cached_result,
    cross_validate,
    digest,
    fit_probe,
    midi_domain_gap,
    midi_training_data,
    probe_logits,
    role_datasets,
)
from genrecls.config import GENRES, bundled_models_dir
from genrecls.data import index_shared_data
from genrecls.features import FeatureConfig
from genrecls.model_card import write_json_atomic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default=".cache")
    parser.add_argument("--weights", default="0.3,1.0", help="MIDI sample weights to try")
    parser.add_argument("--out", default=str(bundled_models_dir() / "midi_report.json"))
    args = parser.parse_args()
    t0 = time.time()
    cache = Path(args.cache)
    card = json.loads((bundled_models_dir() / "model_card.json").read_text())
    description = card["candidates"]["musicnn_probe"]["description"]
    feature = "embedding" if "on embedding" in description else "pooled"
    C = float(re.search(r"C=([0-9.]+)", description).group(1))
    augmented = "pitch shifts" in description
    print(f"bundled probe setting: {feature}, C={C}, augmented={augmented}")

    config = FeatureConfig()
    train, _ = role_datasets(index_shared_data(), config=config, cache_dir=cache)
    originals = train.subset(train.is_original)
    data = train if augmented else originals
    feats = backbone_outputs(data, cache_dir=cache / "features")[feature]
    midi = midi_training_data(config=config, cache_dir=cache)
    if midi is None:
        return 2
    f_midi = backbone_outputs(midi, cache_dir=cache / "features")[feature]
    n_classes = len(GENRES)

    rows = []
    for weight in [0.0] + [float(w) for w in args.weights.split(",")]:

        def fit_predict(tr, va, weight=weight):
            F, y, w = feats[tr], data.y[tr], None
            if weight:
                F, y = np.concatenate([F, f_midi]), np.concatenate([y, midi.y])
                w = np.concatenate([np.ones(len(tr)), np.full(len(midi), weight)])
            scaler, clf = fit_probe(F, y, C=C, weight=w)
            return probe_logits(scaler, clf, feats[va], n_classes=n_classes)

        key = digest("midi-report-1", feature, C, weight, feats, data.y, data.track_index)
        key += digest(f_midi, midi.y) if weight else ""
        cv = cached_result(
            cache / "results", key, lambda fp=fit_predict: cross_validate(fp, data, n_splits=5)
        )
        rows.append({"midi_weight": weight, "mean": cv["mean"], "std": cv["std"]})
        print(
            f"MIDI weight {weight}: CV top1 {cv['mean']['top1']:.3f} ± {cv['std']['top1']:.3f}, "
            f"balanced {cv['mean']['balanced_accuracy']:.3f}",
            flush=True,
        )
    f_orig = backbone_outputs(originals, cache_dir=cache / "features")["pooled"]
    f_midi_pooled = backbone_outputs(midi, cache_dir=cache / "features")["pooled"]
    gap = midi_domain_gap(f_midi_pooled, midi, f_orig, originals, C=C, cache_dir=cache)
    print(gap["text"])
    from collections import Counter

    counts = Counter(
        (midi.tracks[t].source, midi.tracks[t].label) for t in np.unique(midi.track_index)
    )
    best = max(rows, key=lambda r: r["mean"]["balanced_accuracy"])
    report = {
        "command": "python scripts/midi_report.py",
        "probe_setting": {"feature": feature, "C": C, "pitch_shift_augmented": augmented},
        "midi_excerpts": [
            {"source": s, "genre": g, "excerpts": n} for (s, g), n in sorted(counts.items())
        ],
        "midi_segments": len(midi),
        "cv_by_midi_weight": rows,
        "best_midi_weight_by_cv": best["midi_weight"],
        "domain_gap": gap,
        "seconds": time.time() - t0,
        "text": (
            "Adding rendered MIDI to the bundled probe's training folds (grouped 5-fold CV "
            "on the real training tracks): "
            + "; ".join(
                f"weight {r['midi_weight']}: top-1 {100 * r['mean']['top1']:.1f} ± "
                f"{100 * r['std']['top1']:.1f}%, balanced "
                f"{100 * r['mean']['balanced_accuracy']:.1f}%"
                for r in rows
            )
            + ". "
            + (
                "Rendered MIDI does not improve the cross-validated score, so the bundled "
                "model is trained on real audio only."
                if best["midi_weight"] == 0.0
                else f"The best cross-validated weight is {best['midi_weight']}; `make model` "
                "chooses it the same way."
            )
        ),
    }
    write_json_atomic(Path(args.out), report)
    print(report["text"])
    print(f"wrote {args.out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
