import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from genrecls import data
from genrecls.config import GENRES, data_dir
from genrecls.data import Track
from genrecls.exceptions import DataError, GenreclsWarning, ParameterError
from genrecls.features import FeatureConfig
from genrecls.synth import band_noise, sine


def _wav(path: Path, *, seconds: float = 0.1, sr: int = 8000, freq: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, sine(freq, sr=sr, seconds=seconds), sr)
    return path


def _groups_by_role(tracks):
    roles = defaultdict(set)
    for t in tracks:
        roles[t.group].add(t.role)
    return roles


# ----------------------------------------------------------------------------- shared data
SHARED = data_dir()
needs_data = pytest.mark.skipif(
    not (SHARED / "gtzan_samples" / "labels.csv").is_file(),
    reason=f"shared data not found at {SHARED} (set GENRECLS_DATA_DIR)",
)


@pytest.fixture(scope="module")
def shared_tracks():
    return data.index_shared_data()


@pytest.mark.data
@needs_data
def test_shared_index_counts_per_source(shared_tracks):
    counts = Counter(t.source for t in shared_tracks)
    # Unlisted GTZAN tracks are dropped by default: 48 of the 2 s excerpts, 7 of the 20 s
    # excerpts and classical.00042 of gtzan_classical_extra.
    assert counts == {
        "gtzan_samples": 10,
        "gtzan_classical_extra": 89,
        "gtzan_excerpts_2s": 472 - 48,
        "gtzan_excerpts_20s": 64 - 7,
        "nazar_full_songs": 8,
        "fma_samples": 4,
    }
    kept = Counter(t.source for t in data.index_shared_data(unlisted="train"))
    assert kept["gtzan_excerpts_2s"] == 472 and kept["gtzan_classical_extra"] == 90


@pytest.mark.data
@needs_data
def test_shared_index_labels_groups_and_roles(shared_tracks):
    assert {t.label for t in shared_tracks} <= set(GENRES)
    assert all(t.path.is_file() for t in shared_tracks)
    by_group = defaultdict(set)
    for t in shared_tracks:
        by_group[t.group].add(t.source)
    assert by_group["classical.00000"] == {"gtzan_samples", "gtzan_classical_extra"}
    assert by_group["rock.00001"] == {"gtzan_excerpts_2s", "gtzan_excerpts_20s"}
    assert all(len(r) == 1 for r in _groups_by_role(shared_tracks).values())
    for t in shared_tracks:
        if t.source in ("nazar_full_songs", "fma_samples"):
            assert t.role == "test", t
    fma = {t.path.name: t.label for t in shared_tracks if t.source == "fma_samples"}
    assert fma == {"000002.mp3": "hiphop", "000005.mp3": "hiphop", "000010.mp3": "pop"} | {
        "001040.mp3": "rock"
    }
    samples = {t.group: t.role for t in shared_tracks if t.source == "gtzan_samples"}
    assert {g for g, r in samples.items() if r == "test"} == {"hiphop.00000", "pop.00000"}
    table = data.summary_table(shared_tracks)
    assert table.loc["total", "total"] == len(shared_tracks)
    assert table.loc["total", "test"] == sum(t.role == "test" for t in shared_tracks)


@pytest.mark.data
@needs_data
def test_shared_index_subset_and_unknown_source():
    tracks = data.index_shared_data(sources=["nazar_full_songs"])
    assert len(tracks) == 8 and {t.role for t in tracks} == {"test"}
    assert "rock" not in {t.label for t in tracks} and "hiphop" in {t.label for t in tracks}
    with pytest.raises(ParameterError, match="unknown source"):
        data.index_shared_data(sources=["gtzan_full"])


