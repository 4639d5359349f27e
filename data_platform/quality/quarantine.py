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

How it runs (chosen for throughput, the outcome unchanged): every rule is evaluated column-wise
on the batch's Arrow table with Arrow compute kernels (:mod:`data_platform.quality.columnar`,
:mod:`data_platform.quality.row_rules`): nulls, ranges, lengths, duplicates, references and
keys elsewhere are masks over whole columns, and only the failing rows (normally a tiny share)
become Python objects (:class:`Failure`, records, JSON of the originals). Exact copies are
looked for among rows sharing a key only. Before, the batch went through pandas, pandera and
per-row Python loops. Measured by ``bench/raw_path.py`` (3 million orders, 0.6 % quarantined,
two shared cores): screening 111,000 rows/s before, 625,000 after, of which the rules alone
1.06 million and the warehouse look-ups the rest. The failures, their order,
values and messages are those of the pandera screening (``tests/test_row_rules.py`` holds
the rules to the contracts' pandera schemas); what still loops in Python per row is the
quarantined rows' records, and the rows of a held-back partition, which all become records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_platform.core.datasets import PARTITION_COLUMN, Dataset
from data_platform.core.settings import DEFAULT_QUARANTINE_MAX_PERCENT
from data_platform.quality.columnar import duplicated, is_missing, positions, texts

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


RowRules = Callable[[pa.Table], dict[int, list[Failure]]]
"""``row_rules(rows)``: the contract's failures of ``rows`` (the source columns, no lineage
columns) by row position, e.g. :func:`data_platform.quality.row_rules.row_failures`."""

Keys = frozenset[str] | pa.Array
"""The keys of a dimension as text: a set, or an Arrow string array (built once, reused)."""


@dataclass(frozen=True)
class Context:
    """What the rules need beyond the rows: the contract's row rules, the keys of the
    dimensions referenced (``None`` when not loaded yet: the rule is then skipped), keys already
    loaded in other partitions, the quarantine limit, and the load's time and run."""

    row_rules: RowRules
    references: dict[str, tuple[str, Keys | None]] = field(default_factory=dict)
    keys_elsewhere: dict[str, dt.date] = field(default_factory=dict)
    max_percent: float = DEFAULT_QUARANTINE_MAX_PERCENT
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    run_id: str = ""


def screen(dataset: Dataset, batch: Batch, context: Context) -> Screening:
    """Apply the quarantine policy to ``batch``; pure (the warehouse's keys come in
    ``context``). Column-wise over the whole batch; Python objects are made for the
    quarantined rows only (the module docstring)."""
    rows = batch.rows
    source = (
        rows.drop_columns([PARTITION_COLUMN]) if PARTITION_COLUMN in rows.column_names else rows
    )
    failures: dict[int, list[Failure]] = {i: list(f) for i, f in batch.failures.items()}
    candidates = _positions_without(rows.num_rows, failures)
    candidate_rows = source if len(candidates) == rows.num_rows else source.take(candidates)

    still_ok = _duplicates(dataset, source, candidates, candidate_rows, failures)
    still_rows = candidate_rows if len(still_ok) == len(candidates) else source.take(still_ok)
    for position, found in context.row_rules(still_rows).items():
        failures.setdefault(int(still_ok[position]), []).extend(found)
    _outside_partition(dataset, rows, failures)
    _references(source, context, failures)
    _keys_elsewhere(dataset, source, context, failures)

    result = Screening(clean=rows.slice(0, 0), quarantine=QUARANTINE_SCHEMA.empty_table())
    for partition in batch.partitions:
        result.read[partition] += 0
    for partition, read in _rows_per_partition(dataset, rows):
        result.read[partition] += read
    partitions = _partitions_at(dataset, rows, list(failures))
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

    held = _in_partitions(dataset, rows, list(result.held_back))
    held = [i for i in held.tolist() if i not in failures]
    partitions.update(_partitions_at(dataset, rows, held))
    for index in held:
        failures[index] = [Failure(HELD_BACK, None, None, result.held_back[partitions[index]])]
    for found in failures.values():
        result.failures_by_rule.update(f"{f.column or '*'}: {f.rule}" for f in found)
    result.quarantined.update(partitions[i] for i in failures)

    result.clean = rows
    if failures:
        keep = np.ones(rows.num_rows, dtype=bool)
        keep[list(failures)] = False
        result.clean = rows.filter(pa.array(keep))
    result.quarantine = _records(dataset, batch, source, partitions, failures, context)
    result.sample = _sample(result.quarantine)
    return result


def _label(dataset: Dataset, partition: Partition) -> str:
    return f"raw.{dataset.name}" + (f" partition {partition}" if partition else "")


def _positions_without(count: int, failures: dict[int, list[Failure]]) -> np.ndarray:
    keep = np.ones(count, dtype=bool)
    keep[list(failures)] = False
    return np.flatnonzero(keep)


def _rows_per_partition(dataset: Dataset, rows: pa.Table) -> list[tuple[Partition, int]]:
    """Rows read per partition, partitions in the order they first appear."""
    if not rows.num_rows:
        return []
    if not dataset.partitioned:
        return [(None, rows.num_rows)]
    counts = pc.value_counts(rows[PARTITION_COLUMN])
    return list(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))


