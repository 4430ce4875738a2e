#!/usr/bin/env python3
"""Convert the pretrained musicnn checkpoints (PyPI wheel, TF1) to PyTorch state dicts.

Neither TensorFlow nor the ``musicnn`` package is installed: the wheel is only
downloaded (``pip download --no-deps musicnn==0.1.0``, or given with ``--wheel``), its
``MSD_musicnn`` and ``MTT_musicnn`` checkpoints are read with
:func:`genrecls.tfcheckpoint.read_tf_checkpoint`, every model variable is mapped onto
:class:`genrecls.models.musicnn.Musicnn`, and the result is checked twice:

1. every TF variable is used exactly once and every shape matches (strict load);
2. the PyTorch model agrees with an independent numpy transcription of musicnn's TF
   graph (``models.py``, NHWC, computed straight from the TF arrays) on random input.

Writes ``models/musicnn_msd.pt``, ``models/musicnn_mtt.pt`` (float32 state dicts,
loadable with ``torch.load(..., weights_only=True)``) and ``models/musicnn.json``
(provenance: wheel, sha256, ISC licence text, tags, checksums of the .pt files).

Usage::

    .venv/bin/python scripts/convert_musicnn.py [--wheel PATH] [--cache-dir DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from genrecls.config import PROJECT_ROOT, bundled_models_dir
from genrecls.models.musicnn import MSD_TAGS, MTT_TAGS, PATCH_FRAMES, Musicnn
from genrecls.tfcheckpoint import is_optimizer_slot, read_tf_checkpoint

WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
WHEEL_URL = "https://pypi.org/project/musicnn/0.1.0/"

#: which -> (checkpoint folder in the wheel, tag list)
MODELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "msd": ("MSD_musicnn", MSD_TAGS),
    "mtt": ("MTT_musicnn", MTT_TAGS),
}

#: TF1 layer name -> PyTorch module prefix (creation order of build_musicnn).
CONV_LAYERS = {
    "conv2d": "timbral_f74.conv",
    "conv2d_1": "timbral_f77.conv",
    "conv2d_2": "temporal_s1.conv",
    "conv2d_3": "temporal_s2.conv",
    "conv2d_4": "temporal_s3.conv",
}
CONV1D_LAYERS = {  # mid-end: conv2d over (time, channel) == Conv1d over time
    "conv2d_5": "midend1.conv",
    "conv2d_6": "midend2.conv",
    "conv2d_7": "midend3.conv",
}
DENSE_LAYERS = {"dense": "penultimate.dense", "dense_1": "classifier"}
BN_LAYERS = {
    "batch_normalization": "input_bn",
    "batch_normalization_1": "timbral_f74.bn",
    "batch_normalization_2": "timbral_f77.bn",
    "batch_normalization_3": "temporal_s1.bn",
    "batch_normalization_4": "temporal_s2.bn",
    "batch_normalization_5": "temporal_s3.bn",
    "batch_normalization_6": "midend1.bn",
    "batch_normalization_7": "midend2.bn",
    "batch_normalization_8": "midend3.bn",
    "batch_normalization_9": "pool_bn",
    "batch_normalization_10": "penultimate.bn",
}
BN_PARAMS = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def get_wheel(wheel: Path | None, cache_dir: Path) -> Path:
    """Return the wheel path, downloading it with pip (no dependencies) if needed."""
    if wheel is not None:
        return wheel
    cached = cache_dir / WHEEL_NAME
    if not cached.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "musicnn==0.1.0"]
        subprocess.run([*cmd, "-d", str(cache_dir)], check=True)
    return cached


def tf_to_torch(tf_vars: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map musicnn's TF variables (no optimizer slots) to Musicnn state-dict entries."""
    out: dict[str, np.ndarray] = {}
    used: set[str] = set()

    def take(name: str) -> np.ndarray:
        if name not in tf_vars:
            raise KeyError(f"TF checkpoint lacks {name}")
        used.add(name)
        return tf_vars[name]

    for tf_name, prefix in CONV_LAYERS.items():  # [kh, kw, in, out] -> [out, in, kh, kw]
        out[f"{prefix}.weight"] = take(f"{tf_name}/kernel").transpose(3, 2, 0, 1)
        out[f"{prefix}.bias"] = take(f"{tf_name}/bias")
    for tf_name, prefix in CONV1D_LAYERS.items():  # [7, in, 1, out] -> [out, in, 7]
        out[f"{prefix}.weight"] = take(f"{tf_name}/kernel")[:, :, 0, :].transpose(2, 1, 0)
        out[f"{prefix}.bias"] = take(f"{tf_name}/bias")
    for tf_name, prefix in DENSE_LAYERS.items():  # [in, out] -> [out, in]
        out[f"{prefix}.weight"] = take(f"{tf_name}/kernel").T
        out[f"{prefix}.bias"] = take(f"{tf_name}/bias")
    for tf_name, prefix in BN_LAYERS.items():
        for tf_param, torch_param in BN_PARAMS.items():
            out[f"{prefix}.{torch_param}"] = take(f"{tf_name}/{tf_param}")
    unused = sorted(set(tf_vars) - used)
    if unused:
        raise ValueError(f"TF variables left unmapped: {unused}")
    return {
        key: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        for key, value in out.items()
    }


