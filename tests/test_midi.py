"""MIDI rendering: index of the shared MIDI, excerpt windows, FluidSynth rendering, cache."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from genrecls import midi
from genrecls.config import GENRES, data_dir
from genrecls.exceptions import DataError, DecodeError, ParameterError


def _soundfont_or_skip() -> Path:
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed (make test installs it)")
    try:
        return midi.find_soundfont()
    except DataError as exc:
        pytest.skip(str(exc))


def write_midi(path: Path, *, notes: list[tuple[int, float, float]], program: int = 0) -> Path:
    """Write a one-track format-0 MIDI file: ``notes`` are (pitch, start s, end s) at 120 bpm."""
    tpq = 480  # ticks per quarter; 120 bpm -> 960 ticks per second
    events = []
    for pitch, start, end in notes:
        events.append((round(start * 960), bytes([0x90, pitch, 100])))
        events.append((round(end * 960), bytes([0x80, pitch, 0])))
    events.sort(key=lambda e: e[0])

    def vlq(n: int) -> bytes:
        out = [n & 0x7F]
        while n > 0x7F:
            n >>= 7
            out.insert(0, (n & 0x7F) | 0x80)
        return bytes(out)

    body = vlq(0) + bytes([0xC0, program])
    now = 0
    for tick, data in events:
        body += vlq(tick - now) + data
        now = tick
    body += vlq(0) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq)
    path.write_bytes(header + b"MTrk" + struct.pack(">I", len(body)) + body)
    return path


# ------------------------------------------------------------------------------ pure logic


@pytest.mark.parametrize(
    ("notes", "kind", "seconds"),
    [
        ("drums only; beat; 134bpm; 4-4; 7.1s; split=train", "beat", 7.1),
        ("drums only; fill; 100bpm; 4-4; 2s; split=test", "fill", 2.0),
        ("freemidi.org genre page (via scraper); full multitrack GM song", "song", None),
    ],
)
def test_parse_notes(notes, kind, seconds):
    assert midi._parse_notes(notes) == (kind, seconds)


def test_excerpt_windows_spread_and_bounds():
    for duration in (31.0, 65.0, 200.0, 600.0):
        for count in (1, 2, 3):
            w = midi.excerpt_windows(duration, length=30.0, count=count)
            assert 1 <= len(w) <= count
            assert all(0 <= s < e <= duration and e - s == pytest.approx(30.0) for s, e in w)
            assert all(w[i][1] <= w[i + 1][0] + 1e-9 for i in range(len(w) - 1))
    assert midi.excerpt_windows(12.5) == [(0.0, 12.5)]
    assert midi.excerpt_windows(0.0) == []
    with pytest.raises(ParameterError):
        midi.excerpt_windows(10.0, length=0.0)


def test_find_soundfont_env_and_error(tmp_path, monkeypatch):
    font = tmp_path / "x.sf2"
    font.write_bytes(b"RIFF")
    monkeypatch.setenv("GENRECLS_SOUNDFONT", str(font))
    assert midi.find_soundfont() == font.resolve()
    monkeypatch.setenv("GENRECLS_SOUNDFONT", str(tmp_path / "missing.sf2"))
    monkeypatch.setattr(midi, "SOUNDFONT_CANDIDATES", ())
    with pytest.raises(DataError, match="fluid-soundfont-gm"):
        midi.find_soundfont()


def test_index_midi_rejects_bad_arguments(tmp_path):
    with pytest.raises(ParameterError):
        midi.index_midi(root=tmp_path, kinds=("drum",))
    with pytest.raises(DataError, match="labels.csv"):
        midi.index_midi(root=tmp_path)


def test_index_midi_from_labels_csv(tmp_path):
    folder = tmp_path / "midi" / "groove" / "rock"
    folder.mkdir(parents=True)
    for name in ("a.mid", "b.mid", "c.mid"):
        (folder / name).write_bytes(b"MThd")
    (tmp_path / "midi" / "labels.csv").write_text(
        "file,genre,source_label,notes\n"
        "groove/rock/a.mid,rock,rock,drums only; beat; 120bpm; 4-4; 20.0s\n"
        "groove/rock/b.mid,rock,rock,drums only; fill; 120bpm; 4-4; 2.0s\n"
        "groove/rock/c.mid,other,funk,drums only; beat; 120bpm; 4-4; 30.0s\n"
    )
    files = midi.index_midi(root=tmp_path)
    assert [f.path.name for f in files] == ["a.mid"]
    assert files[0].group == "midi:groove/a" and files[0].kind == "beat"
    assert [f.path.name for f in midi.index_midi(root=tmp_path, kinds=("fill",))] == ["b.mid"]
    assert midi.index_midi(root=tmp_path, min_seconds=25) == []


def test_index_shared_midi():
    if not (data_dir() / "midi" / "labels.csv").is_file():
        pytest.skip(f"shared MIDI not found under {data_dir()} (set GENRECLS_DATA_DIR)")
    files = midi.index_midi(kinds=("song", "beat", "fill"))
    assert len(files) == 976  # 1450 rows, 474 labelled "other"
    assert {f.genre for f in files} <= set(GENRES) and "metal" not in {f.genre for f in files}
    songs = [f for f in files if f.kind == "song"]
    assert {f.source for f in songs} == {"freemidi_ums"} and len(songs) == 300


# ------------------------------------------------------------------------------ rendering


def test_render_midi_pitch_length_and_loudness(tmp_path):
    font = _soundfont_or_skip()
    path = write_midi(tmp_path / "a440.mid", notes=[(69, 0.0, 1.0)])  # A4 on a piano
    y = midi.render_midi(path, sr=16000, soundfont=font)
    assert y.dtype == np.float32 and y.ndim == 1
    assert 0.8 < len(y) / 16000 < 3.0  # the note plus its release
    rms_db = 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    assert rms_db == pytest.approx(-20.0, abs=0.5) or np.max(np.abs(y)) == pytest.approx(0.99)
    spectrum = np.abs(np.fft.rfft(y[:8000] * np.hanning(min(8000, len(y)))))
    f0 = np.argmax(spectrum) * 16000 / min(8000, len(y))
    assert f0 == pytest.approx(440.0, rel=0.03)


def test_render_midi_failure_is_a_decode_error(tmp_path):
    font = _soundfont_or_skip()
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    try:
        y = midi.render_midi(bad, soundfont=font)
    except DecodeError:
        return
    assert y.size == 0  # FluidSynth may also just render nothing


def test_render_tracks_caches_excerpts(tmp_path, monkeypatch):
    font = _soundfont_or_skip()
    path = write_midi(
        tmp_path / "song.mid", notes=[(60 + i % 12, i * 0.5, i * 0.5 + 0.4) for i in range(40)]
    )
    files = [midi.MidiFile(path=path, genre="pop", source="freemidi_ums", kind="song")]
    cache = tmp_path / "cache"
    tracks = midi.render_tracks(
        files,
        cache_dir=cache,
        soundfont=font,
        excerpt_seconds=5.0,
        excerpts_per_file=2,
        progress=False,
    )
    assert len(tracks) == 2
    assert {t.group for t in tracks} == {"midi:freemidi_ums/song"}
    assert all(t.role == "train" and t.label == "pop" and t.path.is_file() for t in tracks)

    def fail(*args, **kwargs):
        raise AssertionError("rendered again despite the cache")

    monkeypatch.setattr(midi, "render_midi", fail)
    again = midi.render_tracks(
        files,
        cache_dir=cache,
        soundfont=font,
        excerpt_seconds=5.0,
        excerpts_per_file=2,
        progress=False,
    )
    assert [t.path for t in again] == [t.path for t in tracks]


def test_render_tracks_caches_failures_and_ignores_file_times(tmp_path, monkeypatch, capsys):
    """A file that timed out is skipped at once next time; a fresh copy keeps its renders."""
    import os

    font = _soundfont_or_skip()
    path = write_midi(tmp_path / "slow.mid", notes=[(60, 0.0, 0.4)])
    files = [midi.MidiFile(path=path, genre="pop", source="freemidi_ums", kind="song")]
    calls = []

    def time_out(*args, **kwargs):
        calls.append(1)
        raise DecodeError("fluidsynth timed out after 300 s")

    monkeypatch.setattr(midi, "render_midi", time_out)
    kwargs = dict(cache_dir=tmp_path / "cache", soundfont=font, progress=False)
    assert midi.render_tracks(files, **kwargs) == []
    assert midi.render_tracks(files, **kwargs) == []
    assert len(calls) == 1
    assert "timed out" in capsys.readouterr().out
    # the same bytes with a new modification time (a fresh copy of the shared data)
    os.utime(path, (1, 1))
    assert midi.render_tracks(files, **kwargs) == [] and len(calls) == 1
