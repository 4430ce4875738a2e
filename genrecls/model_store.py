"""Where models live: the bundled model and the ones users trained.

The bundled model sits in ``models/`` (read-only for the app); models trained on the Train
page are saved under :func:`genrecls.config.user_models_dir`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genrecls.config import bundled_models_dir, user_models_dir

#: File name of the bundled genre model in ``models/``.
BUNDLED_MODEL_FILE = "genre_model.pt"

#: The distilled student (``python -m genrecls distill``): faster, less accurate.
BUNDLED_STUDENT_FILE = "genre_model_student.pt"

#: The bundled model with a low-rank front-end (``python -m genrecls compress``): same
#: verdicts, less arithmetic; the app's default when present.
BUNDLED_FAST_FILE = "genre_model_fast.pt"

#: The fast model pruned to its two timbral branches (``python -m genrecls prune``):
#: a quarter of its CPU time; the app's default when its card says it keeps 95% of the
#: bundled model's real-song accuracy (:func:`lite_is_default`).
BUNDLED_LITE_FILE = "genre_model_lite.pt"

#: The lite model's card, written beside it by ``python -m genrecls prune``.
BUNDLED_LITE_CARD = "lite_model_card.json"


@dataclass(frozen=True)
class ModelEntry:
    """A model file the app can offer.

    Attributes
    ----------
    name : str
        Name shown to people.
    path : pathlib.Path
        The ``.pt`` file.
    bundled : bool
        True for the model shipped with genrecls.
    mtime : float
        Modification time (part of cache keys, so a re-saved model is reloaded).
    """

    name: str
    path: Path
    bundled: bool
    mtime: float

    @property
    def label(self) -> str:
        """Name for a select box."""
        return f"{self.name} (bundled)" if self.bundled else f"{self.name} (trained here)"


def bundled_model_path() -> Path:
    """Path of the bundled genre model."""
    return bundled_models_dir() / BUNDLED_MODEL_FILE


def lite_is_default() -> bool:
    """Whether the lite model leads the list (is the app's default).

    True when it exists and its card says it keeps at least 95% of the bundled model's
    real-song top-1: issue #8's bar for shipping a smaller model in the teacher's place.
    """
    import json

    folder = bundled_models_dir()
    if not (folder / BUNDLED_LITE_FILE).is_file():
        return False
    try:
        card = json.loads((folder / BUNDLED_LITE_CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(card.get("meets_95_percent"))


def available_models() -> list[ModelEntry]:
    """List the bundled models and the user models (newest first).

    The first is the app's default: the pruned lite model when :func:`lite_is_default`,
    else the fast low-rank variant. Then the other of the two, the bundled model they
    were made from, the distilled student and the user models.
    """
    entries = []
    fast = bundled_models_dir() / BUNDLED_FAST_FILE
    if fast.is_file():
        entries.append(ModelEntry("genre_model_fast", fast, True, fast.stat().st_mtime))
    lite = bundled_models_dir() / BUNDLED_LITE_FILE
    if lite.is_file():
        entry = ModelEntry("genre_model_lite", lite, True, lite.stat().st_mtime)
        entries.insert(0 if lite_is_default() else len(entries), entry)
    bundled = bundled_model_path()
    if bundled.is_file():
        entries.append(ModelEntry("genre_model", bundled, True, bundled.stat().st_mtime))
    student = bundled_models_dir() / BUNDLED_STUDENT_FILE
    if student.is_file():
        entries.append(ModelEntry("genre_model_student", student, True, student.stat().st_mtime))
    folder = user_models_dir()
    if folder.is_dir():
        user = [
            ModelEntry(p.stem, p, False, p.stat().st_mtime)
            for p in folder.glob("*.pt")
            if p.is_file() and not p.is_symlink()
        ]
        entries.extend(sorted(user, key=lambda e: e.mtime, reverse=True))
    return entries
