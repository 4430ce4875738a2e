r"""Safe extraction of a user's training archive (a zip with one folder per class).

An uploaded zip is untrusted input. :func:`extract_training_zip` unpacks it into a fresh
temporary folder and refuses, before writing anything, archives that could write outside
that folder or exhaust the disk:

- entries with absolute paths (``/etc/x``, ``C:\x``) or ``..`` components (zip-slip);
- symbolic links (Unix mode in ``external_attr``), encrypted entries, duplicate names;
- more entries than ``Limits.max_zip_entries``, or a declared uncompressed total above
  ``Limits.max_zip_uncompressed_bytes``.

The declared sizes can lie (a "zip bomb" may claim small files), so the bytes are also
counted while they are written, and extraction stops (and everything written is removed)
the moment an entry exceeds its declared size or the total exceeds the limit.

Layout: ``class/...audio`` or ``wrapper/class/...audio`` (one optional top folder around
the class folders); files may sit at any depth inside a class folder. Only audio files
(:data:`genrecls.data.AUDIO_EXTENSIONS`) are written; other files, hidden files and
``__MACOSX`` folders are skipped and listed. Class folders with no audio are reported.
Index the result with :func:`genrecls.data.index_folder`.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from genrecls.config import Limits
from genrecls.data import AUDIO_EXTENSIONS
from genrecls.exceptions import DataError, ParameterError

__all__ = ["ExtractedArchive", "extract_training_zip"]

_CHUNK = 1 << 20


@dataclass
class ExtractedArchive:
    """What :func:`extract_training_zip` wrote.

    Attributes
    ----------
    root : pathlib.Path
        The fresh folder holding the class folders (the wrapper folder, if the archive had
        one, is inside it; :func:`genrecls.data.index_folder` looks through it).
    class_counts : dict[str, int]
        Audio files written per class folder, in name order.
    empty_classes : list of str
        Class folders that hold no audio file (left out of training).
    skipped : list of str
        Archive entries not written: non-audio files, hidden files, files outside any
        class folder.
    total_bytes : int
        Bytes written.
    """

    root: Path
    class_counts: dict[str, int]
    empty_classes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    total_bytes: int = 0

    def cleanup(self) -> None:
        """Remove the extracted folder and everything in it."""
        shutil.rmtree(self.root, ignore_errors=True)


def _entry_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """Validate an entry name and split it into path components."""
    raw = info.filename
    name = raw.replace("\\", "/")
    if "\x00" in name:
        raise DataError(f"archive entry {raw!r} has a NUL character in its name")
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":" and name[0].isalpha()):
        raise DataError(f"archive entry {raw!r} has an absolute path; refusing the archive")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if any(p == ".." for p in parts):
        raise DataError(
            f"archive entry {raw!r} points outside the archive ('..'); refusing the archive"
        )
    return parts


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = (info.external_attr >> 16) & 0xFFFF
    return stat.S_ISLNK(mode)


def _hidden(part: str) -> bool:
    return part.startswith(".") or part.startswith("__")


def _check_limits(limits: Limits | None) -> Limits:
    if limits is None:
        return Limits.from_env()
    if not isinstance(limits, Limits):
        raise ParameterError(f"limits must be a genrecls.config.Limits, got {limits!r}")
    return limits


def _open_zip(source: str | os.PathLike | bytes | BinaryIO) -> zipfile.ZipFile:
    if isinstance(source, bytes | bytearray | memoryview):
        source = io.BytesIO(bytes(source))
    elif isinstance(source, str | os.PathLike):
        if not Path(source).is_file():
            raise DataError(f"no archive at {source}")
    elif not hasattr(source, "read"):
        raise ParameterError(
            f"source must be a path, bytes or a binary file, got {type(source).__name__}"
        )
    try:
        return zipfile.ZipFile(source)
    except zipfile.BadZipFile as exc:
        raise DataError(f"the upload is not a zip archive ({exc})") from exc
    except OSError as exc:
        raise DataError(f"cannot read the archive: {exc}") from exc


def extract_training_zip(
    source: str | os.PathLike | bytes | BinaryIO,
    *,
    dest_root: str | os.PathLike | None = None,
    limits: Limits | None = None,
) -> ExtractedArchive:
    """Unpack a folder-per-class training zip into a fresh temporary folder.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file-like
        The zip archive.
    dest_root : str, os.PathLike or None
        Folder in which the fresh extraction folder is created (``tempfile.mkdtemp``);
        None uses the system temporary folder.
    limits : genrecls.config.Limits or None
        ``max_zip_entries`` and ``max_zip_uncompressed_bytes``; None reads
        :meth:`~genrecls.config.Limits.from_env`.

    Returns
    -------
    extracted : ExtractedArchive
        The folder and what went into it. Call :meth:`ExtractedArchive.cleanup` when done.

    Raises
    ------
    genrecls.exceptions.DataError
        The upload is not a zip; it has an unsafe entry (absolute path, ``..``, symbolic
        link, encrypted, duplicate); it exceeds the entry or size limits (declared or
        actual); it holds no audio inside class folders; or it cannot be written. Nothing
        is left on disk when this is raised.
    genrecls.exceptions.ParameterError
        On an invalid ``source`` type or ``limits``.
    """
    limits = _check_limits(limits)
    audio_exts = {f".{e}" for e in AUDIO_EXTENSIONS}
    with _open_zip(source) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_zip_entries:
            raise DataError(
                f"the archive has {len(infos)} entries; at most {limits.max_zip_entries} "
                "are accepted"
            )
        declared = sum(max(0, i.file_size) for i in infos)
        if declared > limits.max_zip_uncompressed_bytes:
            raise DataError(
                f"the archive would unpack to {declared / 2**20:.1f} MiB; at most "
                f"{limits.max_zip_uncompressed_bytes / 2**20:.1f} MiB are accepted"
            )

        # First pass: validate every entry and plan the files, writing nothing.
        seen: set[tuple[str, ...]] = set()
        files: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
        folders: set[tuple[str, ...]] = set()
        skipped: list[str] = []
        for info in infos:
            parts = _entry_parts(info)
            if _is_symlink(info):
                raise DataError(
                    f"archive entry {info.filename!r} is a symbolic link; refusing the archive"
                )
            if info.flag_bits & 0x1:
                raise DataError(f"archive entry {info.filename!r} is encrypted")
            if not parts:
                continue
            if parts in seen:
                raise DataError(f"archive entry {info.filename!r} appears twice")
            seen.add(parts)
            if any(_hidden(p) for p in parts):
                if not info.is_dir():
                    skipped.append(info.filename)
                continue
            if info.is_dir():
                folders.add(parts)
                continue
            folders.update(parts[:i] for i in range(1, len(parts)))
            files.append((info, parts))

        audio = []
        for info, parts in files:
            if Path(parts[-1]).suffix.lower() in audio_exts:
                audio.append((info, parts))
            else:
                skipped.append(info.filename)
        # One top folder around everything (no audio beside the class folders) is a wrapper,
        # as genrecls.data.index_folder sees it once only the audio files are written.
        wrapper: tuple[str, ...] = ()
        if len({p[:1] for _, p in audio}) == 1 and all(len(p) > 2 for _, p in audio):
            wrapper = audio[0][1][:1]
        depth = len(wrapper)
        class_names = sorted({p[depth] for p in folders if len(p) > depth and p[:depth] == wrapper})
        counts: Counter[str] = Counter()
        planned: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
        for info, parts in audio:
            if len(parts) < depth + 2:  # a file beside the class folders, not in one
                skipped.append(info.filename)
            else:
                counts[parts[depth]] += 1
                planned.append((info, parts))
        empty = [c for c in class_names if counts[c] == 0]
        if not planned:
            raise DataError(
                "the archive holds no audio files inside class folders; expected "
                "'<class>/<file>.wav' (or .mp3, .flac, ...) for every class, "
                "optionally inside one top folder"
            )

        # Second pass: write, counting the bytes actually decompressed.
        dest_parent = None if dest_root is None else Path(dest_root)
        if dest_parent is not None:
            dest_parent.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="genrecls-upload-", dir=dest_parent)).resolve()
        total = 0
        try:
            for info, parts in planned:
                target = root.joinpath(*parts).resolve()
                if not target.is_relative_to(root):  # belt and braces; parts were checked
                    raise DataError(f"archive entry {info.filename!r} escapes the folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, open(target, "xb") as dst:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        if written > info.file_size:
                            raise DataError(
                                f"archive entry {info.filename!r} unpacks to more than its "
                                f"declared {info.file_size} bytes; refusing the archive"
                            )
                        if total > limits.max_zip_uncompressed_bytes:
                            raise DataError(
                                "the archive unpacks to more than "
                                f"{limits.max_zip_uncompressed_bytes / 2**20:.1f} MiB; "
                                "refusing it"
                            )
                        dst.write(chunk)
        except DataError:
            shutil.rmtree(root, ignore_errors=True)
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise DataError(f"the archive is damaged: {exc}") from exc
        except (OSError, RuntimeError, NotImplementedError) as exc:
            # RuntimeError: encrypted; NotImplementedError: unsupported compression.
            shutil.rmtree(root, ignore_errors=True)
            raise DataError(f"cannot unpack the archive: {exc}") from exc
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
    return ExtractedArchive(
        root=root,
        class_counts={c: counts[c] for c in sorted(counts)},
        empty_classes=empty,
        skipped=skipped,
        total_bytes=total,
    )
