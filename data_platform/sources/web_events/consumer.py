"""One micro-batch of web events: from the broker's durable consumer into the warehouse and the
lake, exactly once in effect.

The order of a micro-batch, and why:

1. **Fetch** at most ``max_messages`` pending messages from the durable consumer
   (:class:`~data_platform.resources.events.EventBrokerResource`); nothing is acknowledged yet.
2. **Skip what is already in the warehouse.** A message is identified by where it came from
   (``_source``: ``nats:<stream>`` or the landing file; ``_source_row``: the stream sequence or
   the line). A message delivered again after a crash (after the warehouse write, before the
   acknowledgement) is found in ``raw.web_events`` or ``quarantine.web_events`` and skipped.
3. **Screen** the new ones (:func:`parse_messages`, then the platform's quarantine policy,
   :func:`data_platform.quality.quarantine.screen`, with the contract of
   :data:`~data_platform.sources.web_events.datasets.WEB_EVENTS`):

   - not a JSON object, bytes that are not UTF-8, a value of the wrong type, an event time
     without a time zone: quarantined with the rule, column and value;
   - ``late``: published more than the allowed lateness after its event time (the broker's
     receive time minus ``event_time``, so the verdict does not depend on when or in which
     batch the platform reads the message);
   - ``future``: an event time more than :data:`FUTURE_TOLERANCE` after its publication, or on
     a day after the run's today (UTC), which no partition holds yet;
   - ``duplicate_event``: an ``event_id`` already loaded (the producer sent the event again);
     within the batch, exact copies load once (``duplicate_row``) and differing events sharing
     an id are all quarantined (``field_uniqueness``);
   - the contract's rules: keys present, a known ``event_type``, a checkout with its order,
     a product event with its product, a known store and product.

   Nothing is held back: a stream's partition is never refused whole (the quarantine limit of
   the batch ingests does not apply); every bad message is quarantined alone.
4. **Write the warehouse in one transaction**: the accepted rows appended to
   ``raw.web_events``, the quarantined ones to ``quarantine.web_events``.
5. **Write the lake**, from the rows just committed: one Parquet file per day and batch,
   ``raw/web_events/date=<day>/batch-<batch id>.parquet`` (and the quarantine's beside it in
   ``quarantine/``). A crash between 4 and 5 leaves a batch without its lake file; the next run
   writes it from the warehouse first (:func:`reconcile_lake`).
6. **Acknowledge**, and only then. A crash before this redelivers the batch, and step 2 makes
   the redelivery load nothing twice.

The warehouse is the point of record because the duplicate checks need a transactional store;
the lake follows it and is checked against it (:func:`reconcile_lake`).

Only one consumer may run at a time: the raw asset takes the warehouse pool (one slot), and the
sensor launches a micro-batch only while none is queued or running.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from data_platform.core.datasets import PARTITION_COLUMN, Dataset
from data_platform.core.datasets import RAW_SCHEMA as RAW_ZONE
from data_platform.core.lake_layout import QUARANTINE, RAW
from data_platform.loading.file_formats import (
    ENCODING,
    MALFORMED_JSON,
    TIME_ZONE,
    json_text,
    to_typed,
)
from data_platform.quality.quarantine import (
    DUPLICATE_ROW,
    QUARANTINE_SCHEMA_NAME,
    Batch,
    Context,
    Failure,
    Screening,
    screen,
)
from data_platform.quality.row_rules import row_failures
from data_platform.resources.events import EventBrokerResource, EventMessage
from data_platform.resources.lake import LakeResource
from data_platform.resources.warehouse import Replacement, WarehouseResource
from data_platform.sources.web_events.datasets import LINEAGE_COLUMNS, RAW_SCHEMA, WEB_EVENTS

LATE = "late"
FUTURE = "future"
DUPLICATE_EVENT = "duplicate_event"
# A clock a little ahead of the broker's is tolerated; beyond this an event is from the future.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
DEFAULT_MAX_MESSAGES = 50_000


@dataclass(frozen=True)
class StreamPolicy:
    """How a micro-batch judges time: events published more than ``allowed_lateness`` after
    their event time are late; ``today`` (UTC) is the last day a partition exists for."""

    allowed_lateness: dt.timedelta
    today: dt.date
    max_messages: int = DEFAULT_MAX_MESSAGES


@dataclass
class MicroBatch:
    """What one micro-batch did: messages delivered, those skipped as already loaded, the
    screening of the others, the rows written, and the lake files written."""

    batch_id: str
    run_id: str
    loaded_at: dt.datetime  # UTC, naive, as written
    delivered: int = 0
    redelivered: int = 0
    screening: Screening | None = None
    added_fields: Counter = field(default_factory=Counter)
    lake_files: list[str] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)

    @property
    def read(self) -> int:
        return self.delivered - self.redelivered

    @property
    def loaded(self) -> int:
        return self.screening.clean.num_rows if self.screening else 0

    @property
    def quarantined(self) -> int:
        return self.screening.quarantine.num_rows if self.screening else 0


def parse_messages(
    messages: Sequence[EventMessage], policy: StreamPolicy, dataset: Dataset = WEB_EVENTS
) -> tuple[Batch, Counter]:
    """The batch of ``messages`` (pure; unit-tested): rows typed to the raw table's schema
    (payload columns, ``_partition_date`` = the event's UTC day, ``published_at``, ``_source``,
    ``_source_row``; the batch id and load time are added when written), what failed while
    reading (malformed, late, future) by row, the payload as read for every row, and a count
    of the payload fields outside the contract."""
    records: list[dict[str, str | None]] = []
    failures: dict[int, list[Failure]] = {}
    originals: list[dict] = []
    added: Counter = Counter()
    first_copy: dict[tuple, int] = {}
    names = dataset.source_schema.names
    for index, message in enumerate(messages):
        problem = None
        try:
            text = message.data.decode("utf-8")
        except UnicodeDecodeError:
            text = message.data.decode("utf-8", errors="backslashreplace")
            problem = (ENCODING, "bytes that are not UTF-8")
        originals.append({"payload": text[:10_000]})
        if problem is None:
            try:
                value = json.loads(text)
                if not isinstance(value, dict):
                    kind = type(value).__name__
                    problem = (MALFORMED_JSON, f"not a JSON object (a JSON {kind})")
            except ValueError as error:
                problem = (MALFORMED_JSON, f"not a JSON object ({error})")
        if problem is not None:
            records.append({})
            failures[index] = [Failure(problem[0], None, text[:200], problem[1])]
            continue
        added.update(k for k in value if k not in names)
        record = {name: json_text(value.get(name)) for name in names}
        # An exact copy of an earlier message (a producer's resend) loads once. Compared here,
        # on the payload: the rows' lineage columns (position, publication) always differ.
        copy_of = first_copy.setdefault(tuple(record.items()), index)
        if copy_of != index and record["event_id"] is not None:
            records.append(record)
            message = f"an exact copy of the message at position {messages[copy_of].position}"
            failures[index] = [Failure(DUPLICATE_ROW, "event_id", record["event_id"], message)]
            continue
        when = record["event_time"]
        if when is not None:
            try:
                record["event_time"] = _utc_text(when)
            except ValueError as error:
                record["event_time"] = None
                rule = TIME_ZONE if isinstance(error, _NoZone) else f"type({pa.timestamp('us')})"
                failures[index] = [Failure(rule, "event_time", when[:200], str(error))]
        records.append(record)
    typed, type_failures = to_typed(records, dataset.source_schema)
    for index, found in type_failures.items():
        failures.setdefault(index, []).extend(found)
    published = pa.array(
        [m.published_at.astimezone(dt.UTC).replace(tzinfo=None) for m in messages],
        pa.timestamp("us"),
    )
    days = pc.cast(typed["event_time"], pa.date32())
    _judge_time(typed["event_time"], published, days, policy, failures)
    rows = typed.append_column(PARTITION_COLUMN, days)
    rows = rows.append_column("published_at", published)
    rows = rows.append_column("_source", pa.array([m.source for m in messages], pa.string()))
    rows = rows.append_column("_source_row", pa.array([m.position for m in messages], pa.int64()))
    partitions = sorted({d for d in days.to_pylist() if d is not None})
    batch = Batch(
        rows=rows,
        sources=[m.source for m in messages],
        lines=[m.position for m in messages],
        partitions=partitions or [],
        failures=failures,
        originals=originals,
    )
    return batch, added


def _judge_time(event_time, published, days, policy: StreamPolicy, failures) -> None:
    """``late`` and ``future`` verdicts, for rows whose event time read."""
    lateness_us = pc.subtract(published.cast(pa.int64()), event_time.cast(pa.int64()))
    limit = int(policy.allowed_lateness.total_seconds() * 1_000_000)
    tolerance = int(FUTURE_TOLERANCE.total_seconds() * 1_000_000)
    lateness = lateness_us.to_pylist()
    for index, (late_us, day) in enumerate(zip(lateness, days.to_pylist(), strict=True)):
        if late_us is None or index in failures:
            continue
        shown = event_time[index].as_py().isoformat()
        if late_us > limit:
            minutes = late_us / 60_000_000
            message = (
                f"published {minutes:.0f} min after its event time, beyond the allowed "
                f"lateness of {policy.allowed_lateness.total_seconds() / 60:.0f} min"
            )
            failures[index] = [Failure(LATE, "event_time", shown, message)]
        elif -late_us > tolerance or day > policy.today:
            message = (
                f"{-late_us / 60_000_000:.0f} min after its publication"
                if -late_us > tolerance
                else f"on {day}, after today ({policy.today}, UTC)"
            )
            failures[index] = [Failure(FUTURE, "event_time", shown, f"from the future: {message}")]


class _NoZone(ValueError):
    pass


def _utc_text(text: str) -> str:
    """ISO 8601 with a zone -> the UTC time as zone-less ISO text; raises ``ValueError``."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise _NoZone("no time zone: web event times are UTC, e.g. 2026-12-02T10:41:07Z")
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat()