# ----------------------------------------------------------------------------- synthetic root
@pytest.fixture
def fake_root(tmp_path):
    """A miniature shared-data tree: the same layout and rules, synthetic audio."""
    root = tmp_path / "data"
    rows = {
        "gtzan_samples": ("file,label,source_file", []),
        "gtzan_classical_extra": ("file,label,source_file", []),
        "gtzan_excerpts_2s": ("file,label,gtzan_track", []),
        "nazar_full_songs": ("file,label,source_file", []),
    }
    for stem in ("classical.00000", "pop.00000"):
        genre = stem.split(".")[0]
        _wav(root / "gtzan_samples" / genre / f"{stem}.au")
        rows["gtzan_samples"][1].append(f"{genre}/{stem}.au,{genre},x")
    for n in (0, 1, 2, 42):
        _wav(root / "gtzan_classical_extra" / "classical" / f"classical.000{n:02d}.flac")
        rows["gtzan_classical_extra"][1].append(f"classical/classical.000{n:02d}.flac,classical,x")
    for stem in ("rock.00001", "rock.00002"):
        _wav(root / "gtzan_excerpts_2s" / "rock" / f"{stem}.flac")
        rows["gtzan_excerpts_2s"][1].append(f"rock/{stem}.flac,rock,{stem}")
    _wav(root / "nazar_full_songs" / "hiphop" / "hiphop_music.mp3".replace(".mp3", ".wav"))
    rows["nazar_full_songs"][1].append("hiphop/hiphop_music.wav,hip-hop,x")
    for source, (header, lines) in rows.items():
        (root / source / "labels.csv").write_text("\n".join([header, *lines]) + "\n")
    fma = root / "fma_samples"
    _wav(fma / "rock" / "000001.wav")
    _wav(fma / "folk" / "000002.wav")
    (fma / "labels.csv").write_text(
        "file,fma_track_id,id3_genre,artist\n"
        "rock/000001.wav,000001,Rock,A\n"
        "folk/000002.wav,000002,Folk,B\n"
    )
    splits = root / "splits" / "gtzan"
    splits.mkdir(parents=True)
    (splits / "test_filtered.txt").write_text(
        "classical/classical.00001.wav\npop/pop.00000.wav\nrock/rock.00002.wav\n"
    )
    (splits / "train_filtered.txt").write_text("classical/classical.00002.wav\n")
    (splits / "valid_filtered.txt").write_text(
        "classical/classical.00000.wav\nrock/rock.00001.wav\n"
    )
    return root


def test_index_and_roles_on_synthetic_root(fake_root):
    tracks = data.index_shared_data(root=fake_root)
    role = {(t.source, t.group): t.role for t in tracks}
    assert role == {
        ("gtzan_samples", "classical.00000"): "train",  # in the valid list
        ("gtzan_samples", "pop.00000"): "test",
        ("gtzan_classical_extra", "classical.00000"): "train",
        ("gtzan_classical_extra", "classical.00001"): "test",
        ("gtzan_classical_extra", "classical.00002"): "train",
        ("gtzan_excerpts_2s", "rock.00001"): "train",
        ("gtzan_excerpts_2s", "rock.00002"): "test",
        ("nazar_full_songs", "nazar:hiphop_music"): "test",
        ("fma_samples", "fma:000001"): "test",
    }  # classical.00042 (in no list) dropped; the Folk clip has no GTZAN genre
    assert {t.label for t in tracks if t.source == "nazar_full_songs"} == {"hiphop"}
    kept = data.index_shared_data(root=fake_root, unlisted="train")
    assert {t.group: t.role for t in kept}["classical.00042"] == "train"


def test_assign_roles_puts_whole_group_in_test(fake_root, tmp_path):
    # A file of a test-listed track in a folder of another source still follows its group.
    tracks = [
        Track(tmp_path / "a.wav", "classical", "classical.00001", "gtzan_excerpts_2s"),
        Track(tmp_path / "b.wav", "classical", "classical.00001", "gtzan_samples"),
        Track(tmp_path / "c.wav", "classical", "user:c", "my_folder"),
    ]
    out = data.assign_roles(tracks, test_split_file=fake_root / "splits/gtzan/test_filtered.txt")
    assert [t.role for t in out] == ["test", "test", "train"]
    with pytest.raises(DataError, match="both train and test"):
        data.check_roles(
            [tracks[0], Track(tracks[1].path, "classical", "classical.00001", "x", "test")]
        )


def test_assign_roles_missing_split_list(tmp_path):
    tracks = [Track(tmp_path / "a.wav", "rock", "rock.00001", "gtzan_excerpts_2s")]
    with pytest.raises(DataError, match="test_filtered.txt"):
        data.assign_roles(tracks, test_split_file=tmp_path / "test_filtered.txt")


