"""Tests of the musicnn rebuild, its converted weights, preprocessing and zero-shot helpers.

The regression reference ``tests/data/musicnn_reference.npz`` was recorded once with
``python tests/test_musicnn.py --record`` right after the conversion had been checked
against a numpy transcription of the TF graph (see ``scripts/convert_musicnn.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genrecls.config import GENRES, bundled_models_dir
from genrecls.exceptions import ModelError, ParameterError
from genrecls.models.musicnn import (
    MSD_TAGS,
    MTT_TAGS,
    PATCH_FRAMES,
    Musicnn,
    musicnn_logmel,
    musicnn_patches,
    patch_frames,
)
from genrecls.pretrained import (
    GENRE_TAGS,
    load_musicnn,
    musicnn_tag_probs,
    musicnn_taggram,
    musicnn_tags,
    zero_shot_genre_scores,
)

SR = 16000
REFERENCE = Path(__file__).parent / "data" / "musicnn_reference.npz"
REFERENCE_SEED = 1234
REFERENCE_SHAPE = (3, PATCH_FRAMES, 96)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def msd() -> Musicnn:
    return load_musicnn(which="msd")


@pytest.fixture(scope="module")
def mtt() -> Musicnn:
    return load_musicnn(which="mtt")


def _reference_input() -> np.ndarray:
    rng = np.random.default_rng(REFERENCE_SEED)
    return rng.uniform(0.0, 4.0, size=REFERENCE_SHAPE).astype(np.float32)


def _outputs(model: Musicnn, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.inference_mode():
        out = model(torch.from_numpy(x))
    return {k: v.numpy() for k, v in out.items()}


# --------------------------------------------------------------------------------------
# synthetic audio
# --------------------------------------------------------------------------------------
def synth_piano(seconds: float = 6.0, *, seed: int = 0) -> np.ndarray:
    """Decaying, slightly inharmonic harmonic notes: a C-major piano-like arpeggio."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = np.zeros(n)
    notes = [60, 64, 67, 72, 65, 69, 72, 77, 62, 67, 71, 74]
    for i, t0 in enumerate(np.arange(0.0, seconds - 0.1, 0.5)):
        f0 = 440.0 * 2 ** ((notes[i % len(notes)] - 69) / 12)
        start = int(t0 * SR)
        t = np.arange(min(n - start, int(2.5 * SR))) / SR
        note = np.zeros_like(t)
        for k in range(1, 12):
            fk = k * f0 * np.sqrt(1 + 4e-4 * k * k)  # string stiffness
            if fk > 7500:
                break
            phase = rng.uniform(0, 2 * np.pi)
            note += np.exp(-t * (1.5 + 0.8 * k)) * np.sin(2 * np.pi * fk * t + phase) / k
        y[start : start + len(t)] += note * np.minimum(1.0, t / 0.003)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def synth_drums(seconds: float = 6.0, *, seed: int = 0, bpm: float = 120.0) -> np.ndarray:
    """Drum machine: kick on 1 and 3, snare on 2 and 4, closed hi-hat on eighths."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = np.zeros(n)

    def add(start: int, x: np.ndarray) -> None:
        length = min(len(x), n - start)
        y[start : start + length] += x[:length]

    t = np.arange(int(0.4 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 * t + (100 / 30) * (1 - np.exp(-30 * t)))) * np.exp(-8 * t)
    t = np.arange(int(0.25 * SR)) / SR
    snare = 0.6 * rng.standard_normal(len(t)) * np.exp(-20 * t)
    snare += 0.4 * np.sin(2 * np.pi * 190 * t) * np.exp(-25 * t)
    t = np.arange(int(0.06 * SR)) / SR
    hat = 0.3 * np.diff(rng.standard_normal(len(t)), prepend=0.0) * np.exp(-60 * t)
    for i, beat in enumerate(np.arange(0.0, seconds, 30.0 / bpm)):
        start = int(beat * SR)
        add(start, hat)
        if i % 4 == 0:
            add(start, kick)
        if i % 4 == 2:
            add(start, snare)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


# --------------------------------------------------------------------------------------
# (a) regression against the recorded reference
# --------------------------------------------------------------------------------------
def test_reference_input_is_reproducible():
    ref = np.load(REFERENCE)
    x = _reference_input()
    assert int(ref["seed"]) == REFERENCE_SEED
    np.testing.assert_allclose(x[0, 0, :8], ref["input_head"], rtol=0, atol=0)
    assert float(x.sum(dtype=np.float64)) == pytest.approx(float(ref["input_sum"]), rel=1e-12)


@pytest.mark.parametrize("which", ["msd", "mtt"])
def test_matches_recorded_reference(which, request):
    model = request.getfixturevalue(which)
    ref = np.load(REFERENCE)
    out = _outputs(model, _reference_input())
    np.testing.assert_allclose(out["logits"], ref[f"{which}_logits"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(out["embedding"][:, :32], ref[f"{which}_embedding"], atol=1e-4)
    np.testing.assert_allclose(out["pooled"][:, :32], ref[f"{which}_pooled"], atol=1e-4)


# --------------------------------------------------------------------------------------
# (b) weight files
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["msd", "mtt"])
def test_state_dict_loads_weights_only(which):
    state = torch.load(bundled_models_dir() / f"musicnn_{which}.pt", weights_only=True)
    expected = Musicnn().state_dict()
    assert list(state) == list(expected)
    for key, value in state.items():
        assert value.shape == expected[key].shape, key
        if value.is_floating_point():
            assert value.dtype == torch.float32, key
    n_floats = sum(v.numel() for v in state.values() if v.is_floating_point())
    assert n_floats == 792_079


def test_provenance_json():
    info = json.loads((bundled_models_dir() / "musicnn.json").read_text())
    assert info["source"]["license"] == "ISC"
    assert "Permission to use, copy, modify" in info["source"]["license_text"]
    assert tuple(info["models"]["msd"]["tags"]) == MSD_TAGS
    assert tuple(info["models"]["mtt"]["tags"]) == MTT_TAGS


def test_loaded_model_is_in_eval_mode(msd):
    assert not msd.training
    assert sum(p.numel() for p in msd.parameters()) == 787_159


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_musicnn(which="msd", path=tmp_path / "nope.pt")


def test_load_garbage_file_raises(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(ModelError, match="not a readable PyTorch weight file"):
        load_musicnn(which="msd", path=path)


def test_load_wrong_architecture_raises(tmp_path):
    path = tmp_path / "other.pt"
    state = Musicnn(midend_filters=32).state_dict()
    torch.save(state, path)
    with pytest.raises(ModelError, match="does not match the musicnn architecture"):
        load_musicnn(which="msd", path=path)


def test_load_unknown_model_raises():
    with pytest.raises(ParameterError, match="which must be one of"):
        load_musicnn(which="vgg")


# --------------------------------------------------------------------------------------
# architecture
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_frames", [1, 50, PATCH_FRAMES])
def test_output_shapes_and_hooks(n_frames):
    model = Musicnn().eval()
    maps = {}
    for name in ("timbral_f74", "timbral_f77", "temporal_s1", "midend3", "features"):
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: maps.__setitem__(name, out.shape)
        )
    with torch.inference_mode():
        out = model(torch.zeros(2, n_frames, 96))
    assert out["logits"].shape == (2, 50)
    assert out["embedding"].shape == (2, 200)
    assert out["pooled"].shape == (2, 1506)
    assert maps["timbral_f74"] == (2, 204, n_frames, 59)
    assert maps["timbral_f77"] == (2, 204, n_frames, 30)
    assert maps["temporal_s1"] == (2, 51, n_frames, 96)
    assert maps["midend3"] == (2, 64, n_frames)
    assert maps["features"] == (2, 753, n_frames)


def test_pooled_is_interleaved_max_mean():
    model = Musicnn().eval()
    feats = {}
    model.features.register_forward_hook(lambda _m, _i, out: feats.setdefault("x", out))
    with torch.inference_mode():
        out = model(torch.rand(1, 40, 96))
    x = feats["x"]
    torch.testing.assert_close(out["pooled"][:, 0::2], x.amax(dim=2))
    torch.testing.assert_close(out["pooled"][:, 1::2], x.mean(dim=2))


def test_constructor_sets_shapes():
    model = Musicnn(n_tags=10, backend_units=32, midend_filters=16).eval()
    with torch.inference_mode():
        out = model(torch.zeros(1, 20, 96))
    assert out["logits"].shape == (1, 10)
    assert out["pooled"].shape == (1, 2 * (561 + 3 * 16))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_tags": 0}, "n_tags"), ({"n_mels": 1}, "n_mels"), ({"dropout": 1.0}, "dropout")],
)
def test_constructor_rejects_bad_args(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        Musicnn(**kwargs)


@pytest.mark.parametrize("shape", [(187, 96), (1, 187, 64), (2, 0, 96)])
def test_forward_rejects_bad_input(shape):
    with pytest.raises(ParameterError, match="expected input of shape"):
        Musicnn()(torch.zeros(shape))


# --------------------------------------------------------------------------------------
# (c) tags of synthetic clips make sense
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mtt_probs(mtt) -> dict[str, dict[str, float]]:
    clips = {"piano": synth_piano(), "drums": synth_drums()}
    return {
        name: dict(zip(MTT_TAGS, musicnn_tag_probs(y, sr=SR, model=mtt), strict=True))
        for name, y in clips.items()
    }


@pytest.mark.parametrize("tag", ["piano", "classical"])
def test_piano_clip_tagged_piano(mtt_probs, tag):
    assert mtt_probs["piano"][tag] > 2 * mtt_probs["drums"][tag]
    assert mtt_probs["piano"][tag] > mtt_probs["piano"]["techno"]


@pytest.mark.parametrize("tag", ["techno", "electronic", "beat", "drums"])
def test_drum_clip_tagged_electronic(mtt_probs, tag):
    assert mtt_probs["drums"][tag] > 2 * mtt_probs["piano"][tag]
    assert mtt_probs["drums"][tag] > mtt_probs["drums"]["piano"]


def test_taggram_shape(msd):
    taggram = musicnn_taggram(synth_drums(7.0), sr=SR, model=msd)
    assert taggram.shape == (2, 50)  # 7 s = 438 frames: two full 187-frame patches
    assert np.all((taggram >= 0) & (taggram <= 1))


# --------------------------------------------------------------------------------------
# (d) preprocessing
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sr", "n_frames"), [(16000, 188), (22050, 188), (44100, 188)])
def test_logmel_shape_three_seconds(sr, n_frames):
    y = 0.1 * np.random.default_rng(0).standard_normal(3 * sr).astype(np.float32)
    S = musicnn_logmel(y, sr=sr)
    assert S.shape == (n_frames, 96)  # center=True: 1 + 48000 // 256
    assert S.dtype == np.float32
    assert patch_frames == PATCH_FRAMES == 187
    assert musicnn_patches(S).shape == (1, 187, 96)


def test_logmel_keeps_numpy1_float32_log():
    """A loud tone has mel power > 6.55: fp16 arithmetic would overflow to inf."""
    t = np.arange(SR) / SR
    S = musicnn_logmel((0.9 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    assert np.all(np.isfinite(S))
    assert S.max() > np.log10(10000 * 6.55 + 1)
    assert S.min() >= 0.0


def test_logmel_is_fp16_quantised():
    y = 0.1 * np.random.default_rng(1).standard_normal(SR).astype(np.float32)
    S = musicnn_logmel(y)
    power = (10 ** S.astype(np.float64) - 1) / 10000  # invert the compression
    quantised = power.astype(np.float16).astype(np.float64)
    np.testing.assert_allclose(power, quantised, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    ("n_frames_in", "hop", "n_patches"),
    [(100, None, 1), (187, None, 1), (400, None, 2), (400, 93, 3), (561, 187, 3)],
)
def test_patches(n_frames_in, hop, n_patches):
    S = np.arange(n_frames_in * 96, dtype=np.float32).reshape(n_frames_in, 96)
    patches = musicnn_patches(S, hop_frames=hop)
    assert patches.shape == (n_patches, 187, 96)
    if n_frames_in < 187:  # repeat-pad
        np.testing.assert_array_equal(patches[0, n_frames_in], S[0])
    else:
        np.testing.assert_array_equal(patches[0], S[:187])


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.zeros((2, 16000), dtype=np.float32), "mono"),
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.full(16000, np.nan, dtype=np.float32), "NaN"),
        (np.zeros(16000, dtype=np.int16), "floating point"),
    ],
)
def test_logmel_rejects_bad_audio(y, match):
    with pytest.raises(ParameterError, match=match):
        musicnn_logmel(y)


# --------------------------------------------------------------------------------------
# (e) zero-shot genre mapping
# --------------------------------------------------------------------------------------
def test_genre_tag_map_is_complete():
    assert set(GENRE_TAGS) == set(GENRES)
    assert GENRE_TAGS["reggae"] == {}
    vocab = {"msd": MSD_TAGS, "mtt": MTT_TAGS}
    for sources in GENRE_TAGS.values():
        for source, tags in sources.items():
            assert set(tags) <= set(vocab[source])
    assert musicnn_tags(which="mtt") == MTT_TAGS


@pytest.mark.parametrize("batch_shape", [(), (4,), (2, 3)])
def test_zero_shot_shape_and_sum(batch_shape):
    rng = np.random.default_rng(0)
    msd_p = rng.uniform(size=(*batch_shape, 50))
    mtt_p = rng.uniform(size=(*batch_shape, 50))
    for kwargs in ({}, {"mtt_probs": mtt_p}):
        scores = zero_shot_genre_scores(msd_p, tags=MSD_TAGS, **kwargs)
        assert scores.shape == (*batch_shape, 10)
        np.testing.assert_allclose(scores.sum(axis=-1), 1.0)
        assert np.all(scores[..., GENRES.index("reggae")] == 0)
        classical = scores[..., GENRES.index("classical")]
        assert np.all(classical > 0) if kwargs else np.all(classical == 0)


@pytest.mark.parametrize(
    ("tag", "genre"),
    [("jazz", "jazz"), ("heavy metal", "metal"), ("Hip-Hop", "hiphop"), ("funk", "disco")],
)
def test_zero_shot_picks_mapped_genre(tag, genre):
    probs = np.full(50, 0.01)
    probs[MSD_TAGS.index(tag)] = 0.9
    assert GENRES[int(zero_shot_genre_scores(probs, tags=MSD_TAGS).argmax())] == genre


def test_zero_shot_classical_from_mtt():
    msd_p = np.full(50, 0.05)
    mtt_p = np.full(50, 0.05)
    mtt_p[MTT_TAGS.index("classic")] = 0.8
    scores = zero_shot_genre_scores(msd_p, tags=MSD_TAGS, mtt_probs=mtt_p)
    assert GENRES[int(scores.argmax())] == "classical"


def test_zero_shot_all_zero_falls_back_to_uniform():
    scores = zero_shot_genre_scores(np.zeros(50), tags=MSD_TAGS)
    np.testing.assert_allclose(scores.sum(), 1.0)
    assert scores[GENRES.index("reggae")] == 0 and scores[GENRES.index("classical")] == 0
    np.testing.assert_allclose(scores[GENRES.index("rock")], 1 / 8)


@pytest.mark.parametrize(
    ("probs", "kwargs", "match"),
    [
        (np.full(49, 0.5), {}, "50 entries"),
        (np.full(50, 1.5), {}, r"\[0, 1\]"),
        (np.full(50, 0.5), {"tags": tuple(f"t{i}" for i in range(50))}, "lacks the tags"),
        (np.full(50, 0.5), {"mtt_probs": np.full((2, 50), 0.5)}, "batch shape"),
    ],
)
def test_zero_shot_rejects_bad_input(probs, kwargs, match):
    kwargs.setdefault("tags", MSD_TAGS)
    with pytest.raises(ParameterError, match=match):
        zero_shot_genre_scores(probs, **kwargs)


# --------------------------------------------------------------------------------------
# recording the reference (run once, by hand)
# --------------------------------------------------------------------------------------
def record_reference() -> None:
    x = _reference_input()
    arrays: dict[str, np.ndarray] = {
        "seed": np.array(REFERENCE_SEED),
        "input_head": x[0, 0, :8],
        "input_sum": np.array(x.sum(dtype=np.float64)),
    }
    torch.set_num_threads(1)
    for which in ("msd", "mtt"):
        out = _outputs(load_musicnn(which=which), x)
        arrays[f"{which}_logits"] = out["logits"]
        arrays[f"{which}_embedding"] = out["embedding"][:, :32]
        arrays[f"{which}_pooled"] = out["pooled"][:, :32]
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, **arrays)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size} bytes)")


if __name__ == "__main__" and "--record" in sys.argv:
    record_reference()
