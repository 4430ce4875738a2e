"""Safe extraction of training zips: crafted archives, each attack refused."""

import io
import stat
import zipfile
from pathlib import Path

import pytest
import soundfile as sf

from genrecls.archive import extract_training_zip
from genrecls.config import Limits
from genrecls.data import index_folder
from genrecls.exceptions import DataError, ParameterError
from genrecls.synth import sine


def _wav_bytes(freq: float = 440.0, *, seconds: float = 0.2, sr: int = 8000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, sine(freq, sr=sr, seconds=seconds), sr, format="WAV")
    return buf.getvalue()


def _zip(entries: dict[str, bytes | None], **kwargs) -> bytes:
    """A zip of ``name -> bytes`` (None = a directory entry)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", **kwargs) as zf:
        for name, data in entries.items():
            if data is None:
                zf.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
            else:
                zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def dest(tmp_path) -> Path:
    return tmp_path / "uploads"


def _leftovers(dest: Path) -> list[Path]:
    return list(dest.iterdir()) if dest.exists() else []


@pytest.mark.parametrize("wrapper", ["", "my dataset/"])
def test_folder_per_class_is_extracted_and_indexed(dest, wrapper):
    wav = _wav_bytes()
    archive = _zip(
        {
            f"{wrapper}rock/a.wav": wav,
            f"{wrapper}rock/live/b.wav": wav,  # nested folders inside a class are fine
            f"{wrapper}Hip-Hop/c.wav": wav,
            f"{wrapper}Hip-Hop/notes.txt": b"not audio",
            f"{wrapper}empty/": None,
            f"{wrapper}empty/cover.jpg": b"\xff\xd8",
            "__MACOSX/rock/._a.wav": b"junk",
            f"{wrapper}.DS_Store": b"junk",
        }
    )
    out = extract_training_zip(archive, dest_root=dest)
    try:
        assert out.root.parent == dest.resolve()
        assert out.class_counts == {"Hip-Hop": 1, "rock": 2}
        assert out.empty_classes == ["empty"]
        assert f"{wrapper}Hip-Hop/notes.txt" in out.skipped
        assert f"{wrapper}empty/cover.jpg" in out.skipped
        assert "__MACOSX/rock/._a.wav" in out.skipped
        assert out.total_bytes == 3 * len(wav)
        written = sorted(p.relative_to(out.root).as_posix() for p in out.root.rglob("*.*"))
        assert all(p.endswith(".wav") for p in written)
        tracks = index_folder(out.root)
        assert sorted({t.label for t in tracks}) == ["hiphop", "rock"]
        assert len(tracks) == 3
    finally:
        out.cleanup()
    assert not out.root.exists()


def test_accepts_path_and_file_object(tmp_path, dest):
    data = _zip({"jazz/a.wav": _wav_bytes(), "blues/b.wav": _wav_bytes(220)})
    path = tmp_path / "upload.zip"
    path.write_bytes(data)
    for source in (path, str(path), io.BytesIO(data)):
        out = extract_training_zip(source, dest_root=dest)
        assert out.class_counts == {"blues": 1, "jazz": 1}
        out.cleanup()


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("../evil.wav", "outside the archive"),
        ("rock/../../evil.wav", "outside the archive"),
        ("/etc/evil.wav", "absolute path"),
        ("C:/evil.wav", "absolute path"),
        ("rock\\..\\..\\evil.wav", "outside the archive"),
    ],
)
def test_zip_slip_and_absolute_paths_are_refused(tmp_path, dest, name, match):
    archive = _zip({"rock/a.wav": _wav_bytes(), name: _wav_bytes()})
    with pytest.raises(DataError, match=match):
        extract_training_zip(archive, dest_root=dest)
    assert not _leftovers(dest)
    assert not (tmp_path / "evil.wav").exists()


def test_symlink_entry_is_refused(dest):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("rock/a.wav", _wav_bytes())
        link = zipfile.ZipInfo("rock/link.wav")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        extract_training_zip(buf.getvalue(), dest_root=dest)
    assert not _leftovers(dest)


def test_too_many_entries_is_refused(dest):
    archive = _zip({f"rock/{i}.wav": b"x" for i in range(6)})
    with pytest.raises(DataError, match="6 entries; at most 5"):
        extract_training_zip(archive, dest_root=dest, limits=Limits(max_zip_entries=5))


def test_declared_size_over_the_limit_is_refused(dest):
    archive = _zip({"rock/a.wav": b"\0" * 5000}, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(DataError, match="would unpack to"):
        extract_training_zip(
            archive, dest_root=dest, limits=Limits(max_zip_uncompressed_bytes=4000)
        )
    assert not _leftovers(dest)


def _patch_declared_size(archive: bytes, name: str, size: int) -> bytes:
    """Make the central directory (what zipfile trusts) claim ``size`` bytes for ``name``."""
    data = bytearray(archive)
    start = data.rfind(b"PK\x01\x02")
    while start != -1:
        name_len = int.from_bytes(data[start + 28 : start + 30], "little")
        if data[start + 46 : start + 46 + name_len].decode() == name:
            data[start + 24 : start + 28] = size.to_bytes(4, "little")
            return bytes(data)
        start = data.rfind(b"PK\x01\x02", 0, start)
    raise AssertionError(f"{name} not in the archive")


def test_lying_zip_bomb_is_stopped_while_extracting(dest):
    """An entry that declares 100 bytes but inflates to 2 MB is cut off, nothing kept."""
    archive = _zip(
        {"rock/a.wav": _wav_bytes(), "rock/bomb.wav": b"\0" * 2_000_000},
        compression=zipfile.ZIP_DEFLATED,
    )
    assert len(archive) < 20_000  # it compresses very well
    archive = _patch_declared_size(archive, "rock/bomb.wav", 100)
    with pytest.raises(DataError, match="declared 100 bytes|damaged"):
        extract_training_zip(archive, dest_root=dest)
    assert not _leftovers(dest)


def test_declared_total_just_over_the_limit_is_refused(dest):
    wav = _wav_bytes()
    archive = _zip({"rock/a.wav": wav, "jazz/b.wav": wav})
    limits = Limits(max_zip_uncompressed_bytes=2 * len(wav) - 1)
    with pytest.raises(DataError, match="would unpack to"):
        extract_training_zip(archive, dest_root=dest, limits=limits)
    assert not _leftovers(dest)


def test_bytes_are_counted_even_if_the_zip_reader_trusts_a_lie(dest, monkeypatch):
    """Our own byte count stops an entry that streams more than it declared."""
    archive = _zip({"rock/a.wav": b"12345678"})
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info: io.BytesIO(b"\0" * 3_000_000))
    with pytest.raises(DataError, match="more than its declared 8 bytes"):
        extract_training_zip(archive, dest_root=dest)
    assert not _leftovers(dest)


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ({"readme.txt": b"hello"}, "no audio files inside class folders"),
        ({"a.wav": b"RIFF"}, "no audio files inside class folders"),
        ({"rock/": None, "jazz/": None}, "no audio files inside class folders"),
    ],
)
def test_archive_without_class_audio_is_refused(dest, entries, match):
    with pytest.raises(DataError, match=match):
        extract_training_zip(_zip(entries), dest_root=dest)


def test_not_a_zip_is_a_data_error(dest, tmp_path):
    with pytest.raises(DataError, match="not a zip archive"):
        extract_training_zip(b"this is not a zip file at all", dest_root=dest)
    with pytest.raises(DataError, match="no archive at"):
        extract_training_zip(tmp_path / "missing.zip", dest_root=dest)


def test_duplicate_and_encrypted_entries_are_refused(dest):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("rock/a.wav", b"one")
        zf.writestr("rock/a.wav", b"two")
    with pytest.raises(DataError, match="appears twice"):
        extract_training_zip(buf.getvalue(), dest_root=dest)

    archive = bytearray(_zip({"rock/a.wav": _wav_bytes()}))
    start = archive.rfind(b"PK\x01\x02")
    archive[start + 8] |= 0x1  # general-purpose flag bit 0: encrypted
    with pytest.raises(DataError, match="encrypted"):
        extract_training_zip(bytes(archive), dest_root=dest)


@pytest.mark.parametrize("source", [123, ["a.zip"]])
def test_bad_source_type_is_a_parameter_error(source):
    with pytest.raises(ParameterError, match="source must be"):
        extract_training_zip(source)


def test_bad_limits_is_a_parameter_error():
    with pytest.raises(ParameterError, match="limits must be"):
        extract_training_zip(_zip({"rock/a.wav": b"x"}), limits={"max_zip_entries": 3})