@pytest.mark.parametrize(
    ("csv_text", "match"),
    [
        ("name,label\nx.wav,rock\n", "lacks the column"),
        ("file,label,source_file\nrock/rock.00000.au,polka,x\n", "not a GTZAN genre"),
        ("file,label,source_file\nrock/missing.au,rock,x\n", "does not exist"),
        ("file,label,source_file\nrock/rock.00000.au,rock\n", "wrong number of fields"),
        ("file,label,source_file\n../outside.au,rock,x\n", "outside"),
        ("file,label,source_file\nrock/rock.00000.au,blues,x\n", "its name says"),
    ],
)
def test_malformed_labels_csv_raises_with_path(tmp_path, csv_text, match):
    folder = tmp_path / "gtzan_samples"
    _wav(folder / "rock" / "rock.00000.au")
    _wav(tmp_path / "outside.au")
    (folder / "labels.csv").write_text(csv_text)
    with pytest.raises(DataError, match=match) as info:
        data.index_shared_data(root=tmp_path)
    assert str(folder / "labels.csv") in str(info.value)


def test_missing_folders_are_skipped(tmp_path):
    assert data.index_shared_data(root=tmp_path) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Hip-Hop", "hiphop"), ("hip_hop", "hiphop"), (" ROCK ", "rock"), ("classic", None)],
)
def test_normalize_label(raw, expected):
    assert data.normalize_label(raw) == expected


def test_fma_genre_map_is_explicit_and_honest():
    assert data.FMA_GENRE_MAP == {"Hip-Hop": "hiphop", "Pop": "pop", "Rock": "rock"}
    assert set(data.FMA_GENRE_MAP.values()) <= set(GENRES)


def test_summary_table_by_source():
    tracks = [
        Track(Path("a"), "rock", "g1", "s1", "train"),
        Track(Path("b"), "rock", "g2", "s2", "test"),
        Track(Path("c"), "mine", "g3", "s1", "train"),
    ]
    table = data.summary_table(tracks, by="source")
    assert list(table.index) == ["rock", "mine", "total"]
    assert list(table.columns) == ["s1", "s2", "total"]
    assert table.loc["rock", "total"] == 2 and table.loc["total", "s1"] == 2
    assert data.summary_table(tracks).loc["total"].tolist() == [2, 1, 3]


# ----------------------------------------------------------------------------- index_folder
def test_index_folder(tmp_path):
    root = tmp_path / "upload"
    _wav(root / "rock" / "song1.wav")
    _wav(root / "rock" / "live" / "song1.wav")  # same song, nested: one group
    _wav(root / "Hip-Hop" / "beat.flac")
    _wav(root / "polka" / "oompah.wav")
    (root / "rock" / "notes.txt").write_text("not audio")
    (root / "rock" / ".DS_Store").write_bytes(b"\0")
    (root / "jazz").mkdir()
    (root / "jazz" / "cover.jpg").write_bytes(b"\xff\xd8")
    (root / "__MACOSX").mkdir()
    _wav(root / "__MACOSX" / "rock" / "._song1.wav")
    with pytest.warns(GenreclsWarning, match="'jazz' holds no audio"):
        tracks = data.index_folder(root)
    assert [(t.label, t.path.name, t.group) for t in tracks] == [
        ("hiphop", "beat.flac", "beat"),
        ("polka", "oompah.wav", "oompah"),
        ("rock", "song1.wav", "song1"),
        ("rock", "song1.wav", "song1"),
    ]
    assert {t.source for t in tracks} == {"upload"} and {t.role for t in tracks} == {"train"}


def test_index_folder_wrapper_and_labels_csv(tmp_path):
    root = tmp_path / "archive" / "my_data"
    _wav(root / "rock" / "a.wav")
    _wav(root / "rock" / "b.wav")
    (root / "labels.csv").write_text("file,group\nrock/a.wav,album1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tracks = data.index_folder(tmp_path / "archive")
    assert {t.path.name: t.group for t in tracks} == {"a.wav": "album1", "b.wav": "b"}
    assert {t.source for t in tracks} == {"my_data"}


def test_index_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        data.index_folder(tmp_path / "nope")
    (tmp_path / "rock").mkdir()
    with pytest.raises(DataError, match="no class folder"), pytest.warns(GenreclsWarning):
        data.index_folder(tmp_path)


# ----------------------------------------------------------------------------- splits
@st.composite
def grouped_items(draw):
    n_groups = draw(st.integers(min_value=2, max_value=14))
    n_classes = draw(st.integers(min_value=1, max_value=4))
    groups, labels = [], []
    for g in range(n_groups):
        label = draw(st.integers(0, n_classes - 1))
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            groups.append(f"song{g}")
            labels.append(f"c{label}")
    order = draw(st.permutations(range(len(groups))))
    return [groups[i] for i in order], [labels[i] for i in order]


def _check_split(train, valid, groups, n):
    assert np.intersect1d(train, valid).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, valid])), np.arange(n))
    g = np.asarray(groups)
    assert not set(g[train]) & set(g[valid])


