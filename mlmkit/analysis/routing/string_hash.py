"""Vectorised string keys for `mlmkit.analysis.routing.assign` (private).

The key of a string is ``sum((byte_j + 1) * P**j) mod 2**64`` over its UTF-8 bytes (see the
routing module docstring; the values are pinned by golden tests and must never change). It is
split as ``sum(byte_j * P**j) + S[L]`` with ``S[L] = sum(P**j for j < L)``, so a string padded
with zero bytes on the right has the same byte sum: many strings form a zero-padded
``(width x rows)`` byte matrix and the sum is a Horner loop over its rows
(``h = h * P + column``), one vectorised multiply-add per byte position.

Polars keeps strings as Arrow *string views* (16 bytes per row: the length, then for strings
of at most 12 bytes the bytes themselves inline, else a prefix, a buffer index and an offset).
``Series.to_arrow(compat_level=newest)`` exposes them without a copy, so short ids are hashed
straight from the views buffer; longer ones are gathered from the data buffers, sorted by
length so that one long outlier does not widen the padding of the others.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

_PRIME = np.uint64(0x100000001B3)
_INLINE = 12  # Arrow string views keep strings of <= 12 bytes inside the 16-byte view
_CHUNK = 1 << 15  # rows per block: the byte matrix and the uint64 accumulators stay in cache
_COLS = np.arange(_INLINE, dtype=np.int32)[:, None]


def _prefix_sums(length: int) -> NDArray[np.uint64]:
    """``S[L] = sum(P**j for j < L)`` for ``L <= length`` (wrapping uint64)."""
    powers = np.empty(length, dtype=np.uint64)
    w = 1
    for i in range(length):
        powers[i] = w
        w = (w * 0x100000001B3) & ((1 << 64) - 1)
    sums = np.zeros(length + 1, dtype=np.uint64)
    np.cumsum(powers, out=sums[1:])
    return sums


_SUMS: list[NDArray[np.uint64]] = [_prefix_sums(64)]


def _sums(length: int) -> NDArray[np.uint64]:
    if _SUMS[0].shape[0] <= length:
        _SUMS[0] = _prefix_sums(1 << int(length).bit_length())
    return _SUMS[0]


def _horner(matrix: NDArray[np.uint8], out: NDArray[np.uint64]) -> None:
    """``out = sum(matrix[j] * P**j)`` over the rows of a C-contiguous ``(width, n)`` matrix."""
    out[:] = matrix[-1]
    for j in range(matrix.shape[0] - 2, -1, -1):
        np.multiply(out, _PRIME, out=out)
        np.add(out, matrix[j], out=out, casting="unsafe")


def _inline_keys(views: NDArray[np.uint8], lengths: NDArray[np.int32],
                 out: NDArray[np.uint64]) -> None:
    """Keys of rows whose bytes are inline in their view (wrong, to be overwritten, if > 12)."""
    sums = _sums(_INLINE)
    for lo in range(0, views.shape[0], _CHUNK):
        hi = min(views.shape[0], lo + _CHUNK)
        lens = lengths[lo:hi]
        width = min(_INLINE, int(lens.max()))
        if int(lens.min()) > _INLINE:  # no inline row in this block
            continue
        if width == 0:
            out[lo:hi] = 0
            continue
        # bytes 4..16 of a view; zero beyond each length (Arrow pads with zeros; be safe)
        matrix = np.ascontiguousarray(views[lo:hi, 4:4 + width].T)
        np.multiply(matrix, _COLS[:width] < lens, out=matrix)
        _horner(matrix, out[lo:hi])
        out[lo:hi] += sums[np.minimum(lens, _INLINE)]


def _gathered_keys(data: NDArray[np.uint8], starts: NDArray[np.int64],
                   lengths: NDArray[np.int64]) -> NDArray[np.uint64]:
    """Keys of strings ``data[starts[i]:starts[i] + lengths[i]]`` (any lengths)."""
    keys = np.zeros(starts.shape[0], dtype=np.uint64)
    order = np.argsort(lengths, kind="stable")  # similar widths share a block
    sums = _sums(int(lengths.max()) if lengths.size else 0)
    for lo in range(0, order.shape[0], _CHUNK):
        rows = order[lo:lo + _CHUNK]
        lens = lengths[rows]
        width = int(lens[-1])
        if width == 0:
            continue
        cols = np.arange(width, dtype=np.int64)[:, None]
        index = starts[rows] + cols
        valid = cols < lens
        np.minimum(index, data.shape[0] - 1, out=index)  # padding reads a valid byte ...
        matrix = data[index]
        matrix *= valid  # ... then zeroes it
        block = np.empty(rows.shape[0], dtype=np.uint64)
        _horner(matrix, block)
        block += sums[lens]
        keys[rows] = block
    return keys


def _view_chunk_keys(arrow: Any) -> NDArray[np.uint64]:
    buffers = arrow.buffers()
    n = len(arrow)
    raw = np.frombuffer(buffers[1], dtype=np.uint8).reshape(-1, 16)[arrow.offset:arrow.offset + n]
    fields = raw.view(np.int32)  # (n, 4): length, prefix, buffer index, offset
    lengths = fields[:, 0]
    keys = np.empty(n, dtype=np.uint64)
    _inline_keys(raw, lengths, keys)
    long_rows = np.flatnonzero(lengths > _INLINE)
    if long_rows.size == 0:
        return keys
    buffer_ids = fields[long_rows, 2]
    by_buffer = np.argsort(buffer_ids, kind="stable")
    long_rows, buffer_ids = long_rows[by_buffer], buffer_ids[by_buffer]
    bounds = np.flatnonzero(np.diff(buffer_ids)) + 1
    for group in np.split(np.arange(long_rows.size), bounds):
        rows = long_rows[group]
        data = np.frombuffer(buffers[2 + int(buffer_ids[group[0]])], dtype=np.uint8)
        starts = fields[rows, 3].astype(np.int64)
        keys[rows] = _gathered_keys(data, starts, lengths[rows].astype(np.int64))
    return keys


def _offset_chunk_keys(arrow: Any) -> NDArray[np.uint64]:
    arrow = arrow.cast("large_string")
    _, off_buf, data_buf = arrow.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arrow.offset:arrow.offset + len(arrow) + 1]
    if data_buf is None or offsets[-1] == offsets[0]:
        return np.zeros(len(arrow), dtype=np.uint64)
    data = np.frombuffer(data_buf, dtype=np.uint8)
    return _gathered_keys(data, offsets[:-1], np.diff(offsets))


def string_keys(series: pl.Series) -> NDArray[np.uint64]:
    """The 64-bit keys of a null-free polars String series (see the module docstring)."""
    arrow = series.to_arrow(compat_level=pl.CompatLevel.newest())
    chunks = arrow.chunks if hasattr(arrow, "chunks") else [arrow]
    parts = [_view_chunk_keys(chunk) if str(chunk.type) == "string_view"
             else _offset_chunk_keys(chunk) for chunk in chunks if len(chunk)]
    if not parts:
        return np.zeros(0, dtype=np.uint64)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
