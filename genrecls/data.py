"""Dataset index, song-grouped splits and cached log-mel segments.

Three jobs, in the order a training run needs them:

1. **Index** the labelled audio: :func:`index_shared_data` reads the ``labels.csv`` of every
   folder of the shared data directory (see its ``MANIFEST.md``), maps each source's labels
   honestly onto the ten GTZAN genres and gives every file a *group*, the id of the song it
   comes from. :func:`index_folder` does the same for a folder-per-genre tree (a user's
   archive).
2. **Fix the test set before any training** (:func:`assign_roles`) and split the rest by
   song (:func:`group_kfold`, :func:`group_holdout`). Segments of one song are strongly
   correlated; a split that puts segments of the same song on both sides
   (:func:`random_segment_split`, kept only to demonstrate the problem) measures memory,
   not generalisation.
3. **Cache** the log-mel segments of every track on disk (:func:`build_segment_dataset`),
   so features are computed once, not every epoch.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import tempfile
import warnings
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from genrecls.config import GENRES, PROJECT_ROOT, data_dir
from genrecls.exceptions import AudioError, DataError, GenreclsWarning, ParameterError
from genrecls.features import FeatureConfig, log_mel, segment_spectrogram

__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_CACHE_DIR",
    "FMA_GENRE_MAP",
    "ROLES",
    "SHARED_SOURCES",
    "SegmentDataset",
    "Track",
    "artist_disjoint_sides",
    "assign_roles",
    "build_segment_dataset",
    "check_roles",
    "group_holdout",
    "group_kfold",
    "index_folder",
    "index_shared_data",
    "normalize_label",
    "random_segment_split",
    "summary_table",
]

Role = Literal["train", "test"]

#: The two roles a track can have. The test role is fixed before any training.
ROLES: tuple[str, ...] = ("train", "test")

#: File extensions (lower case, no dot) indexed as audio.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    "wav",
    "flac",
    "mp3",
    "ogg",
    "oga",
    "opus",
    "au",
    "aif",
    "aiff",
    "m4a",
    "aac",
    "wma",
    "webm",
)

#: Where :func:`build_segment_dataset` caches segments by default (git-ignored).
DEFAULT_CACHE_DIR: Path = PROJECT_ROOT / ".cache" / "segments"

#: The shared-data folders :func:`index_shared_data` knows, in index order.
SHARED_SOURCES: tuple[str, ...] = (
    "gtzan_samples",
    "gtzan_classical_extra",
    "gtzan_excerpts_2s",
    "gtzan_excerpts_20s",
    "nazar_full_songs",
    "fma_samples",
)

#: Folders whose files are (excerpts of) GTZAN tracks; their group is the GTZAN track stem.
GTZAN_SOURCES: frozenset[str] = frozenset(
    {"gtzan_samples", "gtzan_classical_extra", "gtzan_excerpts_2s", "gtzan_excerpts_20s"}
)

#: Folders of real recordings from outside GTZAN: always in the test role (the honest
#: out-of-distribution check).
OUT_OF_DISTRIBUTION_SOURCES: frozenset[str] = frozenset({"nazar_full_songs", "fma_samples"})

#: ID3 genre tag of an ``fma_samples`` clip -> GTZAN genre. Only tags that name a GTZAN
#: genre outright are mapped. Left out on purpose: ``Folk`` (not ``country``),
#: ``Electronic`` (not ``disco``), ``International``, ``Avant-Garde`` and
#: ``Other - misc`` (no GTZAN counterpart). A guess would put a wrong label in the test set.
FMA_GENRE_MAP: dict[str, str] = {"Hip-Hop": "hiphop", "Pop": "pop", "Rock": "rock"}

_GTZAN_STEM = re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})$")


# --------------------------------------------------------------------------- tracks
@dataclass(frozen=True)
class Track:
    """One labelled audio file.

    Parameters
    ----------
    path : pathlib.Path
        The audio file.
    label : str
        Its class; for the shared data always one of :data:`genrecls.config.GENRES`.
    group : str
        Id of the song (recording) the file comes from. Files of one group always land on
        the same side of every split. For GTZAN the track stem (``"rock.00001"``), shared by
        every excerpt of that track in any folder; for other sources ``"<source>:<id>"``.
    source : str
        Name of the folder the file was indexed from.
    role : {"train", "test"}
        ``"test"`` files are never used for training or model selection.
    """

    path: Path
    label: str
    group: str
    source: str
    role: Role = "train"

    def __post_init__(self) -> None:
        if not isinstance(self.path, Path):
            object.__setattr__(self, "path", Path(self.path))
        for name in ("label", "group", "source"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ParameterError(f"Track.{name} must be a non-empty string, got {value!r}")
        if self.role not in ROLES:
            raise ParameterError(f"Track.role must be one of {ROLES}, got {self.role!r}")


def normalize_label(name: str) -> str | None:
    """Map a label spelling onto a GTZAN genre, or return None.

    Case, spaces, hyphens and underscores are ignored, so ``"Hip-Hop"``, ``"hip_hop"`` and
    ``"HipHop"`` all give ``"hiphop"``. No synonyms are guessed (``"classic"`` or
    ``"electronic"`` give None).

    Parameters
    ----------
    name : str
        A label as a source spells it.

    Returns
    -------
    genre : str or None
        One of :data:`genrecls.config.GENRES`, or None.
    """
    key = re.sub(r"[\s_\-]+", "", str(name).strip().lower())
    return key if key in GENRES else None


# --------------------------------------------------------------------------- shared data
def _read_csv(path: Path, *, required: Sequence[str]) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    try:
        reader = csv.DictReader(io.StringIO(text))
        columns = reader.fieldnames or []
        rows = list(reader)
    except csv.Error as exc:
        raise DataError(f"{path} is not valid CSV: {exc}") from exc
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(f"{path} lacks the column(s) {missing}; it has {columns}")
    for number, row in enumerate(rows, start=2):
        if None in row or any(row.get(c) is None for c in columns):
            raise DataError(f"{path}, line {number}: wrong number of fields")
        for c in required:
            if not row[c].strip():
                raise DataError(f"{path}, line {number}: empty {c!r}")
    return rows


def _resolve_file(folder: Path, relative: str, *, csv_path: Path, line: int) -> Path:
    path = (folder / relative.strip()).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise DataError(f"{csv_path}, line {line}: {relative!r} points outside {folder}")
    if not path.is_file():
        raise DataError(f"{csv_path}, line {line}: audio file {relative!r} does not exist")
    return path


def _gtzan_group(stem: str, label: str, *, csv_path: Path, line: int) -> str:
    match = _GTZAN_STEM.match(stem.strip())
    if match is None:
        raise DataError(
            f"{csv_path}, line {line}: {stem!r} is not a GTZAN track id like 'rock.00001'"
        )
    if match["genre"] != label:
        raise DataError(
            f"{csv_path}, line {line}: GTZAN track {stem!r} is labelled {label!r}, "
            f"but its name says {match['genre']!r}"
        )
    return stem.strip()


def _index_source(folder: Path, source: str) -> list[Track]:
    csv_path = folder / "labels.csv"
    if not csv_path.is_file():
        raise DataError(f"{folder} has no labels.csv")
    tracks = []
    if source == "fma_samples":
        rows = _read_csv(csv_path, required=("file", "fma_track_id", "id3_genre"))
        for line, row in enumerate(rows, start=2):
            label = FMA_GENRE_MAP.get(row["id3_genre"].strip())
            if label is None:
                continue  # no honest GTZAN counterpart; see FMA_GENRE_MAP
            path = _resolve_file(folder, row["file"], csv_path=csv_path, line=line)
            group = f"fma:{row['fma_track_id'].strip()}"
            tracks.append(Track(path, label, group, source))
        return tracks

    rows = _read_csv(csv_path, required=("file", "label"))
    for line, row in enumerate(rows, start=2):
        label = normalize_label(row["label"])
        if label is None:
            raise DataError(
                f"{csv_path}, line {line}: label {row['label']!r} is not a GTZAN genre {GENRES}"
            )
        path = _resolve_file(folder, row["file"], csv_path=csv_path, line=line)
        if source in GTZAN_SOURCES:
            stem = (row.get("gtzan_track") or "").strip() or path.stem
            group = _gtzan_group(stem, label, csv_path=csv_path, line=line)
        else:
            group = f"{source.split('_')[0]}:{path.stem}"
        tracks.append(Track(path, label, group, source))
    return tracks


def index_shared_data(
    *,
    root: Path | None = None,
    sources: Sequence[str] | None = None,
    unlisted: Literal["drop", "train"] = "drop",
) -> list[Track]:
    """Index the labelled audio of the shared data directory, with roles assigned.

    Reads ``<root>/<source>/labels.csv`` of each source. Labels are mapped onto the GTZAN
    genres (``hip-hop`` -> ``hiphop``); ``fma_samples`` clips are kept only where their ID3
    genre maps through :data:`FMA_GENRE_MAP`. Groups: the GTZAN track stem for the GTZAN
    folders (so ``classical.00000`` in ``gtzan_samples`` and ``gtzan_classical_extra`` is
    one group), ``nazar:<file stem>`` and ``fma:<track id>`` otherwise. Roles come from
    :func:`assign_roles` with the split lists under ``<root>/splits/gtzan/``.

    Parameters
    ----------
    root : pathlib.Path or None
        The shared data directory; None uses :func:`genrecls.config.data_dir`.
    sources : sequence of str or None
        Folders to index (a subset of :data:`SHARED_SOURCES`); None = all. Folders that do
        not exist are skipped.
    unlisted : {"drop", "train"}
        What to do with GTZAN tracks in none of the fault-filtered split lists; see
        :func:`assign_roles`.

    Returns
    -------
    tracks : list of Track
        Sorted by source (in :data:`SHARED_SOURCES` order), then path.

    Raises
    ------
    genrecls.exceptions.DataError
        A ``labels.csv`` is missing, malformed, names a missing file or a label that is not
        a GTZAN genre; or GTZAN folders are present but the split lists are not.
    genrecls.exceptions.ParameterError
        ``sources`` names an unknown folder.

    See Also
    --------
    assign_roles, summary_table
    """
    root = data_dir() if root is None else Path(root)
    if sources is None:
        sources = SHARED_SOURCES
    unknown = [s for s in sources if s not in SHARED_SOURCES]
    if unknown:
        raise ParameterError(f"unknown source(s) {unknown}; known: {SHARED_SOURCES}")
    tracks: list[Track] = []
    for source in SHARED_SOURCES:
        folder = root / source
        if source in sources and folder.is_dir():
            tracks.extend(sorted(_index_source(folder, source), key=lambda t: str(t.path)))
    if not tracks:
        return tracks
    return assign_roles(
        tracks, test_split_file=root / "splits" / "gtzan" / "test_filtered.txt", unlisted=unlisted
    )


# --------------------------------------------------------------------------- roles
def _read_split_list(path: Path) -> set[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read the split list {path}: {exc}") from exc
    stems = set()
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        stem = Path(line).name.rsplit(".", 1)[0]
        if _GTZAN_STEM.match(stem) is None:
            raise DataError(f"{path}, line {number}: {line!r} does not name a GTZAN track")
        stems.add(stem)
    return stems


def artist_disjoint_sides(groups: Sequence[str], *, split_dir: Path | None = None) -> np.ndarray:
    """Which artist-disjoint GTZAN list (train or valid) each song belongs to.

    The fault-filtered split of Kereliuk et al. (2015) puts every artist's tracks in one
    of its three lists, so a model fitted on the *train* list and scored on the *valid*
    list (or the other way round) is scored on artists it has never heard. Song-grouped
    folds cannot promise that: GTZAN has up to dozens of tracks by one artist.

    Parameters
    ----------
    groups : sequence of str
        Song ids (:attr:`Track.group`; GTZAN stems such as ``"rock.00001"``).
    split_dir : pathlib.Path or None
        Folder with ``train_filtered.txt`` and ``valid_filtered.txt``; None uses
        ``data_dir()/splits/gtzan``.

    Returns
    -------
    sides : np.ndarray [shape=(len(groups),), dtype=object]
        ``"train"``, ``"valid"``, or ``""`` for songs in neither list (other sources).

    Raises
    ------
    genrecls.exceptions.DataError
        If a list cannot be read or names something that is not a GTZAN track.
    """
    split_dir = Path(split_dir) if split_dir is not None else data_dir() / "splits" / "gtzan"
    lists = {
        side: _read_split_list(split_dir / f"{side}_filtered.txt") for side in ("train", "valid")
    }
    both = lists["train"] & lists["valid"]
    if both:
        raise DataError(f"songs in both the train and the valid list: {sorted(both)[:5]}")
    return np.array(
        [next((side for side, stems in lists.items() if g in stems), "") for g in groups],
        dtype=object,
    )


def assign_roles(
    tracks: Sequence[Track],
    *,
    test_split_file: Path | None = None,
    other_split_files: Sequence[Path] | None = None,
    unlisted: Literal["drop", "train"] = "drop",
) -> list[Track]:
    """Fix the test set: give every track the role ``"train"`` or ``"test"``.

    The role is decided per group, so no group ever has files in both roles:

    - **test**: a GTZAN track whose stem is in the fault-filtered *test* list (Kereliuk
      et al., 2015, as split by Lee et al., 2017); every track of an out-of-distribution
      source (``nazar_full_songs``, ``fma_samples``: real recordings from outside GTZAN);
      and a ``gtzan_samples`` clip in none of the lists. Of the ten ``gtzan_samples``
      clips (track ``00000`` of each genre) ``hiphop`` and ``pop`` are in the test list,
      ``jazz``, ``reggae``, ``rock`` in the train list and the other five in the valid
      list, so only those two are test: the others are the same GTZAN tracks the split
      puts on the training side (``classical.00000`` is also in ``gtzan_classical_extra``).
    - **train**: GTZAN tracks in the train or valid list (validation folds are drawn
      later, by song, with :func:`group_kfold`), and tracks of any other source.
    - GTZAN tracks in **no** list (the 70 of 1000 the filtering removed for repetitions,
      mislabelling or distortion; 48 of them occur among the excerpts) are dropped by
      default: a repetition of a test track, or another song by a test artist, in the
      training set would leak into the test score. ``unlisted="train"`` keeps them for
      training instead.

    Parameters
    ----------
    tracks : sequence of Track
        Indexed tracks (their current roles are ignored).
    test_split_file : pathlib.Path or None
        The test list (lines like ``blues/blues.00029.wav``); None uses
        ``data_dir()/splits/gtzan/test_filtered.txt``.
    other_split_files : sequence of pathlib.Path or None
        The other lists of the same split, used only to tell "listed but not test" from
        "unlisted"; None uses ``train_filtered.txt`` and ``valid_filtered.txt`` beside
        ``test_split_file``.
    unlisted : {"drop", "train"}
        What to do with GTZAN tracks in no list.

    Returns
    -------
    tracks : list of Track
        Copies with ``role`` set, in the input order, unlisted GTZAN tracks left out when
        ``unlisted="drop"``.

    Raises
    ------
    genrecls.exceptions.DataError
        A split list is missing or malformed (only read when GTZAN tracks are present).
    """
    if unlisted not in ("drop", "train"):
        raise ParameterError(f"unlisted must be 'drop' or 'train', got {unlisted!r}")
    tracks = list(tracks)
    gtzan_groups = {t.group for t in tracks if t.source in GTZAN_SOURCES}
    test_stems: set[str] = set()
    listed: set[str] = set()
    if gtzan_groups:
        if test_split_file is None:
            test_split_file = data_dir() / "splits" / "gtzan" / "test_filtered.txt"
        test_split_file = Path(test_split_file)
        if other_split_files is None:
            other_split_files = [
                test_split_file.with_name(name)
                for name in ("train_filtered.txt", "valid_filtered.txt")
            ]
        test_stems = _read_split_list(test_split_file)
        listed = set(test_stems)
        for path in other_split_files:
            listed |= _read_split_list(Path(path))

    members: dict[str, list[Track]] = defaultdict(list)
    for t in tracks:
        members[t.group].append(t)
    decision: dict[str, str | None] = {}
    for group, items in members.items():
        sources = {t.source for t in items}
        is_gtzan = bool(sources & GTZAN_SOURCES)
        if is_gtzan and group in test_stems:
            decision[group] = "test"
        elif sources & OUT_OF_DISTRIBUTION_SOURCES:
            decision[group] = "test"
        elif is_gtzan and group not in listed:
            decision[group] = "test" if "gtzan_samples" in sources else None
            if decision[group] is None and unlisted == "train":
                decision[group] = "train"
        else:
            decision[group] = "train"
    out = [
        dataclasses.replace(t, role=decision[t.group])
        for t in tracks
        if decision[t.group] is not None
    ]
    check_roles(out)
    return out


def check_roles(tracks: Sequence[Track]) -> None:
    """Raise if any group has files in both roles.

    Raises
    ------
    genrecls.exceptions.DataError
        Naming up to five offending groups.
    """
    roles: dict[str, set[str]] = defaultdict(set)
    for t in tracks:
        roles[t.group].add(t.role)
    both = sorted(g for g, r in roles.items() if len(r) > 1)
    if both:
        raise DataError(f"{len(both)} group(s) are in both train and test, e.g. {both[:5]}")


def summary_table(tracks: Sequence[Track], *, by: Literal["role", "source"] = "role"):
    """Count files per label and role (or source).

    Parameters
    ----------
    tracks : sequence of Track
    by : {"role", "source"}
        What the columns count by.

    Returns
    -------
    table : pandas.DataFrame
        One row per label (GTZAN order first, then others alphabetically) plus ``"total"``;
        one column per role (``train``, ``test``) or source, plus ``"total"``. Integers.
    """
    if by not in ("role", "source"):
        raise ParameterError(f"by must be 'role' or 'source', got {by!r}")
    labels = [g for g in GENRES if any(t.label == g for t in tracks)]
    labels += sorted({t.label for t in tracks} - set(GENRES))
    if by == "role":
        columns = list(ROLES)
    else:
        columns = list(dict.fromkeys(t.source for t in tracks))
    counts = Counter((t.label, getattr(t, by)) for t in tracks)
    table = pd.DataFrame(
        [[counts.get((label, c), 0) for c in columns] for label in labels],
        index=pd.Index(labels, name="label"),
        columns=pd.Index(columns, name=by),
        dtype=int,
    )
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    return table


# --------------------------------------------------------------------------- user folders
def _visible(name: str) -> bool:
    return not (name.startswith(".") or name.startswith("__"))


def index_folder(
    root: Path, *, extensions: Sequence[str] = AUDIO_EXTENSIONS, source: str | None = None
) -> list[Track]:
    """Index a folder-per-class tree, e.g. an unpacked training archive.

    Each visible subfolder of ``root`` is a class; its audio files (at any depth) are the
    examples. A folder name that spells a GTZAN genre is normalised (``Hip-Hop`` ->
    ``hiphop``); any other name is kept as is. When ``root`` holds nothing but one folder
    (an archive wrapped in a top folder), that folder is used. Hidden files and folders
    (``.DS_Store``, ``__MACOSX``) and files with other extensions are ignored.

    Groups are file stems, so two excerpts of one song named alike (``rock.00001.wav`` in
    two subfolders) stay together. An optional ``root/labels.csv`` with a ``file`` column
    (path relative to ``root``) and a ``group`` or ``gtzan_track`` column overrides the
    group of the files it lists.

    Parameters
    ----------
    root : pathlib.Path
        The folder.
    extensions : sequence of str
        Audio file extensions, without dot, case-insensitive.
    source : str or None
        Name stored in :attr:`Track.source`; None uses ``root``'s name.

    Returns
    -------
    tracks : list of Track
        Sorted by label, then path; all with role ``"train"``.

    Raises
    ------
    genrecls.exceptions.DataError
        ``root`` is not a folder, holds no class folder with audio, or its ``labels.csv``
        is malformed.

    Warns
    -----
    genrecls.exceptions.GenreclsWarning
        For every class folder that holds no audio file (it is left out).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    exts = {e.lower().lstrip(".") for e in extensions}
    children = [p for p in root.iterdir() if _visible(p.name)]
    if len(children) == 1 and children[0].is_dir() and not (root / "labels.csv").exists():
        inner = [p for p in children[0].iterdir() if _visible(p.name)]
        if inner and all(p.is_dir() for p in inner if p.name != "labels.csv"):
            root = children[0]
            children = inner
    source = source or root.name

    overrides: dict[Path, str] = {}
    csv_path = root / "labels.csv"
    if csv_path.is_file():
        rows = _read_csv(csv_path, required=("file",))
        column = next((c for c in ("group", "gtzan_track") if rows and c in rows[0]), None)
        if column is None and rows:
            raise DataError(f"{csv_path} needs a 'group' or 'gtzan_track' column")
        for row in rows:
            if row[column].strip():
                overrides[(root / row["file"].strip()).resolve()] = row[column].strip()

    tracks: list[Track] = []
    empty: list[str] = []
    for folder in sorted(p for p in children if p.is_dir()):
        files = sorted(
            p
            for p in folder.rglob("*")
            if p.is_file()
            and p.suffix.lower().lstrip(".") in exts
            and all(_visible(part) for part in p.relative_to(root).parts)
        )
        if not files:
            empty.append(folder.name)
            continue
        label = normalize_label(folder.name) or folder.name
        for path in files:
            group = overrides.get(path.resolve(), path.stem)
            tracks.append(Track(path, label, group, source))
    for name in empty:
        warnings.warn(
            f"class folder {name!r} holds no audio file ({', '.join(sorted(exts))}); "
            "it is left out",
            GenreclsWarning,
            stacklevel=2,
        )
    if not tracks:
        raise DataError(f"{root} holds no class folder with audio files")
    return sorted(tracks, key=lambda t: (t.label, str(t.path)))