def consume(
    events: EventBrokerResource,
    warehouse: WarehouseResource,
    lake: LakeResource,
    policy: StreamPolicy,
    run_id: str,
    now: dt.datetime,
) -> MicroBatch:
    """Run one micro-batch (the module docstring's steps 1-6) and return what it did. Raises
    the broker's or the warehouse's error with nothing acknowledged: the messages are
    delivered again."""
    loaded_at = now.astimezone(dt.UTC).replace(tzinfo=None)
    batch_id = f"{loaded_at:%Y%m%dT%H%M%S%f}-{run_id[:8]}"
    result = MicroBatch(batch_id, run_id, loaded_at)
    delivery = events.fetch(policy.max_messages)
    messages = delivery.messages
    result.delivered = len(messages)
    known = known_messages(warehouse, messages)
    fresh = [m for m in messages if (m.source, m.position) not in known]
    result.redelivered = len(messages) - len(fresh)
    if fresh:
        batch, result.added_fields = parse_messages(fresh, policy)
        _already_loaded(batch, warehouse)
        context = Context(
            row_rules=lambda rows: row_failures(WEB_EVENTS, rows),
            references=_references(warehouse),
            max_percent=100,
            loaded_at=now,
            run_id=run_id,
        )
        screening = screen(WEB_EVENTS, batch, context)
        clean = _with_load_columns(screening.clean, batch_id, loaded_at)
        screening.clean = clean
        result.screening = screening
        warehouse.replace(
            Replacement(RAW_ZONE, WEB_EVENTS.name, clean, PARTITION_COLUMN, ()),
            Replacement(
                QUARANTINE_SCHEMA_NAME, WEB_EVENTS.name, screening.quarantine, PARTITION_COLUMN, ()
            ),
        )
        # The partitions that changed: those of the rows loaded (a quarantined event's day
        # may hold no partition at all: one from the future).
        result.days = sorted(set(clean[PARTITION_COLUMN].to_pylist()))
        result.lake_files = _write_lake(lake, batch_id, clean, screening.quarantine)
    delivery.ack()
    return result


