"""Can the saliency maps be trusted? The deletion and randomisation checks, measured.

For a genre model and some clips, every saliency map the app offers (Grad-CAM and
LayerCAM, at every layer of ``model.gradcam_layers()``) is put through two checks:

deletion (Samek et al., 2017)
    The clip's segments are tiled into blocks of mel bands × frames; the blocks are
    deleted most salient first, and, as the control, in random order. The probability of
    the explained genre is followed; the area under that curve is small when the map
    found the evidence the model uses. A map *passes* on a clip when its area is below
    the random order's. Each check is run with two fills of the deleted blocks
    (:data:`FILLS`): the clip's mean, and the blocks imputed from their neighbours (Rong
    et al., 2022, who showed that a constant fill lets the *shape* of the deleted blocks
    sway the model: scattered flat blocks can hurt a prediction more than removing its
    evidence does).
randomisation (Adebayo et al., 2018)
    The Spearman rank correlation between the map of the trained model and of a copy
    whose every weight is re-initialised: near 0 means the map depends on what the model
    learned.

:func:`trust_report` returns the numbers, the mean deletion curves (for a plot) and a
Markdown summary; ``python -m genrecls saliency-report`` writes it to
``models/saliency_report.json`` for the Model page.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genrecls.exceptions import ParameterError

if TYPE_CHECKING:  # torch and the model code load only when a check runs
    from genrecls.predict import GenrePredictor
    from genrecls.saliency import GradCamResult

__all__ = [
    "FILLS",
    "KINDS",
    "clip_segments",
    "deletion_check",
    "trust_report",
    "render_trust_text",
]

#: The saliency maps the app offers, and their names for people.
KINDS: dict[str, str] = {"gradcam": "Grad-CAM", "layercam": "LayerCAM"}

#: How the deletion check fills deleted blocks (``baseline`` of
#: :func:`genrecls.saliency.deletion_curve`), and what to call it.
FILLS: dict[str, str] = {
    "mean": "clip mean",
    "inpaint": "imputed from neighbours",
}


def clip_segments(
    predictor: GenrePredictor, paths: Sequence[Path], *, max_segments: int = 4
) -> dict[str, np.ndarray]:
    """Decode clips and cut the first ``max_segments`` model segments of each.

    Returns
    -------
    segments : dict[str, np.ndarray [shape=(n, n_mels, frames)]]
        By file name.
    """
    from genrecls.audio import TruncatedAudioWarning, load_audio
    from genrecls.features import segment_spectrogram

    cfg = predictor.feature_config
    out = {}
    seconds = max_segments * cfg.segment_seconds + 0.5
    for path in paths:
        with warnings.catch_warnings():  # cutting the clip short is the point here
            warnings.simplefilter("ignore", TruncatedAudioWarning)
            y = load_audio(path, sr=cfg.sr, max_duration=seconds).samples
        out[Path(path).name] = segment_spectrogram(predictor.spectrogram(y), config=cfg)[0][
            :max_segments
        ]
    return out


def deletion_check(
    model,
    segments: np.ndarray,
    *,
    layer: str,
    kind: str,
    steps: int = 10,
    region: tuple[int, int] = (8, 8),
    n_random: int = 2,
    seed: int = 0,
    fill: str = "mean",
    cam: GradCamResult | None = None,
) -> dict:
    """Deletion curves of one clip: salient blocks first, and random orders.

    Parameters
    ----------
    model : torch.nn.Module
        A genre model (see :func:`genrecls.saliency.grad_cam`).
    segments : np.ndarray [shape=(n, n_mels, frames)]
        The clip's segments; the explained genre is the clip's predicted one.
    layer, kind : str
        The map (see :func:`genrecls.saliency.grad_cam`).
    steps : int
        Deletion increments.
    region : (int, int)
        Block size (mel bands, frames).
    n_random : int > 0
        Random orders averaged for the control.
    seed : int
        Seed of the first random order.
    fill : str
        A key of :data:`FILLS`: what replaces the deleted blocks.
    cam : GradCamResult or None
        The map of ``segments`` at ``layer`` of ``kind``, if already computed (one map
        serves every fill); ``None`` computes it.

    Returns
    -------
    result : dict
        ``target`` (class index), ``auc_salient``, ``auc_random``, ``curve_salient`` and
        ``curve_random`` (lists of ``steps + 1`` probabilities; random = mean over orders).
    """
    from genrecls.saliency import area_under_curve, deletion_curve, grad_cam

    if n_random < 1:
        raise ParameterError(f"n_random must be >= 1, got {n_random}")
    if fill not in FILLS:
        raise ParameterError(f"fill must be one of {list(FILLS)}, got {fill!r}")
    if cam is None:
        cam = grad_cam(model, segments, layer=layer, kind=kind)
    target = cam.track_class

    def curve(order: str, s: int) -> np.ndarray:
        return deletion_curve(
            model,
            segments,
            cam.maps,
            target=target,
            steps=steps,
            region=region,
            order=order,
            seed=s,
            baseline=fill,
        )

    salient = curve("saliency", seed)
    random = np.mean([curve("random", seed + 1 + i) for i in range(n_random)], axis=0)
    return {
        "target": int(target),
        "auc_salient": area_under_curve(salient),
        "auc_random": area_under_curve(random),
        "curve_salient": salient.tolist(),
        "curve_random": random.tolist(),
    }


def trust_report(
    predictor: GenrePredictor,
    clip_sets: Mapping[str, Mapping[str, np.ndarray]],
    *,
    kinds: Sequence[str] = tuple(KINDS),
    layers: Sequence[str] | None = None,
    steps: int = 10,
    region: tuple[int, int] = (8, 8),
    fills: Sequence[str] = tuple(FILLS),
    progress=None,
) -> dict:
    """Deletion and randomisation checks of every map on sets of clips.

    Parameters
    ----------
    predictor : GenrePredictor
        The model checked.
    clip_sets : mapping of str to (mapping of str to np.ndarray)
        Named sets of clips (e.g. ``{"demo clips": ..., "real songs": ...}``), each clip's
        segments from :func:`clip_segments`.
    kinds : sequence of str
        Keys of :data:`KINDS`.
    layers : sequence of str or None
        Layers; ``None`` = all of ``model.gradcam_layers()``.
    steps, region
        See :func:`deletion_check`.
    fills : sequence of str
        Keys of :data:`FILLS`; the deletion check runs once per fill.
    progress : callable or None
        Wraps the iterable of clips (e.g. ``tqdm``) for progress bars.

    Returns
    -------
    report : dict
        ``rows``: one per (set, fill, kind, layer) with the mean areas, the number of
        clips where the salient order wins, the mean randomisation ρ and the mean curves;
        ``clips``: the per-clip numbers; ``settings``; and ``text`` (Markdown, see
        :func:`render_trust_text`).
    """
    from genrecls.saliency import grad_cam, randomization_check

    model = predictor.model
    layers = list(layers or model.gradcam_layers())
    wrap = progress or (lambda it, **_: it)
    for value, known, what in ((kinds, KINDS, "kind"), (fills, FILLS, "fill")):
        if not value or any(v not in known for v in value):
            raise ParameterError(f"{what}s must be among {list(known)}, got {list(value)}")
    rows, clips = [], []
    for set_name, clip_set in clip_sets.items():
        for kind in kinds:
            for layer in layers:
                results: dict[str, list[dict]] = {fill: [] for fill in fills}
                for name, segments in wrap(clip_set.items(), desc=f"{set_name}: {kind} {layer}"):
                    # one map, and so one ρ, serves every fill
                    cam = grad_cam(model, segments, layer=layer, kind=kind)
                    rho = randomization_check(
                        copy.deepcopy(model), segments, layer=layer, target=cam.track_class
                    )
                    for fill in fills:
                        r = deletion_check(
                            model,
                            segments,
                            layer=layer,
                            kind=kind,
                            steps=steps,
                            region=region,
                            fill=fill,
                            cam=cam,
                        )
                        r["randomization_spearman"] = rho
                        results[fill].append(r)
                        clips.append(
                            {
                                "set": set_name,
                                "fill": fill,
                                "kind": kind,
                                "layer": layer,
                                "clip": name,
                                **r,
                            }
                        )
                rows += [_summary_row(set_name, fill, kind, layer, results[fill]) for fill in fills]
    report = {
        "settings": {"steps": steps, "region": list(region), "fills": list(fills)},
        "rows": rows,
        "clips": clips,
    }
    report["text"] = render_trust_text(report)
    return report


def _summary_row(set_name: str, fill: str, kind: str, layer: str, results: list[dict]) -> dict:
    """Mean areas, wins, ρ and curves of one (set, fill, kind, layer) over its clips."""
    return {
        "set": set_name,
        "fill": fill,
        "kind": kind,
        "layer": layer,
        "clips": len(results),
        "auc_salient": float(np.mean([r["auc_salient"] for r in results])),
        "auc_random": float(np.mean([r["auc_random"] for r in results])),
        "salient_wins": int(sum(r["auc_salient"] < r["auc_random"] for r in results)),
        "randomization_spearman": float(np.nanmean([r["randomization_spearman"] for r in results])),
        "curve_salient": np.mean([r["curve_salient"] for r in results], axis=0).tolist(),
        "curve_random": np.mean([r["curve_random"] for r in results], axis=0).tolist(),
    }


def render_trust_text(report: dict) -> str:
    """Markdown summary of :func:`trust_report`: a table and what passes, fill by fill.

    Reports written before the fills were added (no ``fill`` in their rows) used the
    clip mean.
    """
    s = report["settings"]
    fills = s.get("fills", ["mean"])
    lines = [
        f"Deletion (Samek et al., 2017): blocks of {s['region'][0]} mel bands × "
        f"{s['region'][1]} frames are deleted most salient first or in random order (mean "
        f"of 2), in {s['steps']} steps; the number is the area under the explained genre's "
        "probability — lower than random means the map found evidence the model uses. "
        + (
            "Deleted blocks are filled two ways: with the clip's mean, and imputed from "
            "their neighbours with 1 % noise (Rong et al., 2022: a constant fill leaves "
            "the outline of every deleted block in the input, and scattered flat blocks "
            "can sway the model more than the evidence they remove). "
            if "inpaint" in fills
            else "Deleted blocks are set to the clip's mean. "
        )
        + "Randomisation (Adebayo et al., 2018): Spearman ρ between the maps of the "
        "trained model and of a copy with every weight re-initialised — near 0 means the "
        "map depends on what the model learned.",
        "",
        "One row per map; for each fill, the deletion areas salient first / random "
        "(lower is better) and the clips where salient first wins.",
        "",
        "| clips | map | layer | "
        + " | ".join(f"deleted blocks {FILLS[f]}" for f in fills)
        + " | randomisation ρ |",
        "|---|---|---|" + "---|" * len(fills) + "---|",
    ]
    by_map: dict[tuple[str, str, str], dict[str, dict]] = {}
    for r in report["rows"]:
        by_map.setdefault((r["set"], r["kind"], r["layer"]), {})[r.get("fill", "mean")] = r
    for (set_name, kind, layer), per_fill in by_map.items():
        cells = [
            f"{r['auc_salient']:.3f} / {r['auc_random']:.3f} ({r['salient_wins']}/{r['clips']})"
            if (r := per_fill.get(f))
            else "—"
            for f in fills
        ]
        rho = next(iter(per_fill.values()))["randomization_spearman"]
        lines.append(
            f"| {set_name} | {KINDS[kind]} | `{layer}` | " + " | ".join(cells) + f" | {rho:.2f} |"
        )
    lines.append("")
    for fill in fills:
        rows = [r for r in report["rows"] if r.get("fill", "mean") == fill]
        passing = [r for r in rows if r["auc_salient"] < r["auc_random"]]
        head = f"Filled with the {FILLS[fill]}" if fill == "mean" else f"Blocks {FILLS[fill]}"
        if passing:
            lines.append(
                f"{head}, the deletion check passes on average for "
                + "; ".join(f"{KINDS[r['kind']]} at `{r['layer']}` ({r['set']})" for r in passing)
                + (
                    f", and fails for the other {len(rows) - len(passing)}."
                    if len(passing) < len(rows)
                    else "."
                )
            )
        else:
            lines.append(f"{head}, the deletion check passes for no map on these clips.")
        lines.append("")
    lines.append("Where a map fails, or passes by a small margin, read it as a hint, not as proof.")
    return "\n".join(lines)


def real_test_clips(*, per_genre: int = 1, min_seconds: float = 12.0) -> list[Path]:
    """Real recordings of the held-out test role, ``per_genre`` of each genre (sorted paths).

    Only recordings of at least ``min_seconds`` (so four 3 s segments fit) are taken.
    """
    import soundfile as sf

    from genrecls.data import index_shared_data

    chosen: dict[str, list[Path]] = {}
    for track in sorted(index_shared_data(), key=lambda t: str(t.path)):
        if track.role != "test" or len(chosen.get(track.label, [])) >= per_genre:
            continue
        try:
            seconds = sf.info(str(track.path)).duration
        except (RuntimeError, OSError):  # a format soundfile cannot read (mp3 → ffmpeg)
            from genrecls.audio import load_audio

            seconds = load_audio(track.path, sr=16000).duration
        if seconds >= min_seconds:
            chosen.setdefault(track.label, []).append(track.path)
    return [p for paths in chosen.values() for p in paths]


def main(
    *,
    model_path: Path,
    out_path: Path,
    per_genre: int = 1,
    steps: int = 10,
    fills: Sequence[str] = tuple(FILLS),
) -> int:
    """Measure the trust checks on the demo clips and real test songs; write the report."""
    import json
    import time

    from tqdm import tqdm

    from genrecls.config import PROJECT_ROOT
    from genrecls.explain import default_layer_name
    from genrecls.model_card import write_json_atomic
    from genrecls.predict import GenrePredictor

    t0 = time.time()
    predictor = GenrePredictor.from_file(model_path)
    sets = {"demo clips": clip_segments(predictor, sorted((PROJECT_ROOT / "assets").glob("*.ogg")))}
    real = real_test_clips(per_genre=per_genre)
    if real:
        sets["real test songs"] = clip_segments(predictor, real)
    else:
        print("no shared data: the real-song rows are left out (set GENRECLS_DATA_DIR)")
    report = trust_report(predictor, sets, steps=steps, fills=fills, progress=tqdm)
    report["model"] = Path(model_path).name
    report["default_layer"] = default_layer_name(predictor)
    report["command"] = "python -m genrecls saliency-report"
    report["seconds"] = round(time.time() - t0, 1)
    write_json_atomic(out_path, report)
    print(report["text"])
    print(json.dumps({"wrote": str(out_path), "seconds": report["seconds"]}))
    return 0
