import copy
import dataclasses

import librosa
import numpy as np
import pytest
import torch
from torch import nn

from genrecls import saliency
from genrecls.exceptions import ParameterError
from genrecls.features import FeatureConfig, log_mel, mel_frequencies, segment_spectrogram
from genrecls.saliency import (
    _box_filter,
    area_under_curve,
    deletion_curve,
    grad_cam,
    normalize_shared,
    randomization_check,
    rank_correlation,
    salient_audio,
    stitch_segments,
)

N_MELS, FRAMES = 24, 32
PATCH_F, PATCH_T = 6, 6  # patch size in mel bands and frames


class TinyCNN(nn.Module):
    """A two-block CNN following genrecls' model conventions (input [B, n_mels, T])."""

    def __init__(self, n_classes: int = 2, channels: int = 8):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)
        )
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Sequential(
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.BatchNorm2d(2 * channels),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(2 * channels, n_classes)

    def forward(self, x):
        h = self.conv1(x.unsqueeze(1))  # [B, C, F, T]
        h = self.conv2(self.pool(h))  # [B, 2C, F/2, T/2]
        embedding = h.amax(dim=(2, 3))  # [B, 2C]
        return {"logits": self.classifier(self.dropout(embedding)), "embedding": embedding}

    def gradcam_layers(self):
        return {"conv1": self.conv1, "conv2": self.conv2}


def _noise(rng, *shape):
    return rng.normal(0.0, 0.5, size=shape).astype(np.float32)


def _add_patch(x, f0, t0, level=2.0):
    x[..., f0 : f0 + PATCH_F, t0 : t0 + PATCH_T] += level
    return x


def _patch_batch(rng, n):
    """Half noise (class 0), half noise + a bright patch at a random place (class 1)."""
    x = _noise(rng, n, N_MELS, FRAMES)
    y = np.arange(n) % 2
    for i in np.flatnonzero(y):
        _add_patch(
            x[i], rng.integers(0, N_MELS - PATCH_F + 1), rng.integers(0, FRAMES - PATCH_T + 1)
        )
    return x, y


@pytest.fixture(scope="module")
def trained():
    """TinyCNN trained to tell 'patch somewhere' (1) from 'noise only' (0); ~2 s on CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = TinyCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(80):
        x, y = _patch_batch(rng, 16)
        loss = nn.functional.cross_entropy(model(torch.from_numpy(x))["logits"], torch.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, y = _patch_batch(np.random.default_rng(1), 200)
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(x))["logits"].argmax(1).numpy() == y).mean()
    assert accuracy > 0.95, f"the tiny CNN did not learn the patch task (accuracy {accuracy})"
    model.zero_grad(set_to_none=True)
    yield model
    torch.set_num_threads(threads)


def _patched_input(seed, f0, t0, frames=FRAMES):
    return _add_patch(_noise(np.random.default_rng(seed), N_MELS, frames), f0, t0)


# --------------------------------------------------------------------------- grad_cam


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_grad_cam_shapes_and_non_negativity(trained, layer, as_tensor):
    x, _ = _patch_batch(np.random.default_rng(2), 5)
    res = grad_cam(trained, torch.from_numpy(x) if as_tensor else x, layer=layer)
    assert res.maps.shape == (5, N_MELS, FRAMES)
    assert res.maps.dtype == np.float32
    assert np.all(res.maps >= 0) and np.all(np.isfinite(res.maps))
    assert res.logits.shape == res.probabilities.shape == (5, 2)
    np.testing.assert_allclose(res.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # target=None explains the track's class for every segment
    assert np.all(res.targets == res.track_class)


def test_grad_cam_leaves_no_trace(trained):
    x, _ = _patch_batch(np.random.default_rng(3), 4)
    trained.train()
    grad_cam(trained, x, layer="conv2", target=1)
    assert not trained.training  # left in eval mode
    for module in trained.modules():
        assert not module._forward_hooks and not module._backward_hooks
    assert all(p.grad is None for p in trained.parameters())


def test_hook_removed_on_error(trained):
    with pytest.raises(ParameterError, match="target classes"):
        grad_cam(trained, _patch_batch(np.random.default_rng(3), 2)[0], layer="conv2", target=7)
    assert not trained.conv2._forward_hooks


@pytest.mark.parametrize("grad_mode", ["inference_mode", "no_grad"])
def test_grad_cam_under_callers_inference_mode(trained, grad_mode):
    x, _ = _patch_batch(np.random.default_rng(4), 3)
    reference = grad_cam(trained, x, layer="conv2", target=1).maps
    ctx = torch.inference_mode() if grad_mode == "inference_mode" else torch.no_grad()
    with ctx:
        xt = torch.from_numpy(x).clone()  # an inference tensor under inference_mode
        res = grad_cam(trained, xt, layer="conv2", target=1)
    np.testing.assert_allclose(res.maps, reference, rtol=1e-5, atol=1e-6)


def test_grad_cam_targets_per_segment(trained):
    x, _ = _patch_batch(np.random.default_rng(5), 4)
    res = grad_cam(trained, x, layer="conv2", target=[0, 1, 0, 1])
    assert res.targets.tolist() == [0, 1, 0, 1]
    single = grad_cam(trained, x[1:2], layer="conv2", target=1)
    np.testing.assert_allclose(res.maps[1], single.maps[0], rtol=1e-4, atol=1e-6)


class GapCNN(nn.Module):
    """conv → ReLU → global average pooling → linear: Grad-CAM equals CAM (Zhou et al. 2016)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=inplace)
        self.classifier = nn.Linear(4, 3)

    def forward(self, x):
        h = self.relu(self.conv(x.unsqueeze(1)))  # [B, 4, F, T]
        return {"logits": self.classifier(h.mean(dim=(2, 3)))}

    def gradcam_layers(self):
        return {"conv": self.conv, "relu": self.relu}


