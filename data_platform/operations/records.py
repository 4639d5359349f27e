"""The rows of the operations tables, from the Dagster instance's records (pure; unit-tested).

Every timestamp is UTC without time zone (``datetime`` with ``tzinfo=None``), as the
warehouse's other tables hold them; durations and lags are seconds (``float``).

- :func:`run_row`: one finished run (``RunRecord``) as a row of ``operations.run_history``;
- :func:`outcome_rows`: what the run did to each asset it planned or materialized
  (``operations.run_asset_outcomes``), from the run's events (:class:`RunEvents`);
- :func:`check_rows`: the asset check evaluations of the run (``operations.check_results``);
- :func:`freshness_row`: one asset's lag behind ``as_of`` and its freshness policy's window
  (``operations.freshness_lag``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    DagsterEventType,
    DagsterRunStatus,
    EventLogEntry,
    FreshnessPolicy,
    RunRecord,
    TableColumn,
    TableSchema,
)

from data_platform.core.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG

# Dagster's run tags of who launched a run (dagster/_core/storage/tags.py: public tag names).
SCHEDULE_TAG = "dagster/schedule_name"
SENSOR_TAG = "dagster/sensor_name"
BACKFILL_TAG = "dagster/backfill"
AUTOMATION_TAG = "dagster/from_automation_condition"
RETRY_NUMBER_TAG = "dagster/retry_number"
# The tag every headless run (`data-platform run`) carries (data_platform.headless.HOST_TAG).
CLI_TAG = "data_platform/host"
# What a run-event read asks the instance for.
RUN_EVENT_TYPES = {
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}
FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


@dataclass(frozen=True)
class OperationsTable:
    """One table of the warehouse schema ``operations``: its name, what a row is, and its
    columns as ``(name, Arrow type, description)``."""

    name: str
    description: str
    columns: tuple[tuple[str, pa.DataType, str], ...]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(name, kind) for name, kind, _ in self.columns])

    @property
    def table_schema(self) -> TableSchema:
        """The columns as the UI shows them (``dagster/column_schema``)."""
        return TableSchema(
            columns=[TableColumn(name, SQL_TYPES[kind], doc) for name, kind, doc in self.columns]
        )


TEXT, TIME, SECONDS, COUNT, FLAG = (
    pa.string(),
    pa.timestamp("us"),
    pa.float64(),
    pa.int64(),
    pa.bool_(),
)
# The types as the warehouse's tables have them (DuckDB and PostgreSQL alike).
SQL_TYPES = {TEXT: "text", TIME: "timestamp", SECONDS: "double", COUNT: "bigint", FLAG: "boolean"}
RUN_ID = ("run_id", TEXT, "The Dagster run's id.")
ASSET = ("asset_key", TEXT, "The asset's key as the UI writes it (marts/fct_orders).")

RUN_HISTORY = OperationsTable(
    "run_history",
    "One row per finished run (SUCCESS, FAILURE, CANCELED) of the Dagster instance.",
    (
        RUN_ID,
        ("job_name", TEXT, "The job the run executed."),
        ("status", TEXT, "SUCCESS, FAILURE or CANCELED."),
        ("started_at", TIME, "When the run started, UTC; null if it never started."),
        ("ended_at", TIME, "When the run ended, UTC (the incremental cursor)."),
        ("duration_seconds", SECONDS, "ended_at - started_at, seconds; null if never started."),
        ("partition_key", TEXT, "Its partition, or range first...last; null if unpartitioned."),
        ("launched_by", TEXT, "schedule, sensor, automation, backfill, retry, cli, ui, other."),
        ("launched_by_name", TEXT, "The schedule's or sensor's name, the backfill id, the host."),
        ("assets_planned", COUNT, "Assets the run planned to materialize."),
        ("materializations", COUNT, "Materializations the run recorded (all partitions)."),
    ),
)
RUN_ASSET_OUTCOMES = OperationsTable(
    "run_asset_outcomes",
    "One row per finished run and asset it planned or materialized, with the outcome.",
    (
        RUN_ID,
        ASSET,
        ("planned", FLAG, "Whether the run planned to materialize the asset."),
        ("materializations", COUNT, "Materializations of the asset in the run (partitions)."),
        ("outcome", TEXT, "materialized, failed (run failed without it), canceled, skipped."),
    ),
)
CHECK_RESULTS = OperationsTable(
    "check_results",
    "One row per asset check evaluation recorded in a finished run.",
    (
        RUN_ID,
        ASSET,
        ("check_name", TEXT, "The check's name."),
        ("partition_key", TEXT, "The partition evaluated; null for a whole-asset check."),
        ("passed", FLAG, "Whether the check passed."),
        ("severity", TEXT, "ERROR or WARN: what a failure means."),
        ("blocking", FLAG, "Whether a failure stops the assets below; null if not recorded."),
        ("evaluated_at", TIME, "When the evaluation was recorded, UTC."),
    ),
)
FRESHNESS_LAG = OperationsTable(
    "freshness_lag",
    "One row per asset and operations build: the lag behind its last materialization.",
    (
        ASSET,
        ("measured_at", TIME, "The time measured at, UTC (a scheduled build: its tick time)."),
        ("last_materialized_at", TIME, "The last materialization at or before it; null if none."),
        ("lag_seconds", SECONDS, "measured_at - last_materialized_at, seconds; null if none."),
        ("freshness_policy", TEXT, "The asset's freshness policy in words; null without one."),
        ("fail_window_seconds", SECONDS, "Its fail window (a cron policy's lower bound), s."),
        ("warn_window_seconds", SECONDS, "Its warn window, seconds; null if it has none."),
    ),
)
TABLES = (RUN_HISTORY, RUN_ASSET_OUTCOMES, CHECK_RESULTS, FRESHNESS_LAG)


def utc(timestamp: float | None) -> dt.datetime | None:
    """A POSIX timestamp as a UTC ``datetime`` without time zone (``None`` stays ``None``)."""
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(tzinfo=None)


def launched_by(tags: Mapping[str, str], from_code_location: bool) -> tuple[str, str | None]:
    """Who launched a run, from its tags: ``(kind, name)``. Kinds, first match wins:
    ``retry`` (Dagster re-launched a failed run; name: the retry number), ``automation``
    (declarative automation; the sensor), ``schedule``, ``sensor``, ``backfill`` (the
    backfill id), ``cli`` (``data-platform run``), ``ui`` (launched through a code location
    without any of those tags: the UI, GraphQL, ``dagster job launch``), ``other`` (an
    in-process execution: a test, a script)."""
    if RETRY_NUMBER_TAG in tags:
        return "retry", tags[RETRY_NUMBER_TAG]
    if tags.get(AUTOMATION_TAG):
        return "automation", tags.get(SENSOR_TAG)
    for kind, tag in (
        ("schedule", SCHEDULE_TAG),
        ("sensor", SENSOR_TAG),
        ("backfill", BACKFILL_TAG),
    ):
        if tag in tags:
            return kind, tags[tag]
    if CLI_TAG in tags:
        return "cli", tags[CLI_TAG]
    return ("ui", None) if from_code_location else ("other", None)


def partition_label(tags: Mapping[str, str]) -> str | None:
    """The run's partition (``2018-09-01``), its range in Dagster's syntax
    (``2018-09-01...2018-09-10``), or ``None`` for an unpartitioned run."""
    first, last = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if first and last:
        return first if first == last else f"{first}...{last}"
    return tags.get(PARTITION_TAG) or None


@dataclass
class RunEvents:
    """The asset events of one run: assets planned, materializations per asset, and the
    check evaluations with their time (POSIX seconds)."""

    planned: set[AssetKey] = field(default_factory=set)
    materialized: Counter[AssetKey] = field(default_factory=Counter)
    checks: list[tuple[float, AssetCheckEvaluation]] = field(default_factory=list)

    @classmethod
    def of(cls, entries: Iterable[EventLogEntry]) -> RunEvents:
        """From a run's event log entries (any types; the others are ignored)."""
        events = cls()
        for entry in entries:
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
                events.planned.add(event.asset_key)
            elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                events.materialized[event.asset_key] += 1
            elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                events.checks.append((entry.timestamp, event.event_specific_data))
        return events


