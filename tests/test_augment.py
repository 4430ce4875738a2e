import numpy as np
import pytest
import torch

from genrecls import augment
from genrecls.augment import AugmentConfig, SpecMasks, WaveformAugmentation
from genrecls.exceptions import ParameterError
from genrecls.features import PITCH_CLASSES, FeatureConfig, chroma
from genrecls.synth import band_noise, sine

SR = 16000


@pytest.fixture
def noise():
    return band_noise(sr=SR, seconds=1.0, low_hz=100.0, high_hz=4000.0, seed=0)


# ----------------------------------------------------------------------------- waveform
@pytest.mark.parametrize("rate", [0.5, 0.9, 1.1, 2.0])
def test_time_stretch_changes_duration_by_rate(noise, rate):
    out = augment.time_stretch(noise, rate=rate)
    assert out.dtype == np.float32
    assert out.ndim == 1
    # librosa returns round(n / rate) samples; allow one STFT hop of slack.
    assert abs(out.size - noise.size / rate) <= 512


def test_time_stretch_rate_one_is_identity(noise):
    out = augment.time_stretch(noise, rate=1.0)
    np.testing.assert_array_equal(out, noise)
    assert out is not noise


@pytest.mark.parametrize("n_steps", [-2, 2, 0.5])
def test_pitch_shift_keeps_length(noise, n_steps):
    out = augment.pitch_shift(noise, sr=SR, n_steps=n_steps)
    assert out.shape == noise.shape
    assert out.dtype == np.float32


def _chroma_peak(y):
    return PITCH_CLASSES[int(np.argmax(chroma(y, config=FeatureConfig()).mean(axis=1)))]


def test_pitch_shift_moves_a440_to_b():
    y = sine(440.0, sr=SR, seconds=1.0)
    assert _chroma_peak(y) == "A"
    assert _chroma_peak(augment.pitch_shift(y, sr=SR, n_steps=2)) == "B"
    assert _chroma_peak(augment.pitch_shift(y, sr=SR, n_steps=-2)) == "G"


def test_random_gain_seeded_and_in_range(noise):
    a = augment.random_gain(noise, rng=np.random.default_rng(3))
    b = augment.random_gain(noise, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    ratio = np.max(np.abs(a)) / np.max(np.abs(noise))
    assert 10 ** (-6 / 20) - 1e-6 <= ratio <= 10 ** (6 / 20) + 1e-6


def test_draw_then_apply_gain_equals_random_gain(noise):
    gain_db = augment.draw_gain_db(np.random.default_rng(5), low_db=-3, high_db=3)
    assert -3 <= gain_db <= 3
    np.testing.assert_array_equal(
        augment.apply_gain(noise, gain_db=gain_db),
        augment.random_gain(noise, rng=np.random.default_rng(5), low_db=-3, high_db=3),
    )
    np.testing.assert_allclose(augment.apply_gain(noise, gain_db=20.0), noise * 10, rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda y: augment.time_stretch(y, rate=0), "rate"),
        (lambda y: augment.time_stretch(y[:, None], rate=1.1), "mono"),
        (lambda y: augment.pitch_shift(y, sr=0, n_steps=2), "sr"),
        (lambda y: augment.pitch_shift(y, sr=SR, n_steps=40), "n_steps"),
        (
            lambda y: augment.random_gain(y, rng=np.random.default_rng(0), low_db=3, high_db=1),
            "low_db",
        ),
        (lambda y: augment.random_gain(y, rng=0), "Generator"),
    ],
)
def test_waveform_validation(noise, call, match):
    with pytest.raises(ParameterError, match=match):
        call(noise)


def test_waveform_augmentation_variants(noise):
    aug = WaveformAugmentation(sr=SR, stretch_rates=(0.9, 1.1), pitch_steps=(-2, 2))
    assert aug.names == ("stretch_0.9", "stretch_1.1", "shift_-2_sr16000", "shift_+2_sr16000")
    lengths = {name: fn(noise).size for name, fn in aug.variants()}
    assert lengths["stretch_0.9"] > noise.size > lengths["stretch_1.1"]
    assert lengths["shift_+2_sr16000"] == lengths["shift_-2_sr16000"] == noise.size
    cfg = AugmentConfig(stretch_rates=(0.9,), pitch_steps=(2,))
    assert WaveformAugmentation.from_config(cfg, sr=SR).names == ("stretch_0.9", "shift_+2_sr16000")


# ----------------------------------------------------------------------------- SpecAugment
@pytest.fixture
def batch():
    return torch.from_numpy(np.random.default_rng(0).normal(size=(4, 96, 187)).astype(np.float32))


def test_apply_spec_masks_masks_exactly_the_given_bands(batch):
    freq = np.array([[[10, 5], [40, 3]]] * 4)  # 8 bands per example
    time = np.zeros((4, 1, 2), dtype=int)  # width 0: nothing
    out = augment.apply_spec_masks(batch, SpecMasks(freq=freq, time=time), mask_value=-99.0)
    assert out.shape == batch.shape
    masked_rows = (out == -99.0).all(dim=2)  # (B, n_mels)
    assert masked_rows.sum(dim=1).tolist() == [8, 8, 8, 8]
    expected = np.zeros(96, dtype=bool)
    expected[10:15] = expected[40:43] = True
    assert (masked_rows.numpy() == expected).all()
    untouched = ~torch.from_numpy(expected)
    assert torch.equal(out[:, untouched], batch[:, untouched])
    assert not torch.equal(out, batch) and torch.equal(batch, batch.clone())  # input kept


