"""The row rules of a dataset's contract, run with pandera on every batch a raw ingest reads.

Each dataset's contract (:class:`data_platform.core.datasets.Dataset`) gives the columns'
types, nullability, the uniqueness of the key and value ranges: money in integer cents is
never negative nor absurd, totals add up, product types are known, texts have a sane length.
:func:`row_failures` runs its pandera schema and returns the failing rows with their column,
check and value, which the quarantine policy (:mod:`data_platform.quality.quarantine`) turns
into quarantine records.
"""

from __future__ import annotations

import pandas as pd
from pandera.errors import SchemaErrors

from data_platform.core.datasets import Dataset
from data_platform.quality.quarantine import Failure


def row_failures(dataset: Dataset, frame: pd.DataFrame) -> dict[int, list[Failure]]:
    """Run the contract of ``dataset`` on ``frame`` (typed rows, no lineage columns) and return
    the failures by row index (``frame``'s index). A failure that names no row (a column of
    the wrong type) is charged to every row: none of them can be trusted."""
    try:
        dataset.pandera_schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        return _by_row(errors.failure_cases, frame.index, dataset.rule_columns)
    return {}


def _by_row(cases: pd.DataFrame, index: pd.Index, rule_columns: dict[str, str]):
    found: dict[int, list[Failure]] = {}
    seen: set[tuple[int, str]] = set()
    for case in cases.itertuples():
        check = str(case.check)
        column = rule_columns.get(check, case.column)
        if column != case.column and not _is_missing(case.index):
            continue  # a dataframe check reports every column of a row: keep its own column
        value = None if _is_missing(case.failure_case) else str(case.failure_case)
        rows = index if _is_missing(case.index) else [int(case.index)]
        for row in rows:
            if (row, check) in seen:
                continue  # a dataframe check reports each of its columns; keep one
            seen.add((row, check))
            found.setdefault(row, []).append(Failure(check, column, value, _explain(check)))
    return found


def _is_missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _explain(check: str) -> str:
    if check == "not_nullable":
        return "missing value"
    if check in ("field_uniqueness", "multiple_fields_uniqueness"):
        return "key shared by rows with different values"
    return f"fails {check}"
