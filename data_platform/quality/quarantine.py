"""Row-level quarantine: which rows of a batch load, which are held back, and why.

The policy (the platform's, applied to every raw ingest by :func:`screen`):

- A row that breaks a rule of its own is quarantined and the others go on: a value that does
  not read or convert, a missing key, money out of range, a total that does not add up, an
  unknown product type, an event outside its file's day, a too-long text (each dataset's
  contract, :mod:`data_platform.core.datasets`, run by :mod:`data_platform.quality.row_rules`,
  and the readers in :mod:`data_platform.loading.file_formats`).
- Duplicates: exact copies of a row are loaded once, the later copies quarantined
  (``duplicate_row``); rows sharing a key with different values are all quarantined
  (``field_uniqueness``): no copy is known to be right. A key already loaded in another
  partition is quarantined in the new one (``key_in_other_partition``).
- A row pointing at a dimension loaded in full that lacks the key (an order's store, an item's
  product) is quarantined (``unknown_reference``).
- Per partition (a day, or the whole of an unpartitioned dataset): when the share of
  quarantined rows is above the limit (``DATA_PLATFORM_QUARANTINE_MAX_PERCENT``, default 10),
  when a file of it is unusable (missing column, broken quoting), or when it would empty a
  dataset replaced in full, the partition is *held back*: none of its rows load (the
  warehouse keeps what it had), all go to quarantine (clean ones with ``partition_held_back``),
  and the blocking contract check fails, so nothing downstream runs.

Every row read ends in exactly one place, the raw table or the quarantine, so ``rows read =
rows loaded + rows quarantined`` (the ``conservation`` check measures it in the warehouse).

A quarantine record (:data:`QUARANTINE_SCHEMA`, table ``quarantine.<dataset>``, lake zone
``quarantine/``): the partition, the source (file or table), the line in the file or the row's
key, the first failed rule with its column, value and a readable message, every failure as
JSON, the original values as JSON (text as read), the load time (UTC) and the run id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_platform.core.datasets import PARTITION_COLUMN, Dataset
from data_platform.core.settings import DEFAULT_QUARANTINE_MAX_PERCENT

QUARANTINE_SCHEMA_NAME = "quarantine"
SAMPLE_SIZE = 5

DUPLICATE_ROW = "duplicate_row"
KEY_IN_OTHER_PARTITION = "key_in_other_partition"
UNKNOWN_REFERENCE = "unknown_reference"
OUTSIDE_PARTITION = "outside_partition"
HELD_BACK = "partition_held_back"

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field(PARTITION_COLUMN, pa.date32()),  # null for unpartitioned datasets
        pa.field("source", pa.string()),
        pa.field("source_row", pa.int64()),  # 1-based line in the file; null for a table
        pa.field("row_key", pa.string()),
        pa.field("rule", pa.string()),
        pa.field("column_name", pa.string()),
        pa.field("value", pa.string()),
        pa.field("message", pa.string()),
        pa.field("failures", pa.string()),  # JSON list of {rule, column, value, message}
        pa.field("original", pa.string()),  # JSON object of the row as read
        pa.field("loaded_at", pa.timestamp("us")),  # UTC
        pa.field("run_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class Failure:
    """One broken rule of one row: the rule's name, the column (if one), the value as text,
    and an explanation."""

    rule: str
    column: str | None
    value: str | None
    message: str | None = None

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }


Partition = dt.date | None


@dataclass
class Batch:
    """Rows read for some partitions, typed to the dataset's schema, with their provenance.

    ``failures`` holds what went wrong while reading (by row index); ``originals`` the rows'
    values as read (text), when they differ from the typed ones; ``held_back`` partitions that
    must not load whatever their rows say (an unusable file), with the reason; ``partitions``
    every partition the batch stands for, also those without rows (``[None]`` when
    unpartitioned).
    """

    rows: pa.Table
    sources: list[str]
    lines: list[int | None]
    partitions: list[Partition]
    failures: dict[int, list[Failure]] = field(default_factory=dict)
    originals: list[dict] | None = None
    held_back: dict[Partition, str] = field(default_factory=dict)


@dataclass
class Screening:
    """The outcome of :func:`screen`: rows to load, quarantine records, counts and reasons."""

    clean: pa.Table
    quarantine: pa.Table
    read: Counter = field(default_factory=Counter)  # rows read per partition
    quarantined: Counter = field(default_factory=Counter)  # rows quarantined per partition
    held_back: dict[Partition, str] = field(default_factory=dict)
    failures_by_rule: Counter = field(default_factory=Counter)  # "column: rule" -> failures
    sample: list[dict] = field(default_factory=list)

    @property
    def loaded_partitions(self) -> list[Partition]:
        """Every partition of the batch that is not held back (also those without rows)."""
        return [p for p in self.read if p not in self.held_back]


RowRules = Callable[[pd.DataFrame], dict[int, list[Failure]]]


@dataclass(frozen=True)
class Context:
    """What the rules need beyond the rows: the pandera row rules, the keys of the dimensions
    referenced (``None`` when not loaded yet: the rule is then skipped), keys already loaded in
    other partitions, the quarantine limit, and the load's time and run."""

    row_rules: RowRules
    references: dict[str, tuple[str, frozenset[str] | None]] = field(default_factory=dict)
    keys_elsewhere: dict[str, dt.date] = field(default_factory=dict)
    max_percent: float = DEFAULT_QUARANTINE_MAX_PERCENT
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    run_id: str = ""