def counted_in_warehouse(warehouse: WarehouseResource, batch: MicroBatch) -> tuple[int, int]:
    """Rows the warehouse holds now from ``batch``: in ``raw.web_events`` (its batch id) and in
    ``quarantine.web_events`` (its run and load time), for the conservation check."""
    counts = []
    for schema, where in (
        (RAW_ZONE, f"_batch_id = {_quoted(batch.batch_id)}"),
        (
            QUARANTINE_SCHEMA_NAME,
            (
                f"run_id = {_quoted(batch.run_id)} and loaded_at = "
                f"timestamp '{batch.loaded_at.isoformat(sep=' ')}'"
            ),
        ),
    ):
        if not warehouse.table_exists(schema, WEB_EVENTS.name):
            counts.append(0)
            continue
        rows = warehouse.query(
            f'select count(*) as n from "{schema}"."{WEB_EVENTS.name}" where {where}'
        )
        counts.append(rows[0]["n"])
    return counts[0], counts[1]


def known_messages(
    warehouse: WarehouseResource, messages: Sequence[EventMessage]
) -> set[tuple[str, int]]:
    """Which of ``messages`` (source, position) ``raw.web_events`` or ``quarantine.web_events``
    already holds: a message delivered again is never loaded twice."""
    if not messages:
        return set()
    ranges: dict[str, tuple[int, int]] = {}
    for m in messages:
        low, high = ranges.get(m.source, (m.position, m.position))
        ranges[m.source] = (min(low, m.position), max(high, m.position))
    found: set[tuple[str, int]] = set()
    for schema, source_column, row_column in (
        (RAW_ZONE, "_source", "_source_row"),
        (QUARANTINE_SCHEMA_NAME, "source", "source_row"),
    ):
        if not warehouse.table_exists(schema, WEB_EVENTS.name):
            continue
        where = " or ".join(
            f"({source_column} = {_quoted(source)} and {row_column} between {low} and {high})"
            for source, (low, high) in ranges.items()
        )
        rows = warehouse.query(
            f"select {source_column} as s, {row_column} as r "
            f'from "{schema}"."{WEB_EVENTS.name}" where {where}'
        )
        found.update((row["s"], row["r"]) for row in rows)
    return found


