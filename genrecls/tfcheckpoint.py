"""Read TensorFlow checkpoints with numpy only (no TensorFlow).

A TensorFlow "V2" checkpoint with prefix ``P`` is two kinds of file:

``P.index``
    A LevelDB-format sorted table ("SSTable") mapping each tensor name to a serialized
    ``BundleEntryProto`` (dtype, shape, shard id, byte offset, byte size, CRC32C). The
    empty key holds the ``BundleHeaderProto`` (number of shards, endianness).
``P.data-0000K-of-0000N``
    The raw little-endian tensor bytes, located through the index entries.

This module decodes both with the standard library and numpy: a minimal protobuf
wire-format parser, the LevelDB block format (prefix-compressed keys, restart array,
optional Snappy compression) and, optionally, the masked CRC32C checksums.
It is used to convert the pretrained musicnn models (:mod:`genrecls.models.musicnn`),
whose TF1 checkpoints are shipped in the ``musicnn`` wheel with an empty basename
(the files are literally called ``.index`` and ``.data-00000-of-00001``).

Partitioned (sliced) variables, big-endian checkpoints, and string/variant tensors are
not supported: they raise :class:`genrecls.exceptions.ModelError`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from genrecls.exceptions import ModelError

__all__ = ["is_optimizer_slot", "list_tf_checkpoint", "read_tf_checkpoint"]

#: TF ``DataType`` enum values (``types.proto``) that map onto a numpy dtype.
_NUMPY_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    8: np.dtype("<c8"),  # DT_COMPLEX64
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    18: np.dtype("<c16"),  # DT_COMPLEX128
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}
_DT_BFLOAT16 = 14

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48  # two padded BlockHandles (2 x 20 bytes) + 8-byte magic
_TRAILER_LEN = 5  # 1 byte compression type + 4 bytes masked CRC32C

_OPTIMIZER_SUFFIXES = ("Adam", "Momentum", "RMSProp", "Adagrad", "ExponentialMovingAverage")


# --------------------------------------------------------------------------------------
# CRC32C (Castagnoli), stored "masked" as in LevelDB
# --------------------------------------------------------------------------------------
def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc_table()


def _crc32c(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc32c(data: bytes, crc: int = 0) -> int:
    c = _crc32c(data, crc)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------
# Varints and protobuf wire format
# --------------------------------------------------------------------------------------
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ModelError("truncated varint in TF checkpoint index")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ModelError("varint too long in TF checkpoint index")


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Decode one serialized protobuf message into ``[(field_number, value)]``."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        value: int | bytes
        if wire_type == 0:  # varint
            value, pos = _varint(buf, pos)
        elif wire_type == 1:  # 64-bit
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire_type == 2:  # length-delimited
            length, pos = _varint(buf, pos)
            value = bytes(buf[pos : pos + length])
            pos += length
        elif wire_type == 5:  # 32-bit
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ModelError(f"unsupported protobuf wire type {wire_type} in TF checkpoint")
        fields.append((number, value))
    return fields


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    """Decode a ``TensorShapeProto`` (``repeated Dim dim = 2``; ``Dim.size = 1``)."""
    dims = []
    for number, value in _proto_fields(buf):
        if number == 2:
            size = 0
            for sub_number, sub_value in _proto_fields(value):  # type: ignore[arg-type]
                if sub_number == 1:
                    size = _int64(sub_value)  # type: ignore[arg-type]
            dims.append(size)
        elif number == 3 and value:
            raise ModelError("TF checkpoint tensor has unknown rank")
    return tuple(dims)


class _Entry:
    """One decoded ``BundleEntryProto``."""

    __slots__ = ("crc32c", "dtype", "n_slices", "offset", "shape", "shard", "size")

    def __init__(self, buf: bytes) -> None:
        self.dtype = 0
        self.shape: tuple[int, ...] = ()
        self.shard = 0
        self.offset = 0
        self.size = 0
        self.crc32c: int | None = None
        self.n_slices = 0
        for number, value in _proto_fields(buf):
            if number == 1:
                self.dtype = value
            elif number == 2:
                self.shape = _parse_shape(value)  # type: ignore[arg-type]
            elif number == 3:
                self.shard = value
            elif number == 4:
                self.offset = _int64(value)  # type: ignore[arg-type]
            elif number == 5:
                self.size = _int64(value)  # type: ignore[arg-type]
            elif number == 6:
                self.crc32c = value  # type: ignore[assignment]
            elif number == 7:
                self.n_slices += 1


# --------------------------------------------------------------------------------------
# Snappy (raw block format), for completeness: TF writes uncompressed index blocks
# --------------------------------------------------------------------------------------
def _snappy_decompress(src: bytes) -> bytes:
    expected, pos = _varint(src, 0)
    out = bytearray()
    while pos < len(src):
        tag = src[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                n_bytes = length - 59
                length = int.from_bytes(src[pos : pos + n_bytes], "little")
                pos += n_bytes
            length += 1
            out += src[pos : pos + length]
            pos += length
            continue
        if kind == 1:
            length = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | src[pos]
            pos += 1
        elif kind == 2:
            length = (tag >> 2) + 1
            offset = int.from_bytes(src[pos : pos + 2], "little")
            pos += 2
        else:
            length = (tag >> 2) + 1
            offset = int.from_bytes(src[pos : pos + 4], "little")
            pos += 4
        if offset == 0 or offset > len(out):
            raise ModelError("corrupt Snappy block in TF checkpoint index")
        start = len(out) - offset
        for i in range(length):  # the copy may overlap its own output
            out.append(out[start + i])
    if len(out) != expected:
        raise ModelError("Snappy length mismatch in TF checkpoint index")
    return bytes(out)


# --------------------------------------------------------------------------------------
# LevelDB table
# --------------------------------------------------------------------------------------
def _read_block(data: bytes, offset: int, size: int, *, verify: bool) -> bytes:
    contents = data[offset : offset + size]
    trailer = data[offset + size : offset + size + _TRAILER_LEN]
    if len(contents) != size or len(trailer) != _TRAILER_LEN:
        raise ModelError("truncated block in TF checkpoint index")
    if verify:
        stored = struct.unpack("<I", trailer[1:])[0]
        if stored != _masked_crc32c(trailer[:1], _crc32c(contents)):
            raise ModelError(f"checksum mismatch in TF checkpoint index block at byte {offset}")
    if trailer[0] == 0:
        return contents
    if trailer[0] == 1:
        return _snappy_decompress(contents)
    raise ModelError(f"unsupported block compression {trailer[0]} in TF checkpoint index")


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise ModelError("TF checkpoint index block too short")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * n_restarts
    entries = []
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((bytes(key), bytes(block[pos : pos + value_len])))
        pos += value_len
    return entries


def _read_table(path: Path, *, verify: bool) -> list[tuple[bytes, bytes]]:
    data = path.read_bytes()
    if len(data) < _FOOTER_LEN:
        raise ModelError(f"{path} is too short to be a TF checkpoint index")
    footer = data[-_FOOTER_LEN:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise ModelError(f"{path} is not a TF checkpoint index (bad table magic)")
    pos = 0
    for _ in range(2):  # skip the metaindex handle
        _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    entries: list[tuple[bytes, bytes]] = []
    for _, handle in _block_entries(_read_block(data, index_offset, index_size, verify=verify)):
        offset, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        entries.extend(_block_entries(_read_block(data, offset, size, verify=verify)))
    return entries


# --------------------------------------------------------------------------------------
# Checkpoint
# --------------------------------------------------------------------------------------
def _resolve_prefix(path: str | Path) -> str:
    """Map a prefix, an ``.index`` path or a folder with one index file to the prefix.

    The prefix is returned as a string because its basename may be empty (musicnn).
    """
    path = Path(path)
    if path.is_dir():
        # glob("*.index") skips dotfiles, and musicnn's index is literally ".index"
        candidates = sorted({*path.glob("*.index"), *path.glob(".index")})
        if len(candidates) != 1:
            raise ModelError(
                f"{path} must hold exactly one TF checkpoint index (*.index), "
                f"found {len(candidates)}"
            )
        path = candidates[0]
    if path.name.endswith(".index") and path.is_file():
        return str(path)[: -len(".index")]
    if Path(f"{path}.index").is_file():
        return str(path)
    raise ModelError(f"no TF checkpoint found at {str(path)!r} (expected an .index file)")


def _read_index(prefix: str, *, verify: bool) -> tuple[int, dict[str, _Entry]]:
    index_path = Path(f"{prefix}.index")
    n_shards = 1
    entries: dict[str, _Entry] = {}
    for key, value in _read_table(index_path, verify=verify):
        if key == b"":  # BundleHeaderProto: num_shards = 1, endianness = 2
            for number, field in _proto_fields(value):
                if number == 1:
                    n_shards = int(field)  # type: ignore[arg-type]
                elif number == 2 and field != 0:
                    raise ModelError(f"{index_path}: big-endian checkpoints are not supported")
            continue
        entries[key.decode("utf-8")] = _Entry(value)
    return n_shards, entries


def is_optimizer_slot(name: str) -> bool:
    """Return True when a checkpoint variable is optimizer state, not a model weight.

    Parameters
    ----------
    name : str
        Variable name, e.g. ``"dense/kernel/Adam_1"`` or ``"beta1_power"``.

    Returns
    -------
    slot : bool
        True for Adam/Momentum/RMSProp/Adagrad slots and Adam's ``beta*_power`` scalars.
    """
    last = name.rsplit("/", 1)[-1]
    return last.startswith(_OPTIMIZER_SUFFIXES) or name.startswith(("beta1_power", "beta2_power"))


def list_tf_checkpoint(path: str | Path) -> dict[str, tuple[np.dtype | str, tuple[int, ...]]]:
    """List the variables of a TF checkpoint without reading their data.

    Parameters
    ----------
    path : str or pathlib.Path
        Checkpoint prefix (``"model.ckpt-1000"``), its ``.index`` file, or a folder
        holding exactly one index file.

    Returns
    -------
    variables : dict[str, tuple[np.dtype or str, tuple of int]]
        Name → (numpy dtype, or ``"dtype<N>"`` for unsupported TF types; shape).

    Raises
    ------
    genrecls.exceptions.ModelError
        If no checkpoint is found or its index is malformed.
    """
    _, entries = _read_index(_resolve_prefix(path), verify=False)
    return {
        name: (_NUMPY_DTYPES.get(e.dtype, f"dtype{e.dtype}"), e.shape)
        for name, e in entries.items()
    }


def _decode(name: str, entry: _Entry, raw: bytes) -> np.ndarray:
    if entry.dtype == _DT_BFLOAT16:  # upcast: bfloat16 is the top half of a float32
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(entry.shape).copy()
    dtype = _NUMPY_DTYPES.get(entry.dtype)
    if dtype is None:
        raise ModelError(f"{name}: TF dtype enum {entry.dtype} is not supported")
    count = int(np.prod(entry.shape, dtype=np.int64))
    if count * dtype.itemsize != len(raw):
        raise ModelError(f"{name}: {len(raw)} bytes do not hold shape {entry.shape} of {dtype}")
    return (
        np.frombuffer(raw, dtype=dtype, count=count)
        .reshape(entry.shape)
        .astype(dtype.newbyteorder("="))
    )


def read_tf_checkpoint(
    path: str | Path, *, skip_optimizer: bool = False, verify: bool = False
) -> dict[str, np.ndarray]:
    """Read every tensor of a TensorFlow (TF1/TF2 "V2" format) checkpoint.

    Parameters
    ----------
    path : str or pathlib.Path
        Checkpoint prefix (``"model.ckpt-1000"``), its ``.index`` file, or a folder
        holding exactly one index file (musicnn's checkpoint folders hold ``.index``).
    skip_optimizer : bool
        Leave out optimizer state (see :func:`is_optimizer_slot`).
    verify : bool
        Check the CRC32C of every index block and every tensor read (pure Python:
        about one second per 3 MB).

    Returns
    -------
    tensors : dict[str, np.ndarray]
        Variable name → array in native byte order, with the stored dtype and shape
        (bfloat16 is upcast to float32). Keys are in the index's (sorted) order.

    Raises
    ------
    genrecls.exceptions.ModelError
        If the checkpoint is missing, truncated, fails a checksum, or holds a tensor
        type this reader does not support (sliced, string, resource or variant).

    Examples
    --------
    >>> tensors = read_tf_checkpoint("musicnn/MSD_musicnn", skip_optimizer=True)  # doctest: +SKIP
    >>> tensors["dense/kernel"].shape  # doctest: +SKIP
    (1506, 200)
    """
    prefix = _resolve_prefix(path)
    n_shards, entries = _read_index(prefix, verify=verify)
    shards: dict[int, bytes] = {}
    tensors: dict[str, np.ndarray] = {}
    for name, entry in entries.items():
        if skip_optimizer and is_optimizer_slot(name):
            continue
        if entry.n_slices:
            raise ModelError(f"{name}: partitioned (sliced) variables are not supported")
        if entry.shard not in shards:
            shard_path = Path(f"{prefix}.data-{entry.shard:05d}-of-{n_shards:05d}")
            try:
                shards[entry.shard] = shard_path.read_bytes()
            except OSError as exc:
                raise ModelError(f"cannot read TF checkpoint data {shard_path}: {exc}") from exc
        raw = shards[entry.shard][entry.offset : entry.offset + entry.size]
        if len(raw) != entry.size:
            raise ModelError(f"{name}: TF checkpoint data file is truncated")
        if verify and entry.crc32c is not None and _masked_crc32c(raw) != entry.crc32c:
            raise ModelError(f"{name}: tensor checksum mismatch")
        tensors[name] = _decode(name, entry, raw)
    return tensors