def _partitions_at(dataset: Dataset, rows: pa.Table, at: list[int]) -> dict[int, Partition]:
    if not dataset.partitioned:
        return dict.fromkeys(at)
    picked = rows[PARTITION_COLUMN].take(pa.array(at, pa.int64())).to_pylist()
    return dict(zip(at, picked, strict=True))


def _in_partitions(dataset: Dataset, rows: pa.Table, partitions: list[Partition]) -> np.ndarray:
    """Positions of the rows in any of ``partitions``."""
    if not partitions or not rows.num_rows:
        return np.zeros(0, dtype=np.int64)
    if not dataset.partitioned:
        return np.arange(rows.num_rows)
    column = rows[PARTITION_COLUMN]
    days = pa.array([p for p in partitions if p is not None], pa.date32())
    inside = pc.is_in(column, days)
    if None in partitions:
        inside = pc.or_(inside, pc.is_null(column))
    return positions(inside)


def _key_text(values: dict, key: tuple[str, ...]) -> str | None:
    parts = [values[column] for column in key]
    if any(is_missing(v) for v in parts):
        return None
    return "|".join(str(v) for v in parts)


def _duplicates(dataset, source, candidates, candidate_rows, failures) -> np.ndarray:
    """Quarantine exact copies among the candidates (the first copy stays); the candidates
    left. Copies share their key, so whole rows are compared only where a key repeats."""
    shared = np.flatnonzero(duplicated(candidate_rows, dataset.key, keep=False))
    if not len(shared):
        return candidates
    copies = shared[duplicated(candidate_rows.take(shared), source.column_names, keep="first")]
    at = candidates[copies]
    for index, values in zip(at.tolist(), source.take(at).to_pylist(), strict=True):
        failures.setdefault(index, []).append(
            Failure(
                DUPLICATE_ROW,
                dataset.key[0],
                _key_text(values, dataset.key),
                "an exact copy of an earlier row",
            )
        )
    return np.delete(candidates, copies)


def _outside_partition(dataset: Dataset, rows: pa.Table, failures) -> None:
    event_time = dataset.event_time
    if not dataset.partitioned or event_time not in rows.column_names or not rows.num_rows:
        return
    days = pc.cast(rows[event_time], pa.date32())
    partition = rows[PARTITION_COLUMN]
    # A row without a partition is outside any (as a day compared with None is unequal).
    outside = pc.and_(pc.is_valid(days), pc.fill_null(pc.not_equal(days, partition), True))
    at = np.asarray([i for i in positions(outside).tolist() if i not in failures], np.int64)
    if not len(at):
        return
    taken = pa.array(at, pa.int64())
    values = texts(rows[event_time], at)
    for index, value, day, part in zip(
        at.tolist(), values, days.take(taken).to_pylist(), partition.take(taken).to_pylist()
    ):
        failures[index] = [
            Failure(
                OUTSIDE_PARTITION,
                event_time,
                value,
                f"falls on {day}, outside the partition {part}",
            )
        ]


def _references(source: pa.Table, context: Context, failures) -> None:
    for column, (table, keys) in context.references.items():
        if keys is None or not source.num_rows:
            continue
        values = source[column]
        if not pa.types.is_string(values.type):
            values = pc.cast(values, pa.string())  # the keys are text (distinct_values)
        unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, _key_array(keys))))
        at = positions(unknown)
        for index, value in zip(at.tolist(), texts(values, at), strict=True):
            failures.setdefault(index, []).append(
                Failure(UNKNOWN_REFERENCE, column, value, f"{value} is not in {table}")
            )


def _key_array(keys: Keys) -> pa.Array:
    return keys if isinstance(keys, pa.Array) else pa.array(list(keys), pa.string())


def _keys_elsewhere(dataset: Dataset, source: pa.Table, context: Context, failures):
    if not context.keys_elsewhere or not source.num_rows:
        return
    column = dataset.key[0]
    values = source[column]
    known = pa.array(list(context.keys_elsewhere), values.type)
    at = positions(pc.is_in(values, known))
    for index, value in zip(at.tolist(), values.take(pa.array(at)).to_pylist(), strict=True):
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


def _records(dataset, batch, source, partitions, failures, context) -> pa.Table:
    loaded_at = context.loaded_at.astimezone(dt.UTC).replace(tzinfo=None)
    order = sorted(failures)
    values = source.take(pa.array(order, pa.int64())).to_pylist() if order else []
    records = []
    for index, row in zip(order, values, strict=True):
        found = failures[index]
        first = found[0]
        line = batch.lines[index]
        key = _key_text(row, dataset.key) if first.rule != "malformed_json" else None
        original = (
            batch.originals[index]
            if batch.originals is not None
            else {c: None if is_missing(v) else str(v) for c, v in row.items()}
        )
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
                "original": json.dumps(original, ensure_ascii=False),
                "loaded_at": loaded_at,
                "run_id": context.run_id,
            }
        )
    return pa.Table.from_pylist(records, schema=QUARANTINE_SCHEMA)


def _sample(quarantine: pa.Table) -> list[dict]:
    columns = ["source", "source_row", "row_key", "column_name", "rule", "value", "message"]
    return quarantine.select(columns).slice(0, SAMPLE_SIZE).to_pylist()
