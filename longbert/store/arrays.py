"""Lossless compression of numpy arrays for the attention-map table.

Arrays are stored with their exact dtype and shape, so what is read back equals what was stored
bit for bit: float32 summaries stay float32, float16 full maps stay float16. Before zlib, the
bytes of each array are *shuffled* (all first bytes of every element, then all second bytes...),
as Blosc and HDF5 do: neighbouring attention weights share exponents, so the shuffled stream has
long runs that deflate compresses far better than the interleaved one. The shuffle is a pure
permutation, hence lossless.

A packed map is ``(meta, payload)``: ``meta`` is JSON-able (``[{"name", "dtype", "shape"}]``,
queryable without decompressing) and ``payload`` one zlib stream of the arrays' shuffled bytes in
``meta`` order.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from longbert.errors import StoreError

#: Name of the only codec so far, stored with every map so that a later one can be added.
CODEC = "zlib-shuffle-1"

# Numeric kinds only: bool, signed/unsigned int, float, complex. Object or string arrays cannot
# be stored bit-exactly as raw bytes.
_NUMERIC_KINDS = frozenset("biufc")


def _shuffle(array: np.ndarray) -> bytes:
    """Group byte ``k`` of every element together (``[n * itemsize]`` → same length)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    size = flat.dtype.itemsize
    if size == 1:
        return flat.tobytes()
    return flat.view(np.uint8).reshape(-1, size).T.tobytes()


def _unshuffle(data: bytes, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_shuffle`; returns a fresh, writable array."""
    size = dtype.itemsize
    raw = np.frombuffer(data, dtype=np.uint8)
    if size > 1:
        raw = raw.reshape(size, -1).T
    return np.ascontiguousarray(raw).reshape(-1).view(dtype).reshape(shape).copy()


def pack_arrays(arrays: Mapping[str, np.ndarray], level: int = 6) -> tuple[list[dict[str, Any]], bytes]:
    """Compress named arrays into ``(meta, payload)``.

    Args:
        arrays: name → numeric numpy array (any shape, any numeric dtype).
        level: zlib level (1 fast … 9 small).

    Raises:
        StoreError: an array is not numeric (object, string...) and so cannot be stored exactly.
    """
    meta: list[dict[str, Any]] = []
    compressor = zlib.compressobj(level)
    chunks: list[bytes] = []
    for name, value in arrays.items():
        array = np.asarray(value)
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise StoreError(
                f"Attention array '{name}' has dtype {array.dtype}: only numeric arrays can be "
                "stored. This is a bug in the code that built the attention map."
            )
        meta.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape)})
        chunks.append(compressor.compress(_shuffle(array)))
    chunks.append(compressor.flush())
    return meta, b"".join(chunks)


def unpack_arrays(meta: list[dict[str, Any]], payload: bytes, codec: str = CODEC) -> dict[str, np.ndarray]:
    """Decompress ``(meta, payload)`` back into the named arrays, bit-exact.

    Raises:
        StoreError: unknown codec, or a payload that does not match its metadata (corruption).
    """
    if codec != CODEC:
        raise StoreError(
            f"Attention map stored with codec '{codec}', which this LongBERT cannot read: upgrade LongBERT."
        )
    try:
        data = zlib.decompress(payload)
    except zlib.error as error:
        raise StoreError(f"A stored attention map is corrupt (zlib: {error}).") from error
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for entry in meta:
        dtype = np.dtype(entry["dtype"])
        shape = tuple(int(n) for n in entry["shape"])
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset + nbytes > len(data):
            raise StoreError("A stored attention map is corrupt (payload shorter than its shapes).")
        arrays[entry["name"]] = _unshuffle(data[offset : offset + nbytes], dtype, shape)
        offset += nbytes
    if offset != len(data):
        raise StoreError("A stored attention map is corrupt (payload longer than its shapes).")
    return arrays