@settings(max_examples=60, deadline=None)
@given(items=grouped_items(), n_splits=st.integers(2, 5), seed=st.integers(0, 2**31 - 1))
def test_group_kfold_properties(items, n_splits, seed):
    groups, labels = items
    n_splits = min(n_splits, len(set(groups)))
    folds = data.group_kfold(groups, labels, n_splits=n_splits, seed=seed)
    assert len(folds) == n_splits
    for train, valid in folds:
        _check_split(train, valid, groups, len(groups))
        assert valid.size > 0
    all_valid = np.concatenate([v for _, v in folds])
    assert np.array_equal(np.sort(all_valid), np.arange(len(groups)))


@settings(max_examples=60, deadline=None)
@given(
    items=grouped_items(),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31 - 1),
)
def test_group_holdout_properties(items, fraction, seed):
    groups, labels = items
    train, valid = data.group_holdout(groups, labels, valid_fraction=fraction, seed=seed)
    _check_split(train, valid, groups, len(groups))
    per_class = Counter(lab for _, lab in set(zip(groups, labels, strict=True)))
    if max(per_class.values()) >= 2:
        assert valid.size > 0 and train.size > 0


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 500), fraction=st.floats(0.05, 0.95), seed=st.integers(0, 1000))
def test_random_segment_split_properties(n, fraction, seed):
    train, valid = data.random_segment_split(n, valid_fraction=fraction, seed=seed)
    assert np.intersect1d(train, valid).size == 0 and train.size > 0 and valid.size > 0
    assert np.array_equal(np.sort(np.concatenate([train, valid])), np.arange(n))


def test_random_segment_split_leaks_songs_group_kfold_does_not():
    groups = np.repeat([f"song{i}" for i in range(20)], 10)
    labels = np.repeat([f"c{i % 4}" for i in range(20)], 10)
    train, valid = data.random_segment_split(len(groups), valid_fraction=0.2, seed=0)
    assert set(groups[train]) & set(groups[valid])  # the leak the demo shows
    for train, valid in data.group_kfold(groups, labels, n_splits=5):
        assert not set(groups[train]) & set(groups[valid])