def test_grad_cam_matches_closed_form_cam():
    """With GAP + linear, w_c = W[k, c] / (F T) and the map is ReLU(sum_c W[k, c] A_c) / (F T)."""
    torch.manual_seed(0)
    model = GapCNN()
    x = torch.randn(2, 5, 7)
    res = grad_cam(model, x, layer="relu", target=2)
    with torch.no_grad():
        A = model.relu(model.conv(x.unsqueeze(1)))
        expected = torch.relu(torch.einsum("c,bcft->bft", model.classifier.weight[2], A)) / 35
    np.testing.assert_allclose(res.maps, expected.numpy(), rtol=1e-5, atol=1e-7)


def test_grad_cam_survives_in_place_op_after_layer():
    """A ReLU(inplace=True) after the hooked conv does not corrupt the kept activation."""
    torch.manual_seed(0)
    model = GapCNN(inplace=False)
    in_place = copy.deepcopy(model)
    in_place.relu.inplace = True
    x = torch.randn(3, 5, 7)
    expected = grad_cam(model, x, layer="conv", target=0).maps
    np.testing.assert_allclose(grad_cam(in_place, x, layer="conv", target=0).maps, expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layer": "nope"}, "unknown Grad-CAM layer"),
        ({"layer": "conv2", "target": -1}, "target classes"),
        ({"layer": "conv2", "target": [0, 1]}, "one per segment"),
    ],
)
def test_grad_cam_rejects_bad_arguments(trained, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        grad_cam(trained, np.zeros((3, N_MELS, FRAMES), np.float32), **kwargs)


def test_grad_cam_rejects_model_without_layers():
    with pytest.raises(ParameterError, match="gradcam_layers"):
        grad_cam(nn.Linear(3, 2), np.zeros((1, 3, 3), np.float32), layer="x")


def test_grad_cam_rejects_bad_segments(trained):
    with pytest.raises(ParameterError, match="shape"):
        grad_cam(trained, np.zeros((N_MELS, FRAMES), np.float32), layer="conv2")
    with pytest.raises(ParameterError, match="NaN"):
        grad_cam(trained, np.full((1, N_MELS, FRAMES), np.nan, np.float32), layer="conv2")


class TimeFirst(nn.Module):
    """Wraps TinyCNN's layer outputs as [B, C, T', F'] ('tf') and a 1-D [B, C, T'] layer."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.tf = nn.Identity()
        self.t = nn.Identity()

    def forward(self, x):
        h = self.inner.conv2(self.inner.pool(self.inner.conv1(x.unsqueeze(1))))
        h = self.tf(h.transpose(2, 3)).transpose(2, 3)  # layer sees [B, C, T', F']
        h = h * self.t(h.amax(dim=2))[:, :, None, :].sigmoid()  # a 1-D [B, C, T'] layer
        return {"logits": self.inner.classifier(h.amax(dim=(2, 3)))}

    def gradcam_layers(self):
        return {"tf": self.tf, "t": self.t}

    def gradcam_layouts(self):
        return {"tf": "tf"}


def test_time_first_and_1d_layers(trained):
    model = TimeFirst(copy.deepcopy(trained))
    x = _patched_input(6, 4, 10)[None]
    tf = grad_cam(model, x, layer="tf", target=1).maps[0]
    t = grad_cam(model, x, layer="t", target=1).maps[0]
    assert tf.shape == t.shape == (N_MELS, FRAMES)
    # the 'tf' layout is transposed back: the peak is at the patch, not mirrored
    f, j = np.unravel_index(np.argmax(tf), tf.shape)
    assert 4 - 2 <= f < 4 + PATCH_F + 2 and 10 - 2 <= j < 10 + PATCH_T + 2
    np.testing.assert_allclose(t, np.broadcast_to(t[:1], t.shape))  # even over frequency


# --------------------------------------------------------------------------- localisation


@pytest.mark.parametrize(("f0", "t0"), [(3, 40), (15, 8), (9, 70)])
def test_localisation_on_stitched_track(trained, f0, t0):
    """The stitched map of a 90-frame track peaks inside the patch the model detects.

    Most segments hold no patch, so the track is called 'noise' (class 0); the map of the
    patch class (1) is asked for, as a page does when a person picks a class to explain.
    """
    n_frames = 90
    M = _patched_input(7, f0, t0, frames=n_frames)
    config = FeatureConfig(n_mels=N_MELS, segment_frames=FRAMES, segment_hop_frames=FRAMES // 2)
    stitched, res = saliency.grad_cam_track(trained, M, config=config, layer="conv2", target=1)
    assert res.maps.shape == (len(res.targets), N_MELS, FRAMES)
    assert stitched.shape == (N_MELS, n_frames)
    inside = np.zeros_like(stitched, dtype=bool)
    inside[f0 : f0 + PATCH_F, t0 : t0 + PATCH_T] = True
    f, j = np.unravel_index(np.argmax(stitched), stitched.shape)
    assert inside[f, j], f"peak at {(f, j)}, patch at {(f0, t0)}"
    assert stitched[inside].mean() >= 3 * stitched[~inside].mean()


# --------------------------------------------------------------------------- randomization


def test_randomization_check(trained):
    x = np.stack([_patched_input(s, 4 + 3 * s, 5 + 4 * s) for s in range(4)])
    rho_random = randomization_check(trained, x, layer="conv2", target=1, seed=0)
    # control: an untouched copy gives the same map, so the statistic can fail
    same = grad_cam(copy.deepcopy(trained), x, layer="conv2", target=1).maps
    rho_same = rank_correlation(grad_cam(trained, x, layer="conv2", target=1).maps, same)
    assert rho_same > 0.999
    assert rho_random < 0.5, rho_random
    # the trained model is untouched by the check
    assert grad_cam(trained, x, layer="conv2", target=1).maps == pytest.approx(same)


def test_cascading_randomization(trained):
    x = _patched_input(8, 10, 12)[None]
    steps = saliency.cascading_randomization(trained, x, layer="conv2", target=1, seed=0)
    names = [name for name, _ in steps]
    assert names[0] == "classifier" and names[-1].startswith("conv1")
    assert len(names) == 5  # classifier, conv2 conv+bn, conv1 conv+bn
    assert steps[-1][1] < 0.5


def test_rank_correlation_of_constant_map_is_nan():
    assert np.isnan(rank_correlation(np.zeros((3, 3)), np.arange(9.0).reshape(3, 3)))


# --------------------------------------------------------------------------- deletion


@pytest.mark.parametrize("baseline", ["mean", "inpaint"])
def test_deletion_by_saliency_beats_random(trained, baseline):
    saliency_aucs, random_aucs = [], []
    for seed, (f0, t0) in enumerate([(2, 3), (10, 20), (16, 12)]):
        x = _patched_input(20 + seed, f0, t0)
        cam = grad_cam(trained, x[None], layer="conv2", target=1).maps[0]
        curve = deletion_curve(trained, x, cam, target=1, steps=20, seed=seed, baseline=baseline)
        assert curve.shape == (21,)
        assert curve[0] > 0.9  # the model sees the patch
        saliency_aucs.append(area_under_curve(curve))
        for rs in range(3):
            rand = deletion_curve(
                trained, x, cam, target=1, order="random", seed=100 + rs, baseline=baseline
            )
            random_aucs.append(area_under_curve(rand))
    assert np.mean(saliency_aucs) < np.mean(random_aucs) - 0.1, (saliency_aucs, random_aucs)


@pytest.mark.parametrize("baseline", ["mean", "min", "inpaint"])
def test_deletion_curve_batch_and_baselines(trained, baseline):
    x = np.stack([_patched_input(30, 5, 5), _patched_input(31, 12, 20)])
    cam = grad_cam(trained, x, layer="conv2", target=1).maps
    curve = deletion_curve(trained, x, cam, target=None, steps=4, baseline=baseline)
    assert curve.shape == (5,)
    assert np.all((curve >= 0) & (curve <= 1))


def test_deletion_curve_validation(trained):
    x = np.zeros((N_MELS, FRAMES), np.float32)
    with pytest.raises(ParameterError, match="cam shape"):
        deletion_curve(trained, x, np.zeros((2, 2)))
    with pytest.raises(ParameterError, match="baseline"):
        deletion_curve(trained, x, np.zeros_like(x), baseline="zero")
    with pytest.raises(ParameterError, match="steps"):
        deletion_curve(trained, x, np.zeros_like(x), steps=0)


def test_area_under_curve():
    assert area_under_curve(np.ones(11)) == pytest.approx(1.0)
    assert area_under_curve(np.linspace(1, 0, 5)) == pytest.approx(0.5)
    with pytest.raises(ParameterError, match=">= 2 points"):
        area_under_curve(np.ones(1))


# --------------------------------------------------------------------------- stitching


@pytest.mark.parametrize(("n_frames", "hop"), [(100, 10), (100, 32), (33, 7), (64, 32)])
def test_stitch_constant_maps_stay_constant(n_frames, hop):
    config = FeatureConfig(n_mels=4, segment_frames=FRAMES, segment_hop_frames=hop)
    segments, starts = segment_spectrogram(np.zeros((4, n_frames), np.float32), config=config)
    stitched = stitch_segments(np.full(segments.shape, 2.5), starts, n_frames=n_frames)
    assert stitched.shape == (4, n_frames)
    np.testing.assert_allclose(stitched, 2.5)


def test_stitch_averages_overlaps():
    maps = np.stack([np.zeros((1, 4)), np.ones((1, 4))])
    stitched = stitch_segments(maps, np.array([0, 2]), n_frames=6)
    np.testing.assert_allclose(stitched, [[0, 0, 0.5, 0.5, 1, 1]])


@pytest.mark.parametrize("fold_repeats", [True, False])
def test_stitch_short_clip(fold_repeats):
    """A clip of 10 frames repeat-padded to a 32-frame segment comes back as 10 frames."""
    config = FeatureConfig(n_mels=2, segment_frames=FRAMES)
    clip = np.tile(np.arange(10, dtype=np.float32), (2, 1))
    segments, starts = segment_spectrogram(clip, config=config)
    stitched = stitch_segments(segments, starts, n_frames=10, fold_repeats=fold_repeats)
    np.testing.assert_allclose(stitched, clip)  # a map equal to the input stitches back exactly
    ramp = np.arange(FRAMES, dtype=np.float64)[None, None].repeat(2, axis=1)
    cropped = stitch_segments(ramp, starts, n_frames=10, fold_repeats=fold_repeats)
    folded = [np.arange(k, FRAMES, 10).mean() for k in range(10)]
    expected = folded if fold_repeats else np.arange(10)
    np.testing.assert_allclose(cropped[0], expected)


def test_stitch_validation():
    with pytest.raises(ParameterError, match="covered by no segment"):
        stitch_segments(np.ones((1, 2, 4)), np.array([0]), n_frames=10)
    with pytest.raises(ParameterError, match="starts must be"):
        stitch_segments(np.ones((2, 2, 4)), np.array([0]), n_frames=4)


# --------------------------------------------------------------------------- normalisation


def test_normalize_shared_keeps_relative_strength():
    maps = np.stack([np.full((2, 3), 0.1), np.full((2, 3), 2.0)])
    normalized, scale = normalize_shared(maps)
    assert scale == pytest.approx(2.0)
    assert normalized.max() == pytest.approx(1.0)
    assert normalized[0].max() == pytest.approx(0.05)  # weak segment stays weak
    zeros, zero_scale = normalize_shared(np.zeros((2, 2)))
    assert zero_scale == 0.0 and not zeros.any()
    with pytest.raises(ParameterError, match="non-negative"):
        normalize_shared(-np.ones(3))


# --------------------------------------------------------------------------- salient audio

AUDIO_CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def two_tones():
    """2 s of a 300 Hz tone in the first half and a 3 kHz tone in the second, plus noise."""
    sr = AUDIO_CONFIG.sr
    t = np.arange(2 * sr) / sr
    rng = np.random.default_rng(0)
    y = 0.01 * rng.standard_normal(t.size)
    y[:sr] += 0.5 * np.sin(2 * np.pi * 300 * t[:sr])
    y[sr:] += 0.5 * np.sin(2 * np.pi * 3000 * t[sr:])
    return y.astype(np.float32)


def _cam_on(y, config, *, first_half):
    """A saliency map that highlights the mel bands around 3 kHz in the second second."""
    M = log_mel(y, config=config)
    cam = np.zeros_like(M)
    freqs = mel_frequencies(config=config)
    band = np.abs(freqs - (300.0 if first_half else 3000.0)) < 400
    half = M.shape[1] // 2
    cols = slice(0, half) if first_half else slice(half, None)
    cam[np.ix_(band, np.arange(M.shape[1])[cols])] = 1.0
    return cam + 0.01 * np.random.default_rng(1).random(cam.shape)


def test_salient_audio_identity_at_full_keep(two_tones):
    cam = _cam_on(two_tones, AUDIO_CONFIG, first_half=False)
    out = salient_audio(
        two_tones, sr=AUDIO_CONFIG.sr, cam_stitched=cam, config=AUDIO_CONFIG, keep_fraction=1.0
    )
    assert out.shape == two_tones.shape and out.dtype == np.float32
    assert np.corrcoef(out, two_tones)[0, 1] > 0.99


def test_salient_audio_energy_decreases(two_tones):
    cam = _cam_on(two_tones, AUDIO_CONFIG, first_half=False)
    energies = []
    for keep in [1.0, 0.5, 0.2, 0.05]:
        out = salient_audio(
            two_tones, sr=AUDIO_CONFIG.sr, cam_stitched=cam, config=AUDIO_CONFIG, keep_fraction=keep
        )
        assert out.shape == two_tones.shape
        energies.append(float(np.sum(out.astype(np.float64) ** 2)))
    assert all(a > b for a, b in zip(energies, energies[1:], strict=False)), energies


@pytest.mark.parametrize("first_half", [True, False])
def test_salient_audio_keeps_the_salient_tone(two_tones, first_half):
    sr = AUDIO_CONFIG.sr
    cam = _cam_on(two_tones, AUDIO_CONFIG, first_half=first_half)
    # the highlighted region is ~5 % of the STFT cells: keep less than that
    out = salient_audio(two_tones, sr=sr, cam_stitched=cam, config=AUDIO_CONFIG, keep_fraction=0.03)
    guard = AUDIO_CONFIG.n_fft  # the tone switch at 1 s smears over one window
    first, second = out[: sr - guard], out[sr + guard :]
    kept, dropped = (first, second) if first_half else (second, first)
    assert np.sum(kept.astype(np.float64) ** 2) > 100 * np.sum(dropped.astype(np.float64) ** 2)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_box_filter_equals_scipy_uniform_filter(size):
    import scipy.ndimage

    x = np.random.default_rng(size).random((37, 50))
    np.testing.assert_allclose(
        _box_filter(x, size=size), scipy.ndimage.uniform_filter(x, size=size, mode="nearest")
    )


def test_salient_audio_masks_librosas_stft(two_tones):
    # the STFT is torch's; with nothing masked it must invert exactly as librosa's does
    cam = _cam_on(two_tones, AUDIO_CONFIG, first_half=True)
    out = salient_audio(
        two_tones, sr=AUDIO_CONFIG.sr, cam_stitched=cam, config=AUDIO_CONFIG, keep_fraction=1.0
    )
    stft = {"n_fft": AUDIO_CONFIG.n_fft, "hop_length": AUDIO_CONFIG.hop_length}
    expected = librosa.istft(librosa.stft(two_tones, **stft), **stft, length=two_tones.size)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_salient_audio_validation(two_tones):
    cam = _cam_on(two_tones, AUDIO_CONFIG, first_half=True)
    with pytest.raises(ParameterError, match="keep_fraction"):
        salient_audio(two_tones, sr=16000, cam_stitched=cam, config=AUDIO_CONFIG, keep_fraction=0)
    with pytest.raises(ParameterError, match="sr"):
        salient_audio(two_tones, sr=22050, cam_stitched=cam, config=AUDIO_CONFIG)
    with pytest.raises(ParameterError, match="cam_stitched must have shape"):
        salient_audio(two_tones, sr=16000, cam_stitched=cam[:, :-1], config=AUDIO_CONFIG)
    db_config = dataclasses.replace(AUDIO_CONFIG, compression="db")
    out = salient_audio(two_tones, sr=16000, cam_stitched=cam, config=db_config)
    assert out.shape == two_tones.shape


def test_region_ids_tile_each_segment():
    ids = saliency._region_ids((2, 5, 7), region=(2, 3))
    assert ids.shape == (2, 5, 7)
    # 3 x 3 blocks per segment (the last row/column smaller), none shared between segments
    assert len(np.unique(ids[0])) == 9 and len(np.unique(ids)) == 18
    assert ids[0, 0, 0] == ids[0, 1, 2] != ids[0, 2, 0]


def test_deletion_by_regions_deletes_whole_blocks(trained):
    x = _patched_input(40, 6, 9)
    cam = grad_cam(trained, x[None], layer="conv2", target=1).maps[0]
    whole = (x.shape[0], x.shape[1])  # one block: nothing, then everything
    curve = deletion_curve(trained, x, cam, target=1, steps=1, region=whole)
    fully_deleted = deletion_curve(trained, np.full_like(x, x.mean()), cam, target=1, steps=1)
    assert curve[0] > 0.9 and curve[1] == pytest.approx(fully_deleted[0])
    blocks = deletion_curve(trained, x, cam, target=1, steps=8, region=(4, 4))
    assert blocks[0] == pytest.approx(curve[0]) and blocks[-1] == pytest.approx(curve[-1])
    for bad in [(0, 4), (4,), (2.5, 2)]:
        with pytest.raises(ParameterError, match="region"):
            deletion_curve(trained, x, cam, region=bad)
