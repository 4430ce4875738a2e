"""Project-wide settings: genre list, data location and input limits.

Limits are configuration, not magic numbers: each one has a default here and can be
overridden through an environment variable, so the app, the CLI and the tests agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from genrecls.exceptions import ParameterError

#: The ten GTZAN genres (Tzanetakis & Cook, 2002), in the order every model uses.
GENRES: tuple[str, ...] = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)

#: Root of the repository checkout (the folder holding ``genrecls/``).
PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent

#: Environment variable naming the shared data directory.
DATA_DIR_ENV = "GENRECLS_DATA_DIR"

#: Environment variable naming the folder where user-trained models are saved.
USER_MODELS_ENV = "GENRECLS_USER_MODELS"


def data_dir() -> Path:
    """Return the shared data directory.

    Returns
    -------
    path : pathlib.Path
        ``$GENRECLS_DATA_DIR`` when set, else ``../shared/data`` beside the checkout.
        The folder may not exist; callers check and skip or explain.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (PROJECT_ROOT.parent / "shared" / "data").resolve()


def bundled_models_dir() -> Path:
    """Return the folder of the models shipped with the package (``models/``)."""
    return PROJECT_ROOT / "models"


def user_models_dir() -> Path:
    """Return the folder where models trained by users are saved.

    Returns
    -------
    path : pathlib.Path
        ``$GENRECLS_USER_MODELS`` when set, else ``user_models/`` in the checkout.
        Never the bundled ``models/`` folder, so a user cannot overwrite the bundled model.
    """
    env = os.environ.get(USER_MODELS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return PROJECT_ROOT / "user_models"


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ParameterError(f"environment variable {name}={raw!r} is not a number") from exc


@dataclass(frozen=True)
class Limits:
    """Bounds on what the app and the CLI accept.

    Parameters
    ----------
    max_upload_bytes : int > 0
        Largest input accepted, in bytes (``GENRECLS_MAX_UPLOAD_MB``, default 200 MB).
    max_duration : float > 0
        Only the first ``max_duration`` seconds of a recording are analysed
        (``GENRECLS_MAX_DURATION_S``, default 600 s = 10 minutes).
    max_zip_entries : int > 0
        Most files accepted in an uploaded training archive.
    max_zip_uncompressed_bytes : int > 0
        Largest total uncompressed size of an uploaded training archive.
    """

    max_upload_bytes: int = 200 * 1024 * 1024
    max_duration: float = 600.0
    max_zip_entries: int = 5000
    max_zip_uncompressed_bytes: int = 2 * 1024 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_duration", "max_zip_entries"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not self.max_zip_uncompressed_bytes > 0:
            raise ParameterError("max_zip_uncompressed_bytes must be > 0")

    @classmethod
    def from_env(cls) -> Limits:
        """Build limits from the environment, falling back to the defaults."""
        return cls(
            max_upload_bytes=int(_env_number("GENRECLS_MAX_UPLOAD_MB", 200.0) * 1024 * 1024),
            max_duration=_env_number("GENRECLS_MAX_DURATION_S", 600.0),
            max_zip_entries=int(_env_number("GENRECLS_MAX_ZIP_ENTRIES", 5000)),
            max_zip_uncompressed_bytes=int(
                _env_number("GENRECLS_MAX_ZIP_MB", 2048.0) * 1024 * 1024
            ),
        )
