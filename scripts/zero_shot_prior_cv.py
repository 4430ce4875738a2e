"""Would the zero-shot tag mapping help the bundled probe? Grouped CV, no test set.

On the real-song test the zero-shot mapping of musicnn tags onto genres wins top-1 over
the bundled linear probe (73.7% vs 70.7%; the probe wins balanced accuracy and top-3).
A candidate that could be chosen without looking at the test set: the probe's logits plus
``λ · log(zero-shot scores)``, the zero-shot mapping acting as a prior, with ``λ`` picked
by the same song-grouped 5-fold CV on the training tracks that chose the probe. This
script measures that CV for several ``λ`` (``λ = 0`` is the bundled probe), with the
zero-shot scores from MSD + MTT tags (two backbones) and from MSD tags alone (the
bundled backbone), and the zero-shot mapping's own score on the training tracks. It uses
the ``make model`` cache (``.cache/``) and never reads the real-song test set.

Usage::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/zero_shot_prior_cv.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from genrecls.bundle import (
    backbone_outputs,
    cross_validate,
    fit_probe,
    probe_logits,
    role_datasets,
    track_scores,
)
from genrecls.config import GENRES
from genrecls.data import index_shared_data
from genrecls.features import FeatureConfig
from genrecls.pretrained import zero_shot_genre_scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default=".cache")
    parser.add_argument("--C", type=float, default=0.003, help="the bundled probe's C")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0, 3.0])
    parser.add_argument("--out", default="", help="also write the numbers as JSON here")
    args = parser.parse_args()
    cache = Path(args.cache)
    tracks = index_shared_data()
    if not tracks:
        print("No shared data found: set GENRECLS_DATA_DIR.")
        return 2
    train, _ = role_datasets(tracks, config=FeatureConfig(), cache_dir=cache)
    originals = train.subset(train.is_original)
    msd = backbone_outputs(originals, cache_dir=cache / "features")
    mtt = backbone_outputs(originals, which="mtt", cache_dir=cache / "features")
    priors = {
        "MSD + MTT tags": zero_shot_genre_scores(msd["tags"], mtt_probs=mtt["tags"]),
        "MSD tags only": zero_shot_genre_scores(msd["tags"]),
    }
    results = {}
    for name, scores in priors.items():
        alone = track_scores(np.log(np.clip(scores, 1e-6, 1.0)), originals)
        print(
            f"zero-shot ({name}) on the {alone['n']} training tracks: top-1 {alone['top1']:.3f},"
            f" balanced {alone['balanced_accuracy']:.3f}"
        )
        prior = np.log(np.clip(scores, 1e-3, 1.0))
        rows = []
        for lam in args.lambdas:

            def fit_predict(tr, va, lam=lam, prior=prior):
                scaler, clf = fit_probe(msd["pooled"][tr], originals.y[tr], C=args.C)
                logits = probe_logits(scaler, clf, msd["pooled"][va], n_classes=len(GENRES))
                return logits + lam * prior[va]

            cv = cross_validate(fit_predict, originals, n_splits=5)
            rows.append({"lambda": lam, "mean": cv["mean"], "std": cv["std"]})
            print(
                f"  probe + {lam:g} · log zero-shot: CV top-1 {cv['mean']['top1']:.3f} ± "
                f"{cv['std']['top1']:.3f}, balanced {cv['mean']['balanced_accuracy']:.3f} ± "
                f"{cv['std']['balanced_accuracy']:.3f}",
                flush=True,
            )
        results[name] = {"zero_shot_on_training_tracks": alone, "cv": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, default=float))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
