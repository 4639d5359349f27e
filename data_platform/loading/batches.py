"""Batches: the rows a raw ingest read, typed to its dataset's schema, with where each came from.

Built from a database table (:func:`table_batch`), from parsed landing files
(:func:`files_batch`), or standing for partitions that cannot be read at all
(:func:`held_back_batch`). The loader screens and writes them.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from data_platform.core.datasets import PARTITION_COLUMN, Dataset
from data_platform.loading.file_formats import ParsedFile, to_typed
from data_platform.quality.quarantine import Batch, Partition
from data_platform.quality.raw_checks import SchemaReport


def table_batch(
    dataset: Dataset, rows: pa.Table, source: str, partitions: list[dt.date] | None = None
) -> Batch:
    """A batch of rows of a database table (no line numbers, values as typed) standing for
    ``partitions`` (``None``: the whole unpartitioned dataset)."""
    rows = rows.cast(dataset.schema)
    n = rows.num_rows
    return Batch(rows, [source] * n, [None] * n, partitions or [None])


def held_back_batch(
    dataset: Dataset, reason: str, partitions: list[dt.date] | None = None
) -> Batch:
    """A batch without rows whose ``partitions`` (``None``: the whole dataset) are held back
    for ``reason``, as when the source cannot be read at all."""
    partitions = partitions or [None]
    held_back = dict.fromkeys(partitions, reason)
    return Batch(dataset.schema.empty_table(), [], [], partitions, held_back=held_back)


def files_batch(
    dataset: Dataset, files: list[tuple[ParsedFile, Partition]], partitions: list[Partition]
) -> tuple[Batch, list[SchemaReport]]:
    """The batch of rows of parsed landing files (each with its partition, ``None`` when
    unpartitioned), standing for ``partitions``; and each file's schema report."""
    schema = dataset.source_schema
    tables, sources, lines, originals, failures, held_back, reports = [], [], [], [], {}, {}, []
    for parsed, partition in files:
        typed, type_failures = to_typed(parsed.records, schema)
        offset = len(sources)
        for index in range(typed.num_rows):
            found = parsed.failures.get(index, []) + type_failures.get(index, [])
            if found:
                failures[offset + index] = found
        if dataset.partitioned:
            days = pa.array([partition] * typed.num_rows, pa.date32())
            typed = typed.append_column(PARTITION_COLUMN, days)
        tables.append(typed)
        sources += [parsed.path] * typed.num_rows
        lines += parsed.lines
        originals += parsed.records
        if not parsed.usable:
            held_back[partition] = parsed.file_error
        reports.append(
            SchemaReport(
                parsed.path, parsed.added_columns, parsed.missing_columns, parsed.file_error
            )
        )
    rows = pa.concat_tables(tables) if tables else dataset.schema.empty_table()
    batch = Batch(
        rows.cast(dataset.schema), sources, lines, partitions, failures, originals, held_back
    )
    return batch, reports