def build_state_dict(tf_vars: dict[str, np.ndarray], n_tags: int) -> dict[str, torch.Tensor]:
    """Fill a fresh Musicnn with the mapped tensors; check every key and shape."""
    model = Musicnn(n_tags=n_tags)
    expected = model.state_dict()
    mapped = tf_to_torch(tf_vars)
    for key, value in mapped.items():
        if key not in expected:
            raise KeyError(f"mapped key {key} is not a Musicnn parameter")
        if tuple(expected[key].shape) != tuple(value.shape):
            raise ValueError(f"{key}: shape {tuple(value.shape)} != {tuple(expected[key].shape)}")
    missing = [k for k in expected if k not in mapped and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"Musicnn parameters without a TF variable: {missing}")
    state = {k: mapped.get(k, v.clone()) for k, v in expected.items()}
    for key in state:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.long)
    model.load_state_dict(state, strict=True)
    return state


def tf_graph_reference(x: np.ndarray, w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run musicnn's TF1 graph (``build_musicnn``, inference mode) in numpy, NHWC.

    A direct transcription of ``models.py`` using the TF arrays as stored (no permutes),
    to check the PyTorch layout independently.
    """
    x = x.astype(np.float64)
    w = {k: v.astype(np.float64) for k, v in w.items()}

    def bn(v: np.ndarray, name: str) -> np.ndarray:
        scale = w[f"{name}/gamma"] / np.sqrt(w[f"{name}/moving_variance"] + 1e-3)
        return (v - w[f"{name}/moving_mean"]) * scale + w[f"{name}/beta"]

    def conv2d_valid(v: np.ndarray, name: str) -> np.ndarray:  # v [B, H, W, Cin]
        kernel = w[f"{name}/kernel"]  # [kh, kw, Cin, Cout]
        kh, kw = kernel.shape[:2]
        win = sliding_window_view(v, (kh, kw), axis=(1, 2))  # [B, H', W', Cin, kh, kw]
        out = np.einsum("bhwcij,ijco->bhwo", win, kernel, optimize=True)
        return np.maximum(out + w[f"{name}/bias"], 0.0)  # activation=relu

    def pad_time(v: np.ndarray, before: int, after: int) -> np.ndarray:
        return np.pad(v, ((0, 0), (before, after), (0, 0), (0, 0)))

    inp = bn(x[..., None], "batch_normalization")  # [B, T, 96, 1]
    pad7 = pad_time(inp, 3, 3)
    branches = [
        bn(conv2d_valid(pad7, "conv2d"), "batch_normalization_1").max(axis=2),
        bn(conv2d_valid(pad7, "conv2d_1"), "batch_normalization_2").max(axis=2),
    ]
    for conv, norm, k in (
        ("conv2d_2", "batch_normalization_3", 128),
        ("conv2d_3", "batch_normalization_4", 64),
        ("conv2d_4", "batch_normalization_5", 32),
    ):  # padding='same': (k-1)//2 before, k//2 after
        branches.append(bn(conv2d_valid(pad_time(inp, (k - 1) // 2, k // 2), conv), norm).max(2))
    front = np.concatenate(branches, axis=2)[..., None]  # [B, T, 561, 1]
    c1 = bn(conv2d_valid(pad_time(front, 3, 3), "conv2d_5"), "batch_normalization_6")
    c1 = c1.transpose(0, 1, 3, 2)  # [B, T, 64, 1]
    c2 = bn(conv2d_valid(pad_time(c1, 3, 3), "conv2d_6"), "batch_normalization_7")
    c2 = c2.transpose(0, 1, 3, 2) + c1
    c3 = bn(conv2d_valid(pad_time(c2, 3, 3), "conv2d_7"), "batch_normalization_8")
    c3 = c3.transpose(0, 1, 3, 2) + c2
    feats = np.concatenate([front, c1, c2, c3], axis=2)  # [B, T, 753, 1]
    pool = np.concatenate([feats.max(axis=1), feats.mean(axis=1)], axis=2)  # [B, 753, 2]
    flat = pool.reshape(pool.shape[0], -1)  # tf.layers.flatten, row-major
    hidden = np.maximum(bn(flat, "batch_normalization_9") @ w["dense/kernel"] + w["dense/bias"], 0)
    embedding = bn(hidden, "batch_normalization_10")
    logits = embedding @ w["dense_1/kernel"] + w["dense_1/bias"]
    return {"logits": logits, "embedding": embedding, "pooled": flat}


def check_against_reference(
    state: dict[str, torch.Tensor], tf_vars: dict[str, np.ndarray]
) -> tuple[float, float]:
    """Compare the PyTorch model with the numpy TF graph on a random batch.

    Returns
    -------
    diff64, rel32 : float
        Largest absolute difference over all outputs with the model in float64 (tests
        the mapping: should be at round-off level), and the largest difference of the
        float32 model relative to each output's largest magnitude.
    """
    model = Musicnn(n_tags=state["classifier.bias"].shape[0])
    model.load_state_dict(state, strict=True)
    model.eval()
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 4.0, size=(2, PATCH_FRAMES, 96)).astype(np.float32)
    ref = tf_graph_reference(x, tf_vars)
    with torch.inference_mode():
        got32 = model(torch.from_numpy(x))
        got64 = model.double()(torch.from_numpy(x).double())
    diff64 = max(float(np.abs(got64[k].numpy() - ref[k]).max()) for k in ref)
    rel32 = max(
        float(np.abs(got32[k].double().numpy() - ref[k]).max() / np.abs(ref[k]).max()) for k in ref
    )
    return diff64, rel32


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="musicnn-0.1.0 wheel (default: pip download)")
    parser.add_argument("--cache-dir", type=Path, default=PROJECT_ROOT / ".cache" / "musicnn")
    parser.add_argument("--out", type=Path, default=bundled_models_dir())
    parser.add_argument("--allow-other-wheel", action="store_true", help="skip the sha256 pin")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    wheel = get_wheel(args.wheel, args.cache_dir)
    wheel_sha = sha256_of(wheel)
    if wheel_sha != WHEEL_SHA256 and not args.allow_other_wheel:
        raise SystemExit(f"{wheel}: sha256 {wheel_sha} is not the pinned {WHEEL_SHA256}")
    args.out.mkdir(parents=True, exist_ok=True)

    provenance: dict = {
        "source": {
            "package": "musicnn 0.1.0 (PyPI)",
            "url": WHEEL_URL,
            "wheel": wheel.name,
            "wheel_sha256": wheel_sha,
            "authors": "Jordi Pons, Xavier Serra (Music Technology Group, UPF)",
            "paper": "Pons & Serra (2019), musicnn: Pre-trained convolutional neural "
            "networks for music audio tagging, arXiv:1909.06654",
            "license": "ISC",
        },
        "conversion": "scripts/convert_musicnn.py (numpy TF checkpoint reader, no TensorFlow)",
        "preprocessing": "genrecls.models.musicnn.musicnn_logmel: 16 kHz, n_fft 512, hop 256, "
        "96 Slaney mels, power 2, float16 cast, log10(10000*S+1); patches of 187 frames",
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        licence = zf.read("musicnn-0.1.0.dist-info/LICENSE.md").decode("utf-8").strip()
        provenance["source"]["license_text"] = licence
        for which, (folder, tags) in MODELS.items():
            members = [m for m in zf.namelist() if m.startswith(f"musicnn/{folder}/")]
            zf.extractall(tmp, members=members)
            ckpt = Path(tmp) / "musicnn" / folder
            all_vars = read_tf_checkpoint(ckpt, verify=True)
            tf_vars = {k: v for k, v in all_vars.items() if not is_optimizer_slot(k)}
            state = build_state_dict(tf_vars, n_tags=len(tags))
            diff64, rel32 = check_against_reference(state, tf_vars)
            if diff64 > 1e-9 or rel32 > 1e-5:
                raise SystemExit(
                    f"{folder}: torch and numpy TF graph differ: float64 {diff64:.3g}, "
                    f"float32 relative {rel32:.3g}"
                )
            out_path = args.out / f"musicnn_{which}.pt"
            torch.save(state, out_path)
            reloaded = torch.load(out_path, weights_only=True)
            assert reloaded.keys() == state.keys()
            n_floats = sum(v.numel() for v in state.values() if v.is_floating_point())
            result = (ckpt / "experiment.result").read_text().strip()
            provenance["models"][which] = {
                "file": out_path.name,
                "sha256": sha256_of(out_path),
                "checkpoint": f"musicnn/{folder}",
                "tf_variables": len(tf_vars),
                "tf_optimizer_slots_dropped": len(all_vars) - len(tf_vars),
                "float32_values": n_floats,
                "check_vs_numpy_tf_graph": {
                    "input": "uniform(0, 4), shape (2, 187, 96), numpy default_rng(0)",
                    "max_abs_diff_float64": diff64,
                    "max_rel_diff_float32": rel32,
                },
                "experiment_result": result,
                "tags": list(tags),
            }
            print(
                f"{folder}: {len(tf_vars)} TF variables -> {out_path} "
                f"({out_path.stat().st_size / 1e6:.2f} MB, {n_floats} floats), "
                f"vs numpy TF graph: float64 max abs diff {diff64:.1e}, "
                f"float32 max rel diff {rel32:.1e}"
            )
    json_path = args.out / "musicnn.json"
    json_path.write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