def run_row(record: RunRecord, events: RunEvents) -> dict:
    """The ``run_history`` row of a finished run. ``ended_at`` falls back to the record's
    last update when Dagster stored no end time (a run failed before it started)."""
    run = record.dagster_run
    kind, name = launched_by(run.tags, run.remote_job_origin is not None)
    updated = record.update_timestamp
    if updated.tzinfo is None:  # the run storage's naive UTC; .timestamp() would read local time
        updated = updated.replace(tzinfo=dt.UTC)
    start, end = record.start_time, record.end_time or updated.timestamp()
    return {
        "run_id": run.run_id,
        "job_name": run.job_name,
        "status": run.status.value,
        "started_at": utc(start),
        "ended_at": utc(end),
        "duration_seconds": round(end - start, 3) if start is not None else None,
        "partition_key": partition_label(run.tags),
        "launched_by": kind,
        "launched_by_name": name,
        "assets_planned": len(events.planned),
        "materializations": sum(events.materialized.values()),
    }


def outcome(status: DagsterRunStatus, materializations: int) -> str:
    """What a run did to one asset: ``materialized`` (at least once), else by the run's
    status ``failed`` or ``canceled``, else ``skipped`` (a successful run that planned it
    and did not materialize it: an optional output left out)."""
    if materializations:
        return "materialized"
    if status == DagsterRunStatus.FAILURE:
        return "failed"
    if status == DagsterRunStatus.CANCELED:
        return "canceled"
    return "skipped"