def _already_loaded(batch: Batch, warehouse: WarehouseResource) -> None:
    """Fail, as ``duplicate_event``, each row whose event id ``raw.web_events`` holds. A
    resent event is a copy: it has its original's event time, so only its days are looked at."""
    if not batch.partitions:
        return
    ids = batch.rows["event_id"]
    valid = pc.drop_null(ids)
    if not len(valid) or not warehouse.table_exists(RAW_ZONE, WEB_EVENTS.name):
        return
    found = warehouse.find_keys(
        RAW_ZONE,
        WEB_EVENTS.name,
        "event_id",
        valid,
        PARTITION_COLUMN,
        within=(batch.partitions[0], batch.partitions[-1]),
    )
    if not found:
        return
    for index, event_id in enumerate(ids.to_pylist()):
        if event_id in found and index not in batch.failures:
            batch.failures[index] = [
                Failure(
                    DUPLICATE_EVENT,
                    "event_id",
                    event_id,
                    f"already loaded (raw.web_events partition {found[event_id]})",
                )
            ]


def _references(warehouse: WarehouseResource) -> dict:
    """The dimension keys the events point at (stores, products), or ``None`` when a dimension
    is not loaded yet (the rule is then skipped)."""
    return {
        r.column: (f"raw.{r.dataset}", warehouse.distinct_values(RAW_ZONE, r.dataset, r.key))
        for r in WEB_EVENTS.references
    }


def _with_load_columns(clean: pa.Table, batch_id: str, loaded_at: dt.datetime) -> pa.Table:
    n = clean.num_rows
    clean = clean.append_column("_batch_id", pa.array([batch_id] * n, pa.string()))
    clean = clean.append_column("_loaded_at", pa.array([loaded_at] * n, pa.timestamp("us")))
    return clean.select(RAW_SCHEMA.names).cast(RAW_SCHEMA)


def batch_path(zone: str, day: dt.date | None, batch_id: str) -> str:
    """Lake path of one micro-batch's rows of one day (pure), e.g.
    ``raw/web_events/date=2026-12-02/batch-<id>.parquet``; quarantined rows without a readable
    event time go to ``quarantine/web_events/undated/``."""
    folder = f"date={day.isoformat()}" if day else "undated"
    return f"{zone}/{WEB_EVENTS.name}/{folder}/batch-{batch_id}.parquet"


def _write_lake(lake: LakeResource, batch_id: str, clean: pa.Table, quarantine: pa.Table):
    written = []
    for zone, table in ((RAW, clean), (QUARANTINE, quarantine)):
        if not table.num_rows:
            continue
        days = table[PARTITION_COLUMN]
        for day in pc.unique(days).to_pylist():
            mask = pc.is_null(days) if day is None else pc.fill_null(pc.equal(days, day), False)
            path = batch_path(zone, day, batch_id)
            lake.write_parquet(path, table.filter(mask))
            written.append(path)
    return written


def reconcile_lake(lake: LakeResource, warehouse: WarehouseResource) -> list[str]:
    """Write the lake files of the newest batch in ``raw.web_events`` if the lake lacks them
    (a run that stopped between its warehouse commit and its lake write) and return their
    paths. Every run calls this before it consumes, so at most that one batch can be missing.
    Idempotent; the quarantine's lake copy is not rewritten (``quarantine.web_events`` holds
    the rows)."""
    if not warehouse.table_exists(RAW_ZONE, WEB_EVENTS.name):
        return []
    table = f'"{RAW_ZONE}"."{WEB_EVENTS.name}"'
    newest = warehouse.query(f"select _batch_id as b from {table} order by _loaded_at desc limit 1")
    if not newest:
        return []
    batch_id = newest[0]["b"]
    days = warehouse.query(
        f'select distinct "{PARTITION_COLUMN}" as d from {table} where _batch_id = {_quoted(batch_id)}'
    )
    written = []
    for row in days:
        path = batch_path(RAW, row["d"], batch_id)
        if lake.exists(path):
            continue
        rows = warehouse.query(
            f"select * from {table} where \"{PARTITION_COLUMN}\" = date '{row['d'].isoformat()}' "
            f"and _batch_id = {_quoted(batch_id)}"
        )
        lake.write_parquet(path, pa.Table.from_pylist(rows, schema=RAW_SCHEMA))
        written.append(path)
    return written


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


__all__ = [
    "DUPLICATE_EVENT",
    "FUTURE",
    "LATE",
    "LINEAGE_COLUMNS",
    "MicroBatch",
    "StreamPolicy",
    "batch_path",
    "consume",
    "counted_in_warehouse",
    "known_messages",
    "parse_messages",
    "reconcile_lake",
]
