"""Vectorised helpers over Arrow tables, shared by the quarantine policy and the row rules.

Rows are addressed by position (0-based, in table order). Values compare as pandas compares
them when it looks for duplicates: nulls are equal to each other, a float ``NaN`` is a null and
``-0.0`` equals ``0.0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Codes of combined columns are renumbered before their product could pass this.
_CODE_LIMIT = 2**62


def positions(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The positions where ``mask`` is true (a null is not true), ascending, as ``int64``."""
    return np.asarray(pc.indices_nonzero(mask), dtype=np.int64)


def row_codes(table: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """One ``int64`` per row, equal for two rows exactly when their values in ``columns`` are
    equal (module docstring); codes are small (below the row count) but otherwise arbitrary."""
    codes = np.zeros(table.num_rows, dtype=np.int64)
    for column in columns:
        encoded = pc.dictionary_encode(_comparable(table[column]), null_encoding="encode")
        width = len(encoded.dictionary)
        if width and int(codes.max(initial=0)) >= _CODE_LIMIT // width:
            codes = np.unique(codes, return_inverse=True)[1].astype(np.int64)
        codes = codes * width + encoded.indices.to_numpy(zero_copy_only=False)
    if len(columns) > 1:
        codes = np.unique(codes, return_inverse=True)[1].astype(np.int64)
    return codes


def duplicated(
    table: pa.Table, columns: Sequence[str], keep: Literal["first", False]
) -> np.ndarray:
    """Which rows repeat the values of another row in ``columns``, as pandas'
    ``DataFrame.duplicated``: with ``keep="first"`` every copy but the first, with
    ``keep=False`` every row of a group of two or more. A boolean array, one per row."""
    codes = row_codes(table, columns)
    if keep is False:
        return np.bincount(codes)[codes] > 1 if len(codes) else np.zeros(0, dtype=bool)
    first = np.zeros(len(codes), dtype=bool)
    first[np.unique(codes, return_index=True)[1]] = True
    return ~first


def texts(values: pa.Array | pa.ChunkedArray, at: np.ndarray) -> list[str | None]:
    """The values at positions ``at`` as text (``str`` of the Python value), ``None`` for a
    null or a float ``NaN``."""
    picked = values.take(pa.array(at, pa.int64())).to_pylist()
    return [None if is_missing(v) else str(v) for v in picked]


def is_missing(value: object) -> bool:
    """Whether a Python value read from Arrow is missing: ``None``, or a float ``NaN``."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _comparable(values: pa.ChunkedArray) -> pa.Array:
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_floating(values.type):
        # NaN as null, -0.0 as 0.0 (adding 0.0 turns one into the other), as pandas compares.
        values = pc.if_else(pc.is_nan(values), pa.scalar(None, values.type), pc.add(values, 0.0))
    return values