def test_group_kfold_every_fold_has_every_class():
    groups = [f"song{i}" for i in range(100) for _ in range(3)]
    labels = [GENRES[i % 10] for i in range(100) for _ in range(3)]
    for _, valid in data.group_kfold(groups, labels, n_splits=5, seed=1):
        assert {labels[i] for i in valid} == set(GENRES)
    train, valid = data.group_holdout(groups, labels, valid_fraction=0.2, seed=1)
    assert {labels[i] for i in valid} == set(GENRES)
    assert len(valid) == 20 * 3


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: data.group_kfold(["a", "b"], ["x", "y"], n_splits=3), "distinct groups"),
        (lambda: data.group_kfold(["a"], ["x", "y"]), "one entry each"),
        (lambda: data.group_kfold([], []), "empty"),
        (lambda: data.group_kfold(["a", "b"], ["x", "y"], n_splits=1), "n_splits"),
        (lambda: data.group_holdout(["a", "b"], ["x", "y"], valid_fraction=1.0), "valid_fraction"),
        (lambda: data.random_segment_split(1, valid_fraction=0.2), "n must"),
    ],
)
def test_split_validation(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


# ----------------------------------------------------------------------------- segments
CONFIG = FeatureConfig()  # 16 kHz, hop 256, 187-frame (2.99 s) segments


@pytest.fixture
def tiny_tracks(tmp_path):
    sr = 22050
    specs = [("rock", 4.0, 0), ("jazz", 1.0, 1), ("rock", 0.5, 2)]
    tracks = []
    for i, (label, seconds, seed) in enumerate(specs):
        path = tmp_path / "audio" / f"clip{i}.wav"
        path.parent.mkdir(exist_ok=True)
        y = band_noise(sr=sr, seconds=seconds, low_hz=200, high_hz=5000, seed=seed)
        sf.write(path, y, sr)
        tracks.append(Track(path, label, f"song{i}", "tiny"))
    return tracks


@pytest.fixture
def count_decodes(monkeypatch):
    calls = []
    real = data._decode

    def counting(path, **kwargs):
        calls.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(data, "_decode", counting)
    return calls


def test_build_segment_dataset_shapes_and_cache(tiny_tracks, tmp_path, count_decodes):
    cache = tmp_path / "cache"
    ds = data.build_segment_dataset(
        tiny_tracks, config=CONFIG, cache_dir=cache, max_seconds=None, progress=False
    )
    # 4 s -> 251 frames -> segments at frames 0 and 64; 1 s and 0.5 s -> one padded segment.
    assert ds.X.shape == (4, 96, 187) and ds.X.dtype == np.float32
    assert np.all(np.isfinite(ds.X))
    assert ds.track_index.tolist() == [0, 0, 1, 2]
    assert ds.y.tolist() == [GENRES.index(x) for x in ("rock", "rock", "jazz", "rock")]
    assert ds.groups.tolist() == ["song0", "song0", "song1", "song2"]
    np.testing.assert_allclose(ds.starts, [0.0, 64 * 256 / 16000, 0.0, 0.0])
    assert ds.is_original.all() and ds.roles.tolist() == ["train"] * 4
    assert count_decodes == ["clip0.wav", "clip1.wav", "clip2.wav"]
    assert len(list(cache.glob("*.npz"))) == 3

    again = data.build_segment_dataset(
        tiny_tracks, config=CONFIG, cache_dir=cache, max_seconds=None, progress=False
    )
    assert len(count_decodes) == 3  # everything came from the cache
    np.testing.assert_array_equal(again.X, ds.X)
    np.testing.assert_array_equal(again.starts, ds.starts)

    # A different analysis length is a different cache entry.
    short = data.build_segment_dataset(
        tiny_tracks[:1], config=CONFIG, cache_dir=cache, max_seconds=2.0, progress=False
    )
    assert len(count_decodes) == 4 and short.X.shape == (1, 96, 187)
    sub = ds.subset(ds.y == GENRES.index("jazz"))
    assert len(sub) == 1 and sub.groups.tolist() == ["song1"]


def test_build_segment_dataset_with_variants(tiny_tracks, tmp_path, count_decodes):
    cache = tmp_path / "cache"
    data.build_segment_dataset(tiny_tracks, config=CONFIG, cache_dir=cache, progress=False)
    variants = [("quiet", lambda y: 0.1 * y), ("reversed", lambda y: y[::-1].copy())]
    ds = data.build_segment_dataset(
        tiny_tracks, config=CONFIG, cache_dir=cache, augment_variants=variants, progress=False
    )
    assert len(count_decodes) == 6  # originals cached; decoded once more for the variants
    assert len(ds) == 12 and ds.is_original.sum() == 4
    assert Counter(ds.variants.tolist()) == {"original": 4, "quiet": 4, "reversed": 4}
    assert set(ds.groups[ds.variants == "quiet"]) == {"song0", "song1", "song2"}
    data.build_segment_dataset(
        tiny_tracks, config=CONFIG, cache_dir=cache, augment_variants=variants, progress=False
    )
    assert len(count_decodes) == 6
    with pytest.raises(ParameterError, match="used twice"):
        data.build_segment_dataset(
            tiny_tracks, config=CONFIG, cache_dir=cache, augment_variants=[("original", abs)]
        )


def test_build_segment_dataset_bad_file_and_labels(tiny_tracks, tmp_path):
    bad = tmp_path / "audio" / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    tracks = [*tiny_tracks[:1], Track(bad, "rock", "broken", "tiny")]
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="broken.wav"):
        data.build_segment_dataset(tracks, config=CONFIG, cache_dir=cache, progress=False)
    ds = data.build_segment_dataset(
        tracks, config=CONFIG, cache_dir=cache, progress=False, on_error="skip"
    )
    assert [p.name for p, _ in ds.skipped] == ["broken.wav"]
    assert set(ds.track_index.tolist()) == {0}
    with pytest.raises(ParameterError, match="not among the labels"):
        data.build_segment_dataset(tracks, config=CONFIG, cache_dir=cache, labels=("jazz",))
    empty = data.build_segment_dataset([], config=CONFIG, cache_dir=cache, progress=False)
    assert empty.X.shape == (0, 96, 187) and len(empty) == 0