# --------------------------------------------------------------------------- splits
def _check_groups_labels(groups: Sequence, labels: Sequence) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray([str(x) for x in groups])
    y = np.asarray([str(x) for x in labels])
    if g.ndim != 1 or g.shape != y.shape:
        raise ParameterError(
            f"groups and labels need one entry each per item: {g.shape}, {y.shape}"
        )
    if g.size == 0:
        raise ParameterError("nothing to split: groups is empty")
    return g, y


def _check_fraction(valid_fraction: float) -> float:
    if isinstance(valid_fraction, bool) or not isinstance(
        valid_fraction, int | float | np.floating
    ):
        raise ParameterError(f"valid_fraction must be a number, got {valid_fraction!r}")
    if not 0.0 < float(valid_fraction) < 1.0:
        raise ParameterError(f"valid_fraction must lie in (0, 1), got {valid_fraction}")
    return float(valid_fraction)


def group_kfold(
    groups: Sequence[str], labels: Sequence[str], *, n_splits: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split into ``n_splits`` folds by group, stratified by label.

    scikit-learn's ``StratifiedGroupKFold(shuffle=True)``: every group's items fall in one
    fold only, and the folds' class proportions are kept as close to the whole as the
    groups allow. When no class has ``n_splits`` items (so stratification is impossible)
    it falls back to ``GroupKFold(shuffle=True)``.

    Parameters
    ----------
    groups : sequence of str [shape=(n,)]
        Group (song) of each item.
    labels : sequence of str [shape=(n,)]
        Class of each item.
    n_splits : int >= 2
        Number of folds; at most the number of distinct groups.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    folds : list of (train_idx, valid_idx)
        ``n_splits`` pairs of sorted index arrays; the ``valid_idx`` partition ``range(n)``.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    g, y = _check_groups_labels(groups, labels)
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 2:
        raise ParameterError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    n_groups = len(set(g.tolist()))
    if n_splits > n_groups:
        raise ParameterError(f"n_splits={n_splits} is more than the {n_groups} distinct groups")
    X = np.zeros((g.size, 1))
    with warnings.catch_warnings():
        # "The least populated class in y has only k members": expected with few songs.
        warnings.simplefilter("ignore", UserWarning)
        if max(Counter(y.tolist()).values()) >= n_splits:
            splitter = StratifiedGroupKFold(n_splits=int(n_splits), shuffle=True, random_state=seed)
            folds = list(splitter.split(X, y, g))
        else:
            splitter = GroupKFold(n_splits=int(n_splits), shuffle=True, random_state=seed)
            folds = list(splitter.split(X, y, g))
    return [(np.sort(tr), np.sort(va)) for tr, va in folds]


def group_holdout(
    groups: Sequence[str], labels: Sequence[str], *, valid_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out about ``valid_fraction`` of the groups of every class for validation.

    Groups are given the most common label of their items; within each class,
    ``round(valid_fraction * n_groups)`` shuffled groups go to validation (at least one
    when the class has two or more groups, never all of them). A class with a single group
    stays in training.

    Parameters
    ----------
    groups : sequence of str [shape=(n,)]
        Group (song) of each item.
    labels : sequence of str [shape=(n,)]
        Class of each item.
    valid_fraction : float in (0, 1)
        Share of each class's groups to hold out.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    train_idx, valid_idx : np.ndarray [shape=(n_train,)], [shape=(n_valid,)]
        Sorted, disjoint; together ``range(n)``. ``valid_idx`` is empty only when no
        class has two groups.
    """
    g, y = _check_groups_labels(groups, labels)
    valid_fraction = _check_fraction(valid_fraction)
    rng = np.random.default_rng(seed)
    group_label: dict[str, str] = {}
    for group in dict.fromkeys(g.tolist()):
        group_label[group] = Counter(y[g == group].tolist()).most_common(1)[0][0]
    valid_groups: set[str] = set()
    for label in sorted(set(group_label.values())):
        members = sorted(k for k, v in group_label.items() if v == label)
        if len(members) < 2:
            continue
        k = min(len(members) - 1, max(1, int(round(valid_fraction * len(members)))))
        chosen = rng.choice(len(members), size=k, replace=False)
        valid_groups.update(members[i] for i in chosen)
    is_valid = np.isin(g, sorted(valid_groups))
    return np.flatnonzero(~is_valid), np.flatnonzero(is_valid)


def random_segment_split(
    n: int, *, valid_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` segments at random, ignoring their song: **wrong on purpose**.

    Segments of one song end up on both sides, so the validation score rewards
    recognising the *song* (its mix, its singer, its recording) rather than the genre and
    comes out far too high. genrecls uses this split only for the leakage demonstration
    that compares it with :func:`group_kfold`; never to select or report a model.

    Parameters
    ----------
    n : int >= 2
        Number of segments.
    valid_fraction : float in (0, 1)
        Share held out.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    train_idx, valid_idx : np.ndarray
        Sorted, disjoint, non-empty; together ``range(n)``.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ParameterError(f"n must be an integer >= 2, got {n!r}")
    valid_fraction = _check_fraction(valid_fraction)
    perm = np.random.default_rng(seed).permutation(int(n))
    k = min(n - 1, max(1, int(round(valid_fraction * n))))
    return np.sort(perm[k:]), np.sort(perm[:k])


# --------------------------------------------------------------------------- segments
#: Bump when the cached content changes meaning (invalidates every cache entry).
_CACHE_VERSION = 1

#: Name of the unaugmented variant in :attr:`SegmentDataset.variants`.
ORIGINAL = "original"


@dataclass
class SegmentDataset:
    """Log-mel segments of a list of tracks, ready for training.

    Attributes
    ----------
    X : np.ndarray [shape=(N, n_mels, segment_frames), dtype=float32]
        Segments.
    y : np.ndarray [shape=(N,), dtype=int64]
        Class of each segment, an index into :attr:`labels`.
    groups : np.ndarray [shape=(N,), dtype=str]
        Group (song) of each segment; augmented variants keep their song's group.
    track_index : np.ndarray [shape=(N,), dtype=int64]
        Index into :attr:`tracks` of the track each segment comes from.
    starts : np.ndarray [shape=(N,), dtype=float64]
        Start of each segment in seconds, on the time axis of its variant (a time-stretched
        variant has its own, shorter or longer, axis).
    variants : np.ndarray [shape=(N,), dtype=str]
        ``"original"`` or the name of the waveform augmentation.
    labels : tuple of str
        Class names, in the order of the indices in :attr:`y`.
    tracks : list of Track
        The tracks the segments come from (including any that were skipped).
    config : FeatureConfig
        Front end the segments were computed with.
    skipped : list of (Path, str)
        Tracks left out because they could not be decoded, with the reason.
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    track_index: np.ndarray
    starts: np.ndarray
    variants: np.ndarray
    labels: tuple[str, ...]
    tracks: list[Track]
    config: FeatureConfig
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def is_original(self) -> np.ndarray:
        """Boolean mask of the unaugmented segments (use these for validation)."""
        return self.variants == ORIGINAL

    @property
    def roles(self) -> np.ndarray:
        """Role (``"train"``/``"test"``) of each segment's track."""
        roles = np.asarray([t.role for t in self.tracks], dtype=object)
        return roles[self.track_index].astype(str) if len(self) else np.empty(0, dtype=str)

    def subset(self, index: np.ndarray) -> SegmentDataset:
        """Return the segments at ``index`` (integer indices or a boolean mask)."""
        index = np.asarray(index)
        return dataclasses.replace(
            self,
            X=self.X[index],
            y=self.y[index],
            groups=self.groups[index],
            track_index=self.track_index[index],
            starts=self.starts[index],
            variants=self.variants[index],
        )


def _decode(path: Path, *, sr: int, max_seconds: float | None) -> np.ndarray:
    """Decode the first ``max_seconds`` of ``path`` to mono float32 at ``sr``."""
    try:
        from genrecls.audio import load_audio
    except ImportError:  # pragma: no cover - genrecls.audio is part of the package
        import librosa

        y, _ = librosa.load(path, sr=sr, mono=True, duration=max_seconds)
        return y.astype(np.float32, copy=False)
    with warnings.catch_warnings():
        # Truncation to max_seconds is asked for; silence is the model's problem here.
        warnings.simplefilter("ignore", GenreclsWarning)
        return load_audio(path, sr=sr, max_duration=max_seconds).samples


def _cache_key(
    path: Path, *, config: FeatureConfig, max_seconds: float | None, variant: str
) -> str:
    stat = path.stat()
    payload = {
        "version": _CACHE_VERSION,
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "config": config.to_dict(),
        "max_seconds": max_seconds,
        "variant": variant,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:40]


def _load_cached(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["X"], data["starts"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # damaged entry: recompute it


def _save_cached(path: Path, X: np.ndarray, starts: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, X=X, starts=starts)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_variants(
    augment_variants: Sequence[tuple[str, Callable[[np.ndarray], np.ndarray]]] | None,
) -> list[tuple[str, Callable[[np.ndarray], np.ndarray] | None]]:
    variants: list[tuple[str, Callable | None]] = [(ORIGINAL, None)]
    for item in augment_variants or ():
        if not (isinstance(item, tuple) and len(item) == 2):
            raise ParameterError(f"augment_variants entries must be (name, callable), got {item!r}")
        name, fn = item
        if not isinstance(name, str) or not name or not callable(fn):
            raise ParameterError(f"augment_variants entries must be (name, callable), got {item!r}")
        if name in (v[0] for v in variants):
            raise ParameterError(f"augment variant name {name!r} is used twice (or is reserved)")
        variants.append((name, fn))
    return variants


def build_segment_dataset(
    tracks: Sequence[Track],
    *,
    config: FeatureConfig,
    cache_dir: Path | None = None,
    labels: Sequence[str] = GENRES,
    max_seconds: float | None = 30.0,
    augment_variants: Sequence[tuple[str, Callable[[np.ndarray], np.ndarray]]] | None = None,
    progress: bool = True,
    on_error: Literal["raise", "skip"] = "raise",
) -> SegmentDataset:
    """Compute (or load from the cache) the log-mel segments of every track.

    Each track is decoded once (first ``max_seconds``, mono, at ``config.sr``); the
    original and every augmented variant are turned into a log-mel spectrogram
    (:func:`genrecls.features.log_mel`) and cut into segments
    (:func:`genrecls.features.segment_spectrogram`; a clip shorter than one segment is
    repeat-padded). Each (track, variant) is cached as one ``.npz`` file (arrays ``X`` and
    ``starts``) under ``cache_dir``, named by a hash of the file's resolved path, size and
    modification time, ``config.to_dict()``, ``max_seconds`` and the variant name; a file
    that changes or a different front end gives a new key. A later call decodes nothing
    for tracks whose entries all exist.

    Parameters
    ----------
    tracks : sequence of Track
        What to compute.
    config : FeatureConfig
        Front end.
    cache_dir : pathlib.Path or None
        Cache folder (created if needed); None uses :data:`DEFAULT_CACHE_DIR`
        (``.cache/segments/`` in the checkout, git-ignored).
    labels : sequence of str
        Class names; ``y`` indexes into them. Every track's label must be among them.
    max_seconds : float > 0 or None
        Seconds decoded from the start of each file; None = all (up to the
        :class:`genrecls.config.Limits` maximum).
    augment_variants : sequence of (str, callable) or None
        Waveform transforms ``y -> y`` (mono float32 at ``config.sr``) whose segments are
        added beside the originals, e.g. :meth:`genrecls.augment.WaveformAugmentation.variants`.
        The name must identify the transform and all its parameters: it is part of the
        cache key.
    progress : bool
        Show a tqdm progress bar.
    on_error : {"raise", "skip"}
        What to do with a track that cannot be decoded: raise
        :class:`~genrecls.exceptions.DataError`, or leave it out and list it in
        :attr:`SegmentDataset.skipped`.

    Returns
    -------
    dataset : SegmentDataset
        Segments in track order, each track's original first, then its variants.

    Raises
    ------
    genrecls.exceptions.DataError
        A track cannot be decoded (with ``on_error="raise"``).
    genrecls.exceptions.ParameterError
        A track's label is not in ``labels``, or an argument is invalid.
    """
    if not isinstance(config, FeatureConfig):
        raise ParameterError(f"config must be a FeatureConfig, got {type(config).__name__}")
    if max_seconds is not None and not max_seconds > 0:
        raise ParameterError(f"max_seconds must be > 0 or None, got {max_seconds}")
    if on_error not in ("raise", "skip"):
        raise ParameterError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    labels = tuple(labels)
    if len(set(labels)) != len(labels) or not labels:
        raise ParameterError(f"labels must be distinct and non-empty, got {labels}")
    label_index = {name: i for i, name in enumerate(labels)}
    tracks = list(tracks)
    foreign = sorted({t.label for t in tracks} - set(labels))
    if foreign:
        raise ParameterError(f"track label(s) {foreign} are not among the labels {labels}")
    variants = _check_variants(augment_variants)
    cache_dir = DEFAULT_CACHE_DIR if cache_dir is None else Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)

    key_args = {"config": config, "max_seconds": max_seconds}
    parts: list[tuple[int, str, np.ndarray, np.ndarray]] = []
    skipped: list[tuple[Path, str]] = []
    for i, track in enumerate(
        tqdm(tracks, desc="segments", unit="track", disable=not progress, leave=False)
    ):
        try:
            files = {
                name: cache_dir / f"{_cache_key(track.path, **key_args, variant=name)}.npz"
                for name, _ in variants
            }
            results = {name: _load_cached(files[name]) for name, _ in variants}
            if any(r is None for r in results.values()):
                y = _decode(track.path, sr=config.sr, max_seconds=max_seconds)
                for name, fn in variants:
                    if results[name] is not None:
                        continue
                    wave = y if fn is None else np.asarray(fn(y), dtype=np.float32)
                    segments, first_frames = segment_spectrogram(
                        log_mel(wave, config=config), config=config
                    )
                    starts = first_frames * config.hop_length / config.sr
                    _save_cached(files[name], segments, starts)
                    results[name] = (segments, starts)
        except (AudioError, DataError, OSError) as exc:
            message = f"{track.path}: {exc}"
            if on_error == "raise":
                raise DataError(f"cannot compute the segments of {message}") from exc
            skipped.append((track.path, str(exc)))
            continue
        for name, _ in variants:
            X, starts = results[name]
            parts.append((i, name, X, starts))

    n_mels, frames = config.n_mels, config.segment_frames
    if parts:
        X = np.concatenate([p[2] for p in parts]).astype(np.float32, copy=False)
        counts = [p[2].shape[0] for p in parts]
        track_index = np.repeat([p[0] for p in parts], counts).astype(np.int64)
        starts = np.concatenate([p[3] for p in parts]).astype(np.float64)
        variant_names = np.repeat([p[1] for p in parts], counts).astype(str)
    else:
        X = np.empty((0, n_mels, frames), dtype=np.float32)
        track_index = np.empty(0, dtype=np.int64)
        starts = np.empty(0, dtype=np.float64)
        variant_names = np.empty(0, dtype=str)
    y_all = np.asarray([label_index[t.label] for t in tracks], dtype=np.int64)
    groups_all = np.asarray([t.group for t in tracks], dtype=str)
    return SegmentDataset(
        X=X,
        y=y_all[track_index] if tracks else np.empty(0, dtype=np.int64),
        groups=groups_all[track_index] if tracks else np.empty(0, dtype=str),
        track_index=track_index,
        starts=starts,
        variants=variant_names,
        labels=labels,
        tracks=tracks,
        config=config,
        skipped=skipped,
    )
