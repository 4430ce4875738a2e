"""Command-line interface: ``python -m genrecls <command> ...``.

Commands
--------
predict
    Classify audio files; ``--json`` prints one JSON object per line (the contract other
    tools rely on): ``{"file", "genre", "probabilities", "segments"}``, or
    ``{"file", "error"}`` for a file that cannot be read. Exit code 0 either way.
features
    Save log-mel, MFCC and chroma of a file to an ``.npz``.
train-bundled
    Rebuild the bundled model and its model card from the shared data (``make model``).
compress
    Build the fast low-rank variant of the bundled model (``models/genre_model_fast.pt``).
saliency-report
    Deletion and randomisation checks of Grad-CAM and LayerCAM on the demo clips and real
    test songs (``models/saliency_report.json``, shown on the Model page).
refresh-card
    Measure the bundled model card's speed and saliency sections again, without
    retraining (``models/model_card.json`` and ``.md``).
distill
    Distil the bundled model into a compact student CNN (``models/genre_model_student.pt``
    and ``models/student_card.json``); needs the ``make model`` cache.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from genrecls.config import bundled_models_dir

#: The bundled model file the app and the CLI use by default.
DEFAULT_MODEL = "genre_model.pt"  # keep in step with model_store.BUNDLED_MODEL_FILE


def default_model_path() -> Path:
    """Path of the bundled genre model."""
    return bundled_models_dir() / DEFAULT_MODEL


def _cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from genrecls.exceptions import GenreclsError
    from genrecls.predict import GenrePredictor

    torch.set_num_threads(args.threads)
    try:
        predictor = GenrePredictor.from_file(args.model, max_segments=args.max_segments)
    except GenreclsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = args.files
    iterator = files
    if not args.json and len(files) > 1:
        from tqdm import tqdm

        iterator = tqdm(files, desc="Classifying", unit="file")
    for path in iterator:
        try:
            _, prediction = predictor.predict_source(path, name=Path(path).name)
        except GenreclsError as exc:
            record = {"file": path, "error": str(exc)}
            if args.json:
                print(json.dumps(record), flush=True)
            else:
                print(f"{path}: error: {exc}", flush=True)
            continue
        if args.json:
            print(json.dumps(prediction.to_json(file=path)), flush=True)
        else:
            top = ", ".join(f"{g} {p:.0%}" for g, p in prediction.top_k(3))
            flag = " (unsure)" if prediction.is_unsure else ""
            print(f"{path}: {prediction.genre}{flag}  [{top}]", flush=True)
    return 0


def _cmd_features(args: argparse.Namespace) -> int:
    import numpy as np

    from genrecls import features
    from genrecls.audio import load_audio
    from genrecls.exceptions import GenreclsError

    config = features.DISPLAY_CONFIG
    try:
        clip = load_audio(args.file, sr=config.sr)
    except GenreclsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    y = clip.samples
    np.savez_compressed(
        args.out,
        log_mel=features.log_mel(y, config=config),
        mfcc=features.mfcc(y, config=config, n_mfcc=args.n_mfcc),
        chroma=features.chroma(y, config=config),
        sr=config.sr,
        hop_length=config.hop_length,
    )
    print(f"wrote {args.out}")
    return 0


def _cmd_train_bundled(args: argparse.Namespace) -> int:
    from genrecls.bundle import main as bundle_main

    return bundle_main(
        out_dir=Path(args.out),
        quick=args.quick,
        cache_dir=Path(args.cache),
        augment_probe=not args.no_augment,
        with_cnn=not args.no_cnn,
        with_midi=not args.no_midi,
        with_efficientnet=not args.no_efficientnet,
        measure=not args.no_measure,
    )


def _cmd_compress(args: argparse.Namespace) -> int:
    from genrecls.compress import main

    return main(
        out_dir=Path(args.out),
        cache_dir=Path(args.cache),
        teacher_path=Path(args.teacher) if args.teacher else None,
        timbral_rank=args.timbral_rank,
        temporal_rank=args.temporal_rank,
    )


def _cmd_prune(args: argparse.Namespace) -> int:
    from genrecls.prune import main

    return main(
        out_dir=Path(args.out),
        cache_dir=Path(args.cache),
        source_path=Path(args.source) if args.source else None,
    )


def _cmd_saliency_report(args: argparse.Namespace) -> int:
    import torch

    from genrecls.trust import main

    torch.set_num_threads(args.threads)
    return main(
        model_path=Path(args.model),
        out_path=Path(args.out),
        per_genre=args.per_genre,
        steps=args.steps,
        fills=args.fills,
    )


def _cmd_refresh_card(args: argparse.Namespace) -> int:
    import torch

    from genrecls.card_refresh import main

    torch.set_num_threads(args.threads)
    return main(models_dir=Path(args.models), repeats=args.repeats, steps=args.steps)


def _cmd_distill(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from genrecls.distill import StudentConfig, main

    torch.set_num_threads(args.threads)
    config = StudentConfig()
    changes = {}
    if args.channels:
        changes["channels"] = tuple(int(c) for c in args.channels.split(","))
    if args.epochs:
        changes["epochs"] = args.epochs
    if changes:
        config = dataclasses.replace(config, **changes)
    return main(
        out_dir=Path(args.out),
        cache_dir=Path(args.cache),
        teacher_path=Path(args.teacher) if args.teacher else None,
        config=config,
        cv_folds=args.cv,
        quick=args.quick,
        command=" ".join(["python -m genrecls", *sys.argv[1:]]),
    )


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``python -m genrecls``."""
    parser = argparse.ArgumentParser(prog="genrecls", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="classify audio files")
    p.add_argument("files", nargs="+", help="audio files (wav, flac, ogg, mp3, m4a, ...)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--model", default=str(default_model_path()), help="a saved genrecls model")
    p.add_argument("--max-segments", type=int, default=64, help="segments per track (spread)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("features", help="save log-mel/MFCC/chroma of a file to .npz")
    p.add_argument("file")
    p.add_argument("--out", required=True)
    p.add_argument("--n-mfcc", type=int, default=20)
    p.set_defaults(func=_cmd_features)

    p = sub.add_parser("train-bundled", help="rebuild the bundled model and its model card")
    p.add_argument("--out", default=str(bundled_models_dir()))
    p.add_argument("--cache", default=".cache")
    p.add_argument("--quick", action="store_true", help="fewer folds/epochs (a smoke run)")
    p.add_argument("--no-augment", action="store_true", help="skip pitch-shift augmentation")
    p.add_argument("--no-cnn", action="store_true", help="skip the from-scratch CNN candidate")
    p.add_argument("--no-midi", action="store_true", help="do not render the shared MIDI")
    p.add_argument(
        "--no-efficientnet", action="store_true", help="skip the EfficientNet-Lite0 candidate"
    )
    p.add_argument(
        "--no-measure",
        action="store_true",
        help="leave the card's speed and saliency sections to refresh-card (make model does)",
    )
    p.set_defaults(func=_cmd_train_bundled)

    p = sub.add_parser("compress", help="build the fast low-rank variant of the bundled model")
    p.add_argument("--out", default=str(bundled_models_dir()))
    p.add_argument("--cache", default=".cache")
    p.add_argument("--teacher", default="", help="model to compress (default: the bundled one)")
    p.add_argument("--timbral-rank", type=int, default=24, help="of 204 timbral filters")
    p.add_argument("--temporal-rank", type=int, default=16, help="of 51 temporal filters")
    p.set_defaults(func=_cmd_compress)

    p = sub.add_parser(
        "prune", help="build the lite variant: the fast model pruned to a few front-end branches"
    )
    p.add_argument("--out", default=str(bundled_models_dir()))
    p.add_argument("--cache", default=".cache")
    p.add_argument("--source", default="", help="model to prune (default: the fast one)")
    p.set_defaults(func=_cmd_prune)

    from genrecls.trust import FILLS  # numpy only

    p = sub.add_parser(
        "saliency-report",
        help="deletion and randomisation checks of the saliency maps (models/saliency_report.json)",
    )
    p.add_argument("--model", default=str(bundled_models_dir() / "genre_model_fast.pt"))
    p.add_argument("--out", default=str(bundled_models_dir() / "saliency_report.json"))
    p.add_argument("--per-genre", type=int, default=1, help="real test songs per genre")
    p.add_argument("--steps", type=int, default=10, help="deletion steps")
    p.add_argument(
        "--fills",
        nargs="+",
        choices=list(FILLS),
        default=list(FILLS),
        help="what replaces deleted blocks: the clip mean, or imputed from neighbours",
    )
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=_cmd_saliency_report)

    p = sub.add_parser(
        "refresh-card",
        help="measure the model card's speed and saliency sections again (no retraining)",
    )
    p.add_argument("--models", default=str(bundled_models_dir()))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="deletion steps")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=_cmd_refresh_card)

    p = sub.add_parser("distill", help="distil the bundled model into a compact student CNN")
    p.add_argument("--out", default=str(bundled_models_dir()))
    p.add_argument("--cache", default=".cache")
    p.add_argument("--teacher", default="", help="teacher model (default: the bundled one)")
    p.add_argument("--cv", type=int, default=0, help="grouped CV folds to score (0 = skip)")
    p.add_argument("--channels", default="", help="student conv channels, e.g. 8,24,48,96")
    p.add_argument("--epochs", type=int, default=0, help="override the recipe's epochs")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--quick", action="store_true", help="3 epochs (a smoke run)")
    p.set_defaults(func=_cmd_distill)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
