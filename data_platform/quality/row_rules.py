"""The row rules of a dataset's contract, evaluated column-wise on every batch a raw ingest reads.

Each dataset's contract (:class:`data_platform.core.datasets.Dataset`) gives the columns'
types, nullability, the uniqueness of the key and value ranges: money in integer cents is
never negative nor absurd, totals add up, product types are known, texts have a sane length.
:func:`row_failures` evaluates them on an Arrow table and returns the failing rows with their
column, check and value, which the quarantine policy (:mod:`data_platform.quality.quarantine`)
turns into quarantine records.

Chosen: the rules are derived from the contract and run as Arrow compute kernels over whole
columns, with Python objects only for failing rows; the contract's pandera schema
(:attr:`Dataset.pandera_schema`) stays the definition of what they mean, and
``tests/test_row_rules.py`` checks on randomly broken rows that both find the same failures,
named, valued and ordered alike. Running pandera itself cost about 5 µs a row (a pandas
conversion, a failure-case table reshaped row by row); this costs well under 0.1 µs. A check
with no kernel here (a pandera ``Check`` other than the built-ins the contracts use) is not
vectorised: it runs as pandera runs it, on the column as a pandas ``Series``.

A row's failures come in pandera's order: the schema's checks across columns (the composite
key's uniqueness, then each row rule), then per column in contract order its nullability, its
uniqueness and its checks in order; each rule once per row, on the first column it fails
(a row missing two values is reported ``not_nullable`` on the first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc

from data_platform.core.datasets import Column, Dataset
from data_platform.quality.columnar import duplicated, positions, texts
from data_platform.quality.quarantine import Failure

NOT_NULLABLE = "not_nullable"
FIELD_UNIQUENESS = "field_uniqueness"
MULTIPLE_FIELDS_UNIQUENESS = "multiple_fields_uniqueness"


def row_failures(dataset: Dataset, rows: pa.Table | pd.DataFrame) -> dict[int, list[Failure]]:
    """Evaluate the contract of ``dataset`` on ``rows`` (its source columns, an Arrow table,
    or a pandas frame as the contract's pandera schema takes it) and return the failures by
    row position (0-based), rows in the order they first fail. Raises ``pyarrow.ArrowInvalid``
    when a column does not convert to the contract's type (the readers convert values first,
    failing those that do not: :mod:`data_platform.loading.file_formats`)."""
    table = _typed(dataset, rows)
    found: dict[int, list[Failure]] = {}
    if not table.num_rows:
        return found
    seen: set[tuple[int, str]] = set()
    for failing, failure in _failures(dataset, table):
        for position, made in zip(failing.tolist(), failure, strict=True):
            # A rule is reported once per row: a check shared by several columns (a length,
            # a range, nullability) on the first of them, as the pandera screening did.
            if (position, made.rule) not in seen:
                seen.add((position, made.rule))
                found.setdefault(position, []).append(made)
    return found


def _typed(dataset: Dataset, rows: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(rows, pd.DataFrame):
        rows = pa.Table.from_pandas(rows, preserve_index=False)
    return rows.select(dataset.source_schema.names).cast(dataset.source_schema)


Found = tuple[np.ndarray, list[Failure]]


def _failures(dataset: Dataset, table: pa.Table) -> Iterator[Found]:
    """Each rule's failing positions and their failures, in pandera's order."""
    if dataset.composite_unique:
        yield _composite_key_shared(dataset, table)
    for rule in dataset.row_rules:
        values = table[rule.column]
        # pandera reports a row rule on the rule's column only where that value is not null.
        failing = positions(pc.and_kleene(pc.invert(rule.holds(table)), pc.is_valid(values)))
        yield _found(rule.name, rule.column, values, failing, f"fails {rule.name}")
    for column in dataset.columns:
        yield from _column_failures(column, table[column.name])


def _composite_key_shared(dataset: Dataset, table: pa.Table) -> Found:
    # Reported on the first key column that is not null, with its value; pandera lists the
    # rows column by column (those with a first key column first), which orders them.
    left = duplicated(table, dataset.key, keep=False)
    failing, made = [], []
    for column in dataset.key:
        values = table[column]
        at = positions(pc.and_(pa.array(left), pc.is_valid(values)))
        left[at] = False
        failing.append(at)
        made += [
            Failure(MULTIPLE_FIELDS_UNIQUENESS, column, v, _SHARED_KEY) for v in texts(values, at)
        ]
    return np.concatenate(failing), made


def _column_failures(column: Column, values: pa.ChunkedArray) -> Iterator[Found]:
    present = pc.invert(pc.is_null(values, nan_is_null=True))
    if not column.nullable:
        failing = positions(pc.invert(present))
        yield failing, [Failure(NOT_NULLABLE, column.name, None, "missing value")] * len(failing)
    if column.unique:
        shared = duplicated(pa.table({column.name: values}), [column.name], keep=False)
        failing = positions(pc.and_(pa.array(shared), present))
        yield _found(FIELD_UNIQUENESS, column.name, values, failing, _SHARED_KEY)
    for check in column.checks:
        name = check.error or check.name
        failing = positions(pc.and_(pc.invert(_holds(check, values)), present))
        yield _found(name, column.name, values, failing, f"fails {name}")


_SHARED_KEY = "key shared by rows with different values"


def _found(rule: str, column: str, values, failing: np.ndarray, message: str) -> Found:
    return failing, [Failure(rule, column, v, message) for v in texts(values, failing)]


def _holds(check: pandera.Check, values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Where ``values`` pass ``check`` (nulls: any value; the caller excludes them)."""
    kernel = _KERNELS.get(check.name)
    if kernel is not None:
        return kernel(values, **check.statistics)
    # Not vectorised: a check without a kernel runs as pandera runs it, on a pandas Series
    # typed as the pandera schema types it.
    series = values.to_pandas(types_mapper=_PANDAS_TYPES.get, coerce_temporal_nanoseconds=True)
    # pandera leaves the nulls out of the output (ignore_na): they pass.
    output = check(series).check_output.reindex(series.index, fill_value=True).fillna(True)
    return pa.chunked_array([pa.array(output.to_numpy(dtype=bool))])


_PANDAS_TYPES = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def _str_length(values, min_value=None, max_value=None, exact_value=None):
    length = pc.utf8_length(values)
    if exact_value is not None:
        return pc.equal(length, exact_value)
    holds = pc.less_equal(length, max_value) if max_value is not None else None
    if min_value is not None:
        at_least = pc.greater_equal(length, min_value)
        holds = at_least if holds is None else pc.and_(holds, at_least)
    return holds


# pandera's built-in checks the contracts use, as Arrow kernels of the same meaning.
_KERNELS: dict[str, Callable[..., pa.ChunkedArray]] = {
    "greater_than_or_equal_to": lambda values, min_value: pc.greater_equal(values, min_value),
    "less_than_or_equal_to": lambda values, max_value: pc.less_equal(values, max_value),
    "isin": lambda values, allowed_values: pc.is_in(values, pa.array(list(allowed_values))),
    "str_length": _str_length,
}
