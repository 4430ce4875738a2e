"""Tests of the numpy TF checkpoint reader on small checkpoints written here by hand.

The writer below follows the same formats (LevelDB table, BundleEntryProto), so these
tests pin the decoding of dtypes, shapes, offsets, checksums and the error paths; the
real musicnn checkpoints are exercised by ``scripts/convert_musicnn.py``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from genrecls.exceptions import ModelError
from genrecls.tfcheckpoint import (
    _crc32c,
    _masked_crc32c,
    is_optimizer_slot,
    list_tf_checkpoint,
    read_tf_checkpoint,
)

_TF_DTYPES = {np.dtype("float32"): 1, np.dtype("int32"): 3, np.dtype("float16"): 19}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire_type) + payload


def _len_field(number: int, payload: bytes) -> bytes:
    return _field(number, 2, _varint(len(payload)) + payload)


def _entry_proto(array: np.ndarray, offset: int) -> bytes:
    raw = array.tobytes()
    shape = b"".join(_len_field(2, _field(1, 0, _varint(d))) for d in array.shape)
    return (
        _field(1, 0, _varint(_TF_DTYPES[array.dtype]))
        + _len_field(2, shape)
        + _field(4, 0, _varint(offset))
        + _field(5, 0, _varint(len(raw)))
        + _field(6, 5, struct.pack("<I", _masked_crc32c(raw)))
    )


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
    return body + struct.pack("<II", 0, 1)  # one restart point at 0


def _with_trailer(block: bytes) -> bytes:
    return block + b"\x00" + struct.pack("<I", _masked_crc32c(b"\x00", _crc32c(block)))


def write_checkpoint(prefix: str, tensors: dict[str, np.ndarray]) -> None:
    """Write a single-shard TF V2 checkpoint (uncompressed table)."""
    data = b""
    entries = [(b"", _field(1, 0, _varint(1)))]  # BundleHeaderProto: num_shards = 1
    for name in sorted(tensors):
        array = np.require(tensors[name], requirements="C")  # keeps 0-d arrays 0-d
        entries.append((name.encode(), _entry_proto(array, len(data))))
        data += array.tobytes()
    Path(f"{prefix}.data-00000-of-00001").write_bytes(data)
    data_block = _block(entries)
    index = _with_trailer(data_block)
    handle = _varint(0) + _varint(len(data_block))
    index_block = _block([(entries[-1][0] + b"\xff", handle)])
    meta_block = _block([])
    meta_offset = len(index)
    index += _with_trailer(meta_block)
    index_offset = len(index)
    index += _with_trailer(index_block)
    handles = _varint(meta_offset) + _varint(len(meta_block))
    handles += _varint(index_offset) + _varint(len(index_block))
    footer = handles.ljust(40, b"\x00") + struct.pack("<Q", 0xDB4775248B80FB57)
    Path(f"{prefix}.index").write_bytes(index + footer)


@pytest.fixture
def tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "conv2d/kernel": rng.standard_normal((7, 38, 1, 4)).astype(np.float32),
        "conv2d/bias": rng.standard_normal(4).astype(np.float32),
        "conv2d/kernel/Adam": rng.standard_normal((7, 38, 1, 4)).astype(np.float32),
        "global_step": np.array(1234, dtype=np.int32),
        "half": rng.standard_normal((3, 2)).astype(np.float16),
    }


@pytest.mark.parametrize("basename", ["model.ckpt-10", ""])
@pytest.mark.parametrize("verify", [False, True])
def test_round_trip(tmp_path, tensors, basename, verify):
    write_checkpoint(f"{tmp_path}/{basename}", tensors)  # "" -> files named ".index"...
    for path in (tmp_path, tmp_path / f"{basename}.index"):
        out = read_tf_checkpoint(path, verify=verify)
        assert list(out) == sorted(tensors)
        for name, array in tensors.items():
            assert out[name].dtype == array.dtype
            np.testing.assert_array_equal(out[name], array)


def test_skip_optimizer_and_listing(tmp_path, tensors):
    write_checkpoint(str(tmp_path / "ckpt"), tensors)
    out = read_tf_checkpoint(tmp_path / "ckpt", skip_optimizer=True)
    assert "conv2d/kernel/Adam" not in out and "conv2d/kernel" in out
    listing = list_tf_checkpoint(tmp_path / "ckpt")
    assert listing["conv2d/kernel"] == (np.dtype("<f4"), (7, 38, 1, 4))
    assert listing["global_step"][1] == ()


@pytest.mark.parametrize(
    ("name", "slot"),
    [("dense/kernel/Adam_1", True), ("beta1_power", True), ("dense/kernel", False)],
)
def test_is_optimizer_slot(name, slot):
    assert is_optimizer_slot(name) is slot


def test_corrupt_tensor_fails_checksum(tmp_path, tensors):
    write_checkpoint(str(tmp_path / "ckpt"), tensors)
    data_path = tmp_path / "ckpt.data-00000-of-00001"
    raw = bytearray(data_path.read_bytes())
    raw[0] ^= 0xFF  # first tensor in sorted order: conv2d/bias
    data_path.write_bytes(bytes(raw))
    read_tf_checkpoint(tmp_path / "ckpt")  # no verification: reads garbage silently
    with pytest.raises(ModelError, match="checksum mismatch"):
        read_tf_checkpoint(tmp_path / "ckpt", verify=True)


def test_bad_magic(tmp_path, tensors):
    write_checkpoint(str(tmp_path / "ckpt"), tensors)
    index = tmp_path / "ckpt.index"
    index.write_bytes(index.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ModelError, match="bad table magic"):
        read_tf_checkpoint(tmp_path / "ckpt")


def test_truncated_data(tmp_path, tensors):
    write_checkpoint(str(tmp_path / "ckpt"), tensors)
    data_path = tmp_path / "ckpt.data-00000-of-00001"
    data_path.write_bytes(data_path.read_bytes()[:100])
    with pytest.raises(ModelError, match="truncated"):
        read_tf_checkpoint(tmp_path / "ckpt")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ModelError, match="no TF checkpoint found"):
        read_tf_checkpoint(tmp_path / "nothing")
    with pytest.raises(ModelError, match="exactly one"):
        read_tf_checkpoint(tmp_path)
