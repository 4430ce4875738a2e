"""The built-in synthesized dataset: deterministic, grouped per clip, learnable."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from genrecls import builtin_data
from genrecls.builtin_data import (
    BUILTIN_CLASSES,
    BUILTIN_SR,
    builtin_dataset_dir,
    builtin_tracks,
    synthesize_clip,
)
from genrecls.data import build_segment_dataset, group_holdout
from genrecls.exceptions import ParameterError
from genrecls.features import FeatureConfig
from genrecls.models.cnn import CompactCNN
from genrecls.train import TrainConfig, Trainer


@pytest.mark.parametrize("label", BUILTIN_CLASSES)
def test_clip_is_deterministic_and_bounded(label):
    a = synthesize_clip(label, index=3, sr=8000, seconds=2.0)
    b = synthesize_clip(label, index=3, sr=8000, seconds=2.0)
    c = synthesize_clip(label, index=4, sr=8000, seconds=2.0)
    assert a.shape == (16000,) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert 0.2 < np.max(np.abs(a)) < 1.0
    assert np.all(np.isfinite(a))


def test_classes_differ_more_than_clips_within_a_class():
    """Mean log-spectra of one class resemble each other more than another class's."""

    def profile(label, i):
        y = synthesize_clip(label, index=i, sr=8000, seconds=2.0)
        S = np.abs(np.fft.rfft(y.reshape(-1, 500), axis=1)).mean(0)
        return np.log(S + 1e-6)

    p = {c: [profile(c, i) for i in range(3)] for c in BUILTIN_CLASSES}
    within = np.mean([np.linalg.norm(p[c][0] - p[c][1]) for c in BUILTIN_CLASSES])
    between = np.mean([np.linalg.norm(p["drums"][0] - p[c][0]) for c in BUILTIN_CLASSES[1:]])
    assert between > within


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label": "rock", "index": 0}, "label must be one of"),
        ({"label": "drums", "index": -1}, "index must be"),
        ({"label": "drums", "index": 0, "sr": 0}, "sr must be"),
        ({"label": "drums", "index": 0, "seconds": 0.1}, "seconds must lie"),
    ],
)
def test_clip_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        synthesize_clip(**kwargs)


def test_dataset_folder_is_written_once_with_one_group_per_clip(tmp_path):
    folder = builtin_dataset_dir(n_per_class=2, seconds=2.0, root=tmp_path)
    wavs = sorted(folder.rglob("*.wav"))
    assert len(wavs) == 2 * len(BUILTIN_CLASSES)
    info = sf.info(wavs[0])
    assert info.samplerate == BUILTIN_SR and info.channels == 1
    assert abs(info.duration - 2.0) < 1e-3
    mtimes = [p.stat().st_mtime_ns for p in wavs]
    assert builtin_dataset_dir(n_per_class=2, seconds=2.0, root=tmp_path) == folder
    assert [p.stat().st_mtime_ns for p in wavs] == mtimes  # not rewritten
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left

    tracks = builtin_tracks(n_per_class=2, seconds=2.0, root=tmp_path)
    assert sorted({t.label for t in tracks}) == sorted(BUILTIN_CLASSES)
    assert len({t.group for t in tracks}) == len(tracks)
    assert all(t.group.startswith("builtin:") and t.source == "builtin" for t in tracks)


def test_stale_or_damaged_folder_is_rewritten(tmp_path):
    folder = builtin_dataset_dir(n_per_class=1, seconds=1.0, root=tmp_path)
    manifest = folder / "builtin.json"
    manifest.write_text(json.dumps({"version": -1}))
    (folder / "drums" / "drums_00.wav").unlink()
    again = builtin_dataset_dir(n_per_class=1, seconds=1.0, root=tmp_path)
    assert again == folder
    assert (folder / "drums" / "drums_00.wav").is_file()
    assert json.loads(manifest.read_text())["version"] == builtin_data._VERSION


@pytest.mark.slow
def test_compact_cnn_learns_it_above_chance(tmp_path):
    """A small CNN, a few epochs, song-grouped validation: clearly above 1/4."""
    torch.manual_seed(0)
    tracks = builtin_tracks(n_per_class=8, seconds=6.0, root=tmp_path)
    ds = build_segment_dataset(
        tracks,
        config=FeatureConfig(),
        cache_dir=tmp_path / "segments",
        labels=BUILTIN_CLASSES,
        progress=False,
    )
    tr, va = group_holdout(ds.groups, ds.y.astype(str), valid_fraction=0.25, seed=0)
    assert not set(ds.groups[tr]) & set(ds.groups[va])
    model = CompactCNN(n_classes=4, channels=(8, 16, 32, 32))
    result = Trainer(model, config=TrainConfig(epochs=6, batch_size=16, learning_rate=3e-3)).fit(
        (ds.X[tr], ds.y[tr]), (ds.X[va], ds.y[va])
    )
    assert result.best.valid_accuracy >= 0.5
