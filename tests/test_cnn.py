import pytest
import torch

from genrecls.exceptions import ParameterError
from genrecls.models.cnn import CompactCNN, count_macs


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


SMALL = dict(n_mels=32, n_classes=5, channels=(4, 8, 8, 16))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("frames", [187, 40, 5])
def test_output_shapes(batch, frames):
    model = CompactCNN(**SMALL).eval()
    out = model(torch.randn(batch, 32, frames))
    assert set(out) == {"logits", "embedding"}
    assert out["logits"].shape == (batch, 5)
    assert out["embedding"].shape == (batch, model.embedding_dim)
    # 32 bands pooled by 2 four times → 2 rows; 16 channels; mean and max → 64
    assert model.embedding_dim == 2 * 16 * 2


def test_default_model_shapes_and_size():
    model = CompactCNN().eval()
    out = model(torch.randn(2, 96, 187))
    assert out["logits"].shape == (2, 10)
    assert out["embedding"].shape == (2, model.embedding_dim)
    n_params = sum(p.numel() for p in model.parameters())
    input_bn = 2 * 96
    convs = 9 * (1 * 8 + 8 * 24 + 24 * 48 + 48 * 96)  # 3x3, no bias
    bns = 2 * (8 + 24 + 48 + 96)
    head = (2 * 96 * 6) * 10 + 10  # 96 channels x 6 rows x (mean, max) → 10
    assert n_params == input_bn + convs + bns + head == 65_714
    assert count_macs(model, torch.randn(1, 96, 187)) == 17_146_368
    assert n_params == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_gradcam_layers_are_ordered_time_frequency_maps():
    model = CompactCNN().eval()
    layers = model.gradcam_layers()
    assert list(layers) == ["block1", "block2", "block3", "block4"]
    shapes = {}
    handles = [
        module.register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape))
        )
        for name, module in layers.items()
    ]
    model(torch.randn(2, 96, 187))
    for h in handles:
        h.remove()
    channels = model.channels
    assert shapes["block1"] == (2, channels[0], 96, 187)
    for i, name in enumerate(list(layers)[1:], start=1):
        prev = shapes[list(layers)[i - 1]]
        f_pool, t_pool = model.pools[i - 1]
        assert shapes[name] == (2, channels[i], -(-prev[2] // f_pool), -(-prev[3] // t_pool))
    # post-ReLU maps are non-negative
    out = {}
    h = layers["block2"].register_forward_hook(lambda m, i, o: out.__setitem__("x", o))
    model(torch.randn(2, 96, 187))
    h.remove()
    assert out["x"].min() >= 0


def test_gradcam_layer_gradients_flow():
    model = CompactCNN(**SMALL).eval()
    store = {}
    layer = model.gradcam_layers()["block3"]

    def hook(module, inputs, output):
        store["act"] = output
        output.register_hook(lambda g: store.__setitem__("grad", g))

    h = layer.register_forward_hook(hook)
    logits = model(torch.randn(2, 32, 50))["logits"]
    logits[:, 1].sum().backward()
    h.remove()
    assert store["grad"].shape == store["act"].shape


def test_training_mode_batch_and_eval_determinism():
    model = CompactCNN(**SMALL)
    x = torch.randn(4, 32, 30)
    model.train()
    model(x)["logits"].sum().backward()
    model.eval()
    with torch.no_grad():
        a = model(x)["logits"]
        b = model(x)["logits"]
    assert torch.equal(a, b)


def test_init_weights_is_explicit_and_resets():
    model = CompactCNN(**SMALL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model.init_weights()
    after = model.state_dict()
    assert torch.equal(after["classifier.bias"], torch.zeros(5))
    assert torch.equal(after["block1.bn.weight"], before["block1.bn.weight"])


def test_count_macs_by_hand():
    model = CompactCNN(n_mels=8, n_classes=3, channels=(2, 4), pools=((2, 2), (2, 2)))
    macs = count_macs(model, torch.randn(1, 8, 8))
    conv1 = 1 * 9 * 2 * 8 * 8  # in * k*k * out * F * T
    conv2 = 2 * 9 * 4 * 4 * 4
    head = model.embedding_dim * 3
    assert macs == conv1 + conv2 + head


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(n_mels=0), "n_mels"),
        (dict(n_classes=-1), "n_classes"),
        (dict(channels=()), "at least one"),
        (dict(channels=(8, 0, 8, 8)), r"channels\[1\]"),
        (dict(pools=((2, 2),)), "one \\(freq, time\\) size per block"),
        (dict(pools=((2, 2), (2, 2), (2, 2), (2, 0))), r"pools\[3\]\[1\]"),
        (dict(dropout=1.0), "dropout"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        CompactCNN(**kwargs)


@pytest.mark.parametrize("shape", [(2, 95, 187), (2, 96), (2, 1, 96, 187), (2, 96, 0)])
def test_wrong_input_shape(shape):
    with pytest.raises(ParameterError, match="expected input of shape"):
        CompactCNN()(torch.randn(*shape))
