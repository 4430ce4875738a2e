"""Model cards (Mitchell et al., 2019, "Model Cards for Model Reporting"): JSON and Markdown.

The card is a plain dict written as JSON beside the model; :func:`render_markdown` turns it
into the Markdown card people read on GitHub, and the app's Model page reads the JSON.
Every number in a card was measured by the command it names.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, default=float)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_card(path: Path) -> dict:
    """Read a JSON model card."""
    with open(path) as fh:
        return json.load(fh)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _pm(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}%"


def candidates_rows(card: dict) -> list[dict]:
    """One row per candidate model: CV and real-song test scores, for tables."""
    rows = []
    for name, c in card.get("candidates", {}).items():
        cv, test = c.get("cv"), c.get("real_test", {})
        rows.append(
            {
                "candidate": name,
                "description": c.get("description", ""),
                "CV top-1 (song-grouped)": _pm(cv["mean"]["top1"], cv["std"]["top1"])
                if cv
                else "—",
                "CV balanced acc.": (
                    _pm(cv["mean"]["balanced_accuracy"], cv["std"]["balanced_accuracy"])
                    if cv
                    else "—"
                ),
                "artist-disjoint balanced acc.": (
                    _pm(ad["mean"]["balanced_accuracy"], ad["std"]["balanced_accuracy"])
                    if (ad := c.get("artist_disjoint"))
                    else "—"
                ),
                "real-song top-1": _pct(test.get("top1")),
                "real-song top-3": _pct(test.get("top3")),
                "real-song balanced acc.": _pct(test.get("balanced_accuracy")),
                "genres predicted": test.get("collapse", {}).get("distinct_genres_predicted"),
                "largest share": _pct(test.get("collapse", {}).get("largest_share")),
            }
        )
    return rows


def tag_prior_rows(card: dict) -> list[dict]:
    """One row per tag-prior weight tried: artist-disjoint validation scores, for tables."""
    rows = []
    for r in card.get("tag_prior_validation", []):
        row = {
            "prior weight λ": f"{r['weight']:g}",
            "top-1 (mean of both ways)": _pct(r["mean"]["top1"]),
            "balanced acc.": _pm(r["mean"]["balanced_accuracy"], r["std"]["balanced_accuracy"]),
        }
        for f in r.get("folds", []):
            row[f"{f['fit']} → {f['scored']} balanced"] = _pct(f["balanced_accuracy"])
        rows.append(row)
    return rows


def _table(rows: list[dict]) -> str:
    if not rows:
        return ""
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(card: dict) -> str:
    """Render a JSON model card as Markdown.

    Parameters
    ----------
    card : dict
        The card as written by :mod:`genrecls.bundle`.

    Returns
    -------
    text : str
    """
    m, b = card["model"], card["bundled"]
    out = [
        f"# Model card: {m['name']}",
        "",
        f"{m['description']}",
        "",
        f"- File: `{m['file']}` ({m['size_bytes'] / 1e6:.1f} MB, sha256 `{m['sha256'][:16]}…`)",
        f"- Architecture: `{m['architecture']}` — {m['citation']}",
        f"- Built by: `{card['command']}` on {card['created']} "
        f"({card['environment']['machine']}, torch {card['environment']['torch']})",
        f"- Labels: {', '.join(card['labels'])}",
        "",
        "## Data",
        "",
        card["data"]["description"],
        "",
        "Tracks per genre and role (a track is one recording; many are short excerpts):",
        "",
        _table(card["data"]["table"]),
        "",
        "## Preprocessing",
        "",
        "```json",
        json.dumps(card["preprocessing"], indent=2),
        "```",
        "",
        "## Candidates compared",
        "",
        "Cross-validation: 5 folds on the training tracks, grouped by song (no song on both "
        "sides). Real-song test: the held-out tracks, never used for training or tuning; "
        "track verdicts aggregate segments by geometric mean.",
        "",
        _table(candidates_rows(card)),
        "",
        f"Chosen: **{b['candidate']}**.",
        "",
        card.get("selection_note", ""),
        "",
        *(
            [
                "Zero-shot tag prior weights tried on the chosen probe (artist-disjoint "
                "validation: fit on the GTZAN train list, score the valid list, and back):",
                "",
                _table(tag_prior_rows(card)),
                "",
                card.get("history", ""),
                "",
            ]
            if card.get("tag_prior_validation")
            else []
        ),
        "Linear-probe settings tried (grouped CV on the training tracks):",
        "",
        _table(
            [
                {
                    "setting": k,
                    "CV top-1": _pm(v["mean"]["top1"], v["std"]["top1"]),
                    "CV balanced acc.": _pm(
                        v["mean"]["balanced_accuracy"], v["std"]["balanced_accuracy"]
                    ),
                }
                for k, v in card.get("probe_settings_cv", {}).items()
            ]
        ),
        "",
        "## The bundled model on the real-song test set",
        "",
        f"- top-1 {_pct(b['real_test']['top1'])}, top-3 {_pct(b['real_test']['top3'])}, "
        f"balanced accuracy {_pct(b['real_test']['balanced_accuracy'])}, "
        f"macro-F1 {_pct(b['real_test']['macro_f1'])} on {b['real_test']['n']} tracks",
        f"- predictions spread over {b['real_test']['collapse']['distinct_genres_predicted']} "
        f"genres; the most predicted ({b['real_test']['collapse']['most_predicted']}) takes "
        f"{_pct(b['real_test']['collapse']['largest_share'])}",
        f"- calibration: temperature {b['calibration']['temperature']:.2f} fitted on "
        f"out-of-fold validation logits; ECE on the test set "
        f"{b['calibration']['ece_before']:.3f} before, {b['calibration']['ece_after']:.3f} after",
        "",
        "Per genre (test tracks):",
        "",
        _table(b["per_class"]),
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
    ]
    if "feature_baseline" in card:
        fb = card["feature_baseline"]
        out += ["## The GTZAN feature-table baseline and the leakage gap", "", fb["text"], ""]
    if "rendered_midi" in card:
        rm = card["rendered_midi"]
        out += ["## Rendered MIDI and its domain gap", ""]
        out += [f"{rm['segments']} segments of rendered MIDI ({rm['command']}):", ""]
        out += [_table(rm["excerpts"]), ""]
        if "domain_gap" in rm:
            out += [rm["domain_gap"]["text"], ""]
    if "timing" in card:
        t = card["timing"]
        out += ["## Speed", "", t["text"], ""]
    if "saliency" in card:
        out += ["## Can the Grad-CAM maps be trusted?", "", card["saliency"]["text"], ""]
    out += ["## Known limits", ""] + [f"- {x}" for x in card["limits"]] + [""]
    return "\n".join(out)