def test_spec_augment_masks_the_drawn_bands_and_frames(batch):
    rng = np.random.default_rng(1)
    masks = augment.draw_spec_masks(batch.shape, rng=rng, n_freq_masks=2, n_time_masks=3)
    assert masks.freq.shape == (4, 2, 2) and masks.time.shape == (4, 3, 2)
    assert (masks.freq[..., 1] <= 12).all() and (masks.time[..., 1] <= 20).all()
    assert (masks.freq.sum(axis=-1) <= 96).all() and (masks.time.sum(axis=-1) <= 187).all()
    out = augment.apply_spec_masks(batch, masks, mask_value=1e6)
    for b in range(4):
        bands = set().union(*(range(f, f + w) for f, w in masks.freq[b]))
        frames = set().union(*(range(f, f + w) for f, w in masks.time[b]))
        is_masked = (out[b] == 1e6).numpy()
        assert {i for i in range(96) if is_masked[i].all()} == bands
        assert {t for t in range(187) if is_masked[:, t].all()} == frames
        assert is_masked.sum() == 187 * len(bands) + 96 * len(frames) - len(bands) * len(frames)


def test_spec_augment_default_fills_batch_mean(batch):
    out = augment.spec_augment(batch, rng=np.random.default_rng(2), max_freq_width=30)
    changed = out != batch
    assert changed.any()
    assert torch.allclose(out[changed], batch.mean().expand(int(changed.sum())))


@pytest.mark.parametrize(
    "make_rng", [lambda: np.random.default_rng(7), lambda: torch.Generator().manual_seed(7)]
)
def test_spec_augment_seeded(batch, make_rng):
    a = augment.spec_augment(batch, rng=make_rng())
    b = augment.spec_augment(batch, rng=make_rng())
    assert torch.equal(a, b)
    assert a.shape == batch.shape


def test_spec_augment_validation(batch):
    with pytest.raises(ParameterError, match="B, n_mels, T"):
        augment.spec_augment(batch[0], rng=np.random.default_rng(0))
    with pytest.raises(ParameterError, match="n_freq_masks"):
        augment.spec_augment(batch, rng=np.random.default_rng(0), n_freq_masks=-1)
    with pytest.raises(ParameterError, match="Generator"):
        augment.spec_augment(batch, rng=0)


# ----------------------------------------------------------------------------- mixup
def test_mixup_soft_targets_sum_to_one(batch):
    y = torch.nn.functional.one_hot(torch.tensor([0, 3, 3, 9]), 10).float()
    x_mix, y_mix = augment.mixup(batch, y, alpha=0.4, rng=np.random.default_rng(0))
    assert x_mix.shape == batch.shape and y_mix.shape == y.shape
    torch.testing.assert_close(y_mix.sum(dim=1), torch.ones(4))
    lam, perm = augment.draw_mixup(4, alpha=0.4, rng=np.random.default_rng(0))
    torch.testing.assert_close(x_mix, lam * batch + (1 - lam) * batch[perm])


def test_mixup_seeded(batch):
    y = torch.eye(4)
    a = augment.mixup(batch, y, alpha=0.2, rng=np.random.default_rng(11))
    b = augment.mixup(batch, y, alpha=0.2, rng=np.random.default_rng(11))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_mixup_validation(batch):
    with pytest.raises(ParameterError, match="alpha"):
        augment.mixup(batch, torch.eye(4), alpha=0.0, rng=np.random.default_rng(0))
    with pytest.raises(ParameterError, match="n_classes"):
        augment.mixup(batch, torch.eye(3), alpha=0.2, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- config
def test_augment_config_round_trip_and_default_off():
    assert not AugmentConfig().enabled
    cfg = AugmentConfig(spec_augment=True, mixup_alpha=0.2, stretch_rates=[0.9, 1.1])
    assert cfg.stretch_rates == (0.9, 1.1) and cfg.enabled
    d = cfg.to_dict()
    assert d["stretch_rates"] == [0.9, 1.1]
    assert AugmentConfig.from_dict(d) == cfg


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mixup_alpha": -0.1}, "mixup_alpha"),
        ({"mixup_alpha": float("nan")}, "mixup_alpha"),
        ({"spec_augment": 1}, "spec_augment"),
        ({"stretch_rates": (1.0,)}, "original"),
        ({"stretch_rates": (3.0,)}, r"\[0.5, 2\]"),
        ({"stretch_rates": (0.9, 0.9)}, "duplicates"),
        ({"pitch_steps": (0,)}, "original"),
        ({"pitch_steps": "2"}, "sequence"),
    ],
)
def test_augment_config_validation(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        AugmentConfig(**kwargs)


def test_augment_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ParameterError, match="unknown"):
        AugmentConfig.from_dict({"spec_augment": True, "cutout": True})