def screen(dataset: Dataset, batch: Batch, context: Context) -> Screening:
    """Apply the quarantine policy to ``batch``; pure (the warehouse's keys come in
    ``context``)."""
    rows = batch.rows
    failures: dict[int, list[Failure]] = {i: list(f) for i, f in batch.failures.items()}
    frame = _frame(rows)
    candidates = frame.loc[[i for i in range(len(frame)) if i not in failures]]

    _duplicates(dataset, candidates, failures)
    still_ok = candidates.loc[[i for i in candidates.index if i not in failures]]
    for index, found in context.row_rules(still_ok).items():
        failures.setdefault(index, []).extend(found)
    _outside_partition(dataset, rows, failures)
    _references(frame, context, failures)
    _keys_elsewhere(dataset, frame, context, failures)

    partitions = _partition_of_rows(dataset, rows)
    result = Screening(clean=rows.slice(0, 0), quarantine=QUARANTINE_SCHEMA.empty_table())
    for partition in batch.partitions:
        result.read[partition] += 0
    for partition in partitions:
        result.read[partition] += 1
    failed_per_partition = Counter(partitions[i] for i in failures)
    for partition, read in result.read.items():
        reason = batch.held_back.get(partition)
        share = 100 * failed_per_partition[partition] / read if read else 0.0
        if reason is None and share > context.max_percent:
            reason = (
                f"{failed_per_partition[partition]} of {read} rows ({share:.1f} %) quarantined, "
                f"above the {context.max_percent:g} % limit"
            )
        if reason is None and not dataset.partitioned and read == failed_per_partition[partition]:
            reason = f"raw.{dataset.name} is replaced in full and would be left empty"
        if reason is not None:
            result.held_back[partition] = f"{_label(dataset, partition)}: {reason}; not loaded"

    for index in range(rows.num_rows):
        if index not in failures and partitions[index] in result.held_back:
            failures[index] = [Failure(HELD_BACK, None, None, result.held_back[partitions[index]])]
    for found in failures.values():
        result.failures_by_rule.update(f"{f.column or '*'}: {f.rule}" for f in found)
    result.quarantined.update(partitions[i] for i in failures)

    keep = [i not in failures for i in range(rows.num_rows)]
    result.clean = rows.filter(pa.array(keep, pa.bool_())) if rows.num_rows else rows
    result.quarantine = _records(dataset, batch, frame, partitions, failures, context)
    result.sample = _sample(result.quarantine)
    return result


def _label(dataset: Dataset, partition: Partition) -> str:
    return f"raw.{dataset.name}" + (f" partition {partition}" if partition else "")


def _frame(rows: pa.Table) -> pd.DataFrame:
    source = (
        rows.drop_columns([PARTITION_COLUMN]) if PARTITION_COLUMN in rows.column_names else rows
    )
    return source.to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get,
        coerce_temporal_nanoseconds=True,
    )


def _partition_of_rows(dataset: Dataset, rows: pa.Table) -> list[Partition]:
    if not dataset.partitioned:
        return [None] * rows.num_rows
    return rows[PARTITION_COLUMN].to_pylist()


