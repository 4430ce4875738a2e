"""Measure the bundled model card's speed and saliency sections again (``refresh-card``).

``make model`` measures the classify path's speed and the saliency checks once, right
after training, with the code of that day and on whatever else the machine was doing.
The model does not change when the code around it gets faster or the checks get
better, so these two sections can be measured again without retraining:
``python -m genrecls refresh-card`` checks that ``models/model_card.json`` still
describes the model file beside it (SHA-256), re-runs
:func:`genrecls.bundle.measure_speed` (the bundled model and, when present, its fast
and lite variants; the fast one is the Classify page's default) and
:func:`genrecls.bundle.saliency_checks`, and rewrites the JSON and Markdown cards.
Every other section stays as ``make model`` wrote it; the card's ``refreshed`` entry
says which sections were measured again, when and by which command.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

from genrecls.exceptions import ParameterError

__all__ = ["refresh_card", "main"]

#: What the command is called in the card.
COMMAND = "python -m genrecls refresh-card"


def refresh_card(
    card: dict,
    *,
    models_dir: Path,
    song: Path,
    repeats: int = 5,
    steps: int = 10,
    command: str = COMMAND,
) -> dict:
    """Return ``card`` with its ``timing`` and ``saliency`` sections measured again.

    Parameters
    ----------
    card : dict
        The bundled model's JSON card (left unchanged).
    models_dir : pathlib.Path
        Folder of the card's model file (and of ``genre_model_fast.pt`` and
        ``genre_model_lite.pt``, timed too when they are there).
    song : pathlib.Path
        A real song of at least 30 s to time the classify path on.
    repeats : int > 0
        Timed repetitions per model.
    steps : int > 0
        Deletion steps of the saliency checks.
    command : str
        Named in the refreshed sections.

    Returns
    -------
    refreshed : dict

    Raises
    ------
    genrecls.exceptions.ParameterError
        If the model file is missing or is not the one the card describes.
    """
    from genrecls.bundle import measure_speed, saliency_checks
    from genrecls.compress import FAST_MODEL_FILE
    from genrecls.prune import LITE_MODEL_FILE

    model_path = Path(models_dir) / card["model"]["file"]
    if not model_path.is_file():
        raise ParameterError(f"{model_path} is missing: the card has no model to measure")
    if hashlib.sha256(model_path.read_bytes()).hexdigest() != card["model"]["sha256"]:
        raise ParameterError(
            f"{model_path.name} is not the model the card describes (SHA-256 differs): "
            "rebuild the card with `make model`"
        )
    timed = [model_path]
    for variant in (FAST_MODEL_FILE, LITE_MODEL_FILE):
        if (Path(models_dir) / variant).is_file():
            timed.append(Path(models_dir) / variant)
    out = dict(card)
    out["timing"] = measure_speed(timed, song, repeats=repeats, command=command)
    out["saliency"] = saliency_checks(model_path, steps=steps, command=command)
    out["refreshed"] = {
        "sections": ["timing", "saliency"],
        "command": command,
        "date": datetime.date.today().isoformat(),
    }
    return out


def main(*, models_dir: Path, repeats: int = 5, steps: int = 10) -> int:
    """Refresh ``models_dir/model_card.json`` and ``model_card.md``; see the module docstring."""
    from genrecls.bundle import speed_song
    from genrecls.data import index_shared_data
    from genrecls.model_card import load_card, render_markdown, write_json_atomic

    models_dir = Path(models_dir)
    card_path = models_dir / "model_card.json"
    test_tracks = [t for t in index_shared_data() if t.role == "test"]
    if not test_tracks:
        print("No shared data found (a real song is needed for the timing): set GENRECLS_DATA_DIR.")
        return 2
    card = refresh_card(
        load_card(card_path),
        models_dir=models_dir,
        song=speed_song(test_tracks),
        repeats=repeats,
        steps=steps,
    )
    write_json_atomic(card_path, card)
    (models_dir / "model_card.md").write_text(render_markdown(card))
    print(card["timing"]["text"])
    print(card["saliency"]["text"])
    print(f"wrote {card_path} and model_card.md")
    return 0