def outcome_rows(run_id: str, status: DagsterRunStatus, events: RunEvents) -> list[dict]:
    """The ``run_asset_outcomes`` rows of a run: one per asset it planned or materialized."""
    keys = sorted(events.planned | set(events.materialized), key=AssetKey.to_user_string)
    return [
        {
            "run_id": run_id,
            "asset_key": key.to_user_string(),
            "planned": key in events.planned,
            "materializations": events.materialized[key],
            "outcome": outcome(status, events.materialized[key]),
        }
        for key in keys
    ]


def check_rows(run_id: str, events: RunEvents) -> list[dict]:
    """The ``check_results`` rows of a run: one per check evaluation, in order."""
    return [
        {
            "run_id": run_id,
            "asset_key": evaluation.asset_key.to_user_string(),
            "check_name": evaluation.check_name,
            "partition_key": evaluation.partition,
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
            "blocking": evaluation.blocking,
            "evaluated_at": utc(at),
        }
        for at, evaluation in events.checks
    ]


def _seconds(delta) -> float | None:
    # TimeWindowFreshnessPolicy stores its windows serializable; the cron policy's property
    # gives a timedelta.
    if delta is None:
        return None
    delta = delta.to_timedelta() if hasattr(delta, "to_timedelta") else delta
    return delta.total_seconds()


def policy_windows(policy: FreshnessPolicy | None) -> tuple[str | None, float | None, float | None]:
    """A freshness policy as ``(description, fail window s, warn window s)``.

    A time-window policy fails once the last materialization is older than its fail window.
    A cron policy wants a materialization within ``lower_bound_delta`` before each deadline:
    that window is reported as its fail window (a daily asset built once a day stays below
    it). ``(None, None, None)`` without a policy."""
    if policy is None:
        return None, None, None
    if hasattr(policy, "deadline_cron"):
        window = _seconds(policy.lower_bound_delta)
        text = f"cron {policy.deadline_cron} {policy.timezone}, within {window:.0f} s before"
        return text, window, None
    fail, warn = _seconds(policy.fail_window), _seconds(getattr(policy, "warn_window", None))
    text = f"time window: fail after {fail:.0f} s" + (f", warn after {warn:.0f} s" if warn else "")
    return text, fail, warn


def freshness_row(
    key: AssetKey,
    policy: FreshnessPolicy | None,
    last_materialized: float | None,
    as_of: dt.datetime,
) -> dict:
    """The ``freshness_lag`` row of one asset at ``as_of`` (aware, UTC): the last
    materialization at or before it and the lag in seconds (``None`` if never)."""
    text, fail, warn = policy_windows(policy)
    lag = as_of.timestamp() - last_materialized if last_materialized is not None else None
    return {
        "asset_key": key.to_user_string(),
        "measured_at": as_of.astimezone(dt.UTC).replace(tzinfo=None),
        "last_materialized_at": utc(last_materialized),
        "lag_seconds": round(lag, 3) if lag is not None else None,
        "freshness_policy": text,
        "fail_window_seconds": fail,
        "warn_window_seconds": warn,
    }


def arrow(rows: Sequence[dict], table: OperationsTable) -> pa.Table:
    """Rows as an Arrow table of ``table``'s columns (typed also when there are none)."""
    return pa.Table.from_pylist(list(rows), schema=table.arrow_schema)