def _key_text(frame: pd.DataFrame, index: int, key: tuple[str, ...]) -> str | None:
    values = [frame.at[index, column] for column in key]
    if any(pd.isna(v) for v in values):
        return None
    return "|".join(str(v) for v in values)


def _duplicates(dataset: Dataset, frame: pd.DataFrame, failures) -> None:
    if frame.empty:
        return
    for index in frame.index[frame.duplicated(keep="first")]:
        key = _key_text(frame, index, dataset.key)
        failures.setdefault(index, []).append(
            Failure(DUPLICATE_ROW, dataset.key[0], key, "an exact copy of an earlier row")
        )


def _outside_partition(dataset: Dataset, rows: pa.Table, failures) -> None:
    event_time = dataset.event_time
    if not dataset.partitioned or event_time not in rows.column_names or not rows.num_rows:
        return
    days = pc.cast(rows[event_time], pa.date32()).to_pylist()
    for index, (day, partition) in enumerate(zip(days, rows[PARTITION_COLUMN].to_pylist())):
        if day is not None and day != partition and index not in failures:
            failures[index] = [
                Failure(
                    OUTSIDE_PARTITION,
                    event_time,
                    str(rows[event_time][index].as_py()),
                    f"falls on {day}, outside the partition {partition}",
                )
            ]


def _references(frame: pd.DataFrame, context: Context, failures) -> None:
    for column, (table, keys) in context.references.items():
        if keys is None or frame.empty:
            continue
        values = frame[column]
        for index in frame.index[values.notna() & ~values.isin(keys)]:
            failures.setdefault(index, []).append(
                Failure(
                    UNKNOWN_REFERENCE,
                    column,
                    str(values[index]),
                    f"{values[index]!s} is not in {table}",
                )
            )


def _keys_elsewhere(dataset: Dataset, frame: pd.DataFrame, context: Context, failures):
    if not context.keys_elsewhere or frame.empty:
        return
    column = dataset.key[0]
    for index in frame.index[frame[column].isin(context.keys_elsewhere.keys())]:
        value = frame.at[index, column]
        failures.setdefault(index, []).append(
            Failure(
                KEY_IN_OTHER_PARTITION,
                column,
                str(value),
                f"already loaded in partition {context.keys_elsewhere[value]}",
            )
        )


def describe(source: str, line: int | None, key: str | None, failure: Failure) -> str:
    """``<file> line <n>, column <c>: <what>``: the message an operator reads."""
    where = f"line {line}" if line is not None else (f"key {key}" if key else "row")
    column = f", column {failure.column}" if failure.column else ""
    what = failure.message or failure.rule
    if failure.value is not None and failure.value not in what:
        what += f" (value {failure.value!r})"
    return f"{source} {where}{column}: {what} [{failure.rule}]"


def _original(batch: Batch, frame: pd.DataFrame, index: int) -> str:
    if batch.originals is not None:
        values = batch.originals[index]
    else:
        values = {c: None if pd.isna(v) else str(v) for c, v in frame.loc[index].items()}
    return json.dumps(values, ensure_ascii=False)


def _records(dataset, batch, frame, partitions, failures, context) -> pa.Table:
    loaded_at = context.loaded_at.astimezone(dt.UTC).replace(tzinfo=None)
    records = []
    for index in sorted(failures):
        found = failures[index]
        first = found[0]
        line = batch.lines[index]
        key = _key_text(frame, index, dataset.key) if first.rule != "malformed_json" else None
        records.append(
            {
                PARTITION_COLUMN: partitions[index],
                "source": batch.sources[index],
                "source_row": line,
                "row_key": key,
                "rule": first.rule,
                "column_name": first.column,
                "value": first.value,
                "message": describe(batch.sources[index], line, key, first),
                "failures": json.dumps([f.as_dict() for f in found], ensure_ascii=False),
                "original": _original(batch, frame, index),
                "loaded_at": loaded_at,
                "run_id": context.run_id,
            }
        )
    return pa.Table.from_pylist(records, schema=QUARANTINE_SCHEMA)


def _sample(quarantine: pa.Table) -> list[dict]:
    columns = ["source", "source_row", "row_key", "column_name", "rule", "value", "message"]
    return quarantine.select(columns).slice(0, SAMPLE_SIZE).to_pylist()
