"""The headless run, in-process: the whole graph over every partition present in the data,
or given partitions and everything below them, or a full refresh of the dbt models.

Used by ``data-platform run``, the benchmark and the tests. The run is recorded in the Dagster
instance at ``$DAGSTER_HOME``, so it shows in the UI like any other run. It does not go
through the run queue: while Dagster's daemon runs warehouse jobs, launch from the UI instead
(see the README's backfill runbook).

What it prints while the run goes is its progress (:mod:`data_platform.progress`); Dagster's
log lines and the run's own output go to ``<home>/logs/run-<run_id>.log``.

Faults of the run's own process:

- **One run at a time per state folder** (:func:`run_lock`): a second headless run on the same
  ``DATA_PLATFORM_HOME`` waits for the first (a ``filelock`` lock on ``<home>/run.lock``, which
  the kernel releases when its holder dies, even of SIGKILL), printing at once what it waits
  for, instead of failing on the DuckDB lock; at most :data:`RUN_LOCK_WAIT_SECONDS` (keyword
  ``lock_wait_seconds``), then :class:`~data_platform.core.errors.PlatformError`.
- **A dead run is marked failed** (:func:`fail_dead_runs`): every headless run records its
  host, process id and process start time in its tags (:data:`HOST_TAG`, :data:`PID_TAG`,
  :data:`PROCESS_STARTED_TAG`); each headless run starts by marking FAILURE every run of the
  instance still STARTING or STARTED whose recorded process is gone from this host. No
  daemon watches in-process runs, and Dagster's run monitoring cannot see a dead run worker of
  the default run launcher either (deploy/dagster.yaml says what it does instead).
- Its dbt dies with it (:mod:`data_platform.core.child_process`).

Bookkeeping of a long range: by default Dagster writes one ``ASSET_MATERIALIZATION_PLANNED``
event per partition of every partitioned asset when it creates a run; on the SQLite instance
each is its own commit of two databases (a year's full run: 1,841 events, about 55 s on this
machine's disk before the first step started). A run of more than
:data:`PLANNED_PER_PARTITION_MAX_DAYS` days sets Dagster's opt-in
``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`` while the run is created: one planned event
per asset naming the range. The trade, as Dagster's maintainers describe it (dagster-io/dagster
PR 29288, issue 32242): if such a run fails, its partitions show as missing, not failed, in the
UI's partition bar (the run itself shows as failed, and each partition still gets its own
materialization with its row count when it succeeds). Runs of a month or less, the daily and
the sensors' runs among them, keep one planned event per partition. Every headless run also
sets ``DAGSTER_EVENT_BATCH_SIZE`` (:func:`event_batches`): on PostgreSQL storage Dagster then
writes a range output's materializations in batches. The Makefile sets the batch size for
``dg dev`` (daemon, webserver, run workers) as well, and leaves Dagster's default of one planned
event per partition to the runs launched there.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import psutil
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
)
from filelock import FileLock, Timeout

from data_platform.core.errors import PlatformError, one_line
from data_platform.core.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_range_tags
from data_platform.core.settings import EVENT_BATCH_SIZE as EVENT_BATCH_ENV
from data_platform.core.settings import PARTITION_START, Settings
from data_platform.definitions import build_definitions
from data_platform.progress import RUN_CONFIG as PROGRESS_RUN_CONFIG
from data_platform.progress import RunProgress, log_path
from data_platform.resources import open_resources
from data_platform.sources import data_window as sources_window
from data_platform.sources.web_events.jobs import web_events_job
from data_platform.sources.web_events.sensor import run_days

# Longest range whose runs keep Dagster's one planned event per partition (see the docstring).
PLANNED_PER_PARTITION_MAX_DAYS = 31
PLANNED_SUBSET_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
EVENT_BATCH_SIZE = 500

# How long a run waits for the run in progress on its state folder (a full run of a year's
# data takes about two minutes on a laptop; a backfill of years, tens of minutes).
RUN_LOCK_WAIT_SECONDS = 30 * 60
LOCK_FILE = "run.lock"
# Who holds LOCK_FILE: {"pid", "host", "started" (ISO time), "run_id"}, for the waiting message.
LOCK_HOLDER_FILE = "run.lock.json"

HOST_TAG = "data_platform/host"
PID_TAG = "data_platform/pid"
# psutil's create_time of PID_TAG's process, in seconds since the epoch: tells a live process
# from a later one that reuses the id.
PROCESS_STARTED_TAG = "data_platform/process_started"


@dataclass
class RunSummary:
    """What a headless run did."""

    success: bool
    first_day: str | None
    last_day: str | None
    seconds: float
    materializations: int
    checks_passed: int
    checks_failed: list[str]
    failed_steps: list[str]
    run_id: str
    step_errors: dict[str, str] = field(default_factory=dict)  # step key: its error's first line


def data_window(settings: Settings) -> tuple[dt.date, dt.date] | None:
    """First and last day holding events in any source (orders, tweets), or ``None``."""
    with open_resources(settings, "lake", "shop_db") as resources:
        return sources_window(resources)


def micro_batch(
    settings: Settings,
    instance: DagsterInstance | None = None,
    *,
    lock_wait_seconds: float = RUN_LOCK_WAIT_SECONDS,
) -> RunSummary | None:
    """One micro-batch of the event stream now (``web_events_job`` over the days its pending
    events can fall on, as the sensor requests it: :func:`~data_platform.sources.web_events.
    sensor.run_days`), in-process; ``None`` when nothing is pending. Raises as
    :func:`execute`, and the broker's fault when it cannot be reached."""
    with open_resources(settings, "events") as resources:
        lag = resources["events"].lag()
    if not lag.pending or lag.oldest_published_at is None:
        return None
    days = run_days(
        lag.oldest_published_at,
        dt.datetime.now(dt.UTC),
        dt.timedelta(minutes=settings.allowed_lateness_minutes),
        settings.partition_start,
    )
    return execute(
        settings, web_events_job.name, instance, days, lock_wait_seconds=lock_wait_seconds
    )


def run_all(
    settings: Settings,
    job_name: str = "all_assets_job",
    instance: DagsterInstance | None = None,
    partitions: tuple[dt.date, dt.date] | None = None,
    *,
    lock_wait_seconds: float = RUN_LOCK_WAIT_SECONDS,
) -> bool:
    """Run ``job_name`` over ``partitions`` (default: the data's window) and print a summary;
    True on success. Raises as :func:`execute`."""
    summary = execute(settings, job_name, instance, partitions, lock_wait_seconds=lock_wait_seconds)
    print(format_summary(summary))
    return summary.success


def execute(
    settings: Settings,
    job_name: str = "all_assets_job",
    instance: DagsterInstance | None = None,
    partitions: tuple[dt.date, dt.date] | None = None,
    *,
    lock_wait_seconds: float = RUN_LOCK_WAIT_SECONDS,
    assets: Sequence[AssetKey] | None = None,
    progress_stream: TextIO | None = None,
) -> RunSummary:
    """Execute the job in-process over ``partitions`` (first and last day, inclusive), or over
        every partition present in the data, once the run in progress on the state folder (if any)
        has ended, and after marking failed the runs whose process died. With ``assets`` (keys of
        unpartitioned assets), only those and their checks, and no partitions. The progress goes
    to ``progress_stream`` (default ``sys.stdout``).

        Raises ``ValueError`` for days outside the daily partitions (before
        ``DATA_PLATFORM_PARTITION_START`` or after yesterday), and ``PlatformError`` if another
        run still holds the state folder after ``lock_wait_seconds``."""
    run_id = str(uuid.uuid4())
    with run_lock(settings.home, run_id, wait_seconds=lock_wait_seconds):
        instance = instance or DagsterInstance.get()
        fail_dead_runs(instance)
        return _execute(settings, job_name, instance, partitions, run_id, assets, progress_stream)


def _execute(
    settings: Settings,
    job_name: str,
    instance: DagsterInstance,
    partitions: tuple[dt.date, dt.date] | None,
    run_id: str,
    assets: Sequence[AssetKey] | None = None,
    progress_stream: TextIO | None = None,
) -> RunSummary:
    defs = build_definitions(settings)
    window = None if assets else partitions or data_window(settings)
    start = settings.partition_start
    tags = {}
    if window:
        if window[0] < start:
            raise ValueError(
                f"{window[0]} is before the first partition {start}: set {PARTITION_START}"
            )
        today = dt.datetime.now(dt.UTC).date()
        # The stream's partitions go up to today (the day still running); the batch's to
        # yesterday.
        if job_name == web_events_job.name:
            if window[1] > today:
                raise ValueError(f"{window[1]} has no partition yet (the last one is today's)")
        elif window[1] >= today:
            raise ValueError(f"{window[1]} has no partition yet (the last one is yesterday's)")
        tags = partition_range_tags(window[0].isoformat(), window[1].isoformat())
    # Progress on the terminal instead of Dagster's console lines, which go to a log file.
    progress = RunProgress(
        run_id, job_name, log_path(settings.home, run_id), window, stream=progress_stream
    )
    job = Definitions.merge(defs, progress.definitions()).resolve_job_def(job_name)
    started = time.monotonic()
    days = (window[1] - window[0]).days + 1 if window else 0
    planned = planned_events_per_asset(days > PLANNED_PER_PARTITION_MAX_DAYS)
    with progress, planned, event_batches():
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            run_config=PROGRESS_RUN_CONFIG,
            tags={**tags, **process_tags()},
            asset_selection=list(assets) if assets else None,
            raise_on_error=False,
        )
    seconds = time.monotonic() - started
    evaluations = result.get_asset_check_evaluations()
    step_errors = {
        event.step_key: _describe_step_failure(event)
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    }
    return RunSummary(
        # A failed blocking check stops what is below it only with ERROR severity; WARN reports.
        success=result.success
        and not any(
            not e.passed and e.blocking and e.severity == AssetCheckSeverity.ERROR
            for e in evaluations
        ),
        first_day=tags.get(RANGE_START_TAG),
        last_day=tags.get(RANGE_END_TAG),
        seconds=seconds,
        materializations=len(result.get_asset_materialization_events()),
        checks_passed=sum(1 for e in evaluations if e.passed),
        checks_failed=[_describe_failure(e) for e in evaluations if not e.passed],
        failed_steps=list(step_errors),
        step_errors=step_errors,
        run_id=result.run_id,
    )


@contextmanager
def planned_events_per_asset(enabled: bool) -> Iterator[None]:
    """While the block runs (and ``enabled``), Dagster writes one planned event per asset for
    a run over a partition range, instead of one per partition (see the module's docstring).
    Leaves the variable as it found it; a value set by the user is kept."""
    with _environment_defaults({PLANNED_SUBSET_ENV: "true"} if enabled else {}):
        yield


@contextmanager
def event_batches() -> Iterator[None]:
    """While the block runs, Dagster writes the events it emits in batches (a range output's
    materializations, the planned events) in groups of :data:`EVENT_BATCH_SIZE`: one
    statement each on PostgreSQL storage (the production instance), one at a time as before
    on SQLite, which has no batch write. A value set by the user is kept."""
    with _environment_defaults({EVENT_BATCH_ENV: str(EVENT_BATCH_SIZE)}):
        yield


@contextmanager
def _environment_defaults(values: dict[str, str]) -> Iterator[None]:
    added = [name for name in values if name not in os.environ]
    os.environ.update({name: values[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def process_tags() -> dict[str, str]:
    """This process's identity as run tags: host name, process id, process start time."""
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        PROCESS_STARTED_TAG: f"{psutil.Process().create_time():.2f}",
    }


def fail_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark FAILURE every run of ``instance`` still STARTING or STARTED whose process, recorded
    in its tags by :func:`process_tags`, is gone from this host, printing one line per run;
    return their run ids. Runs of other hosts, and runs without the tags (launched by the
    daemon), are left to Dagster's run monitoring."""
    host = socket.gethostname()
    runs = instance.get_runs(
        filters=RunsFilter(
            statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED], tags={HOST_TAG: host}
        )
    )
    failed = []
    for run in runs:
        pid, created = run.tags.get(PID_TAG, ""), run.tags.get(PROCESS_STARTED_TAG, "")
        if not pid.isdigit() or _process_lives(int(pid), created):
            continue
        since = _clock(float(created)) if _is_number(created) else "?"
        message = (
            f"Marked failed by a later run: its process {pid} on {host} (started {since}) "
            "is gone, killed before the run could end"
        )
        instance.report_run_failed(run, message=message)
        print(
            f"run: marked run {run.run_id} failed: its process {pid} on {host} is gone", flush=True
        )
        failed.append(run.run_id)
    return failed


def _process_lives(pid: int, created: str) -> bool:
    try:
        process = psutil.Process(pid)
        # The same id with another start time is a later process reusing it.
        return not _is_number(created) or abs(process.create_time() - float(created)) < 1
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's live process
        return True


@contextmanager
def run_lock(
    home: Path, run_id: str, *, wait_seconds: float = RUN_LOCK_WAIT_SECONDS
) -> Iterator[None]:
    """Hold the state folder ``home`` for one run (``<home>/run.lock``), waiting at most
    ``wait_seconds`` for the run holding it, with a line printed when the wait begins and one
    when it ends. Raises ``PlatformError`` when the wait runs out."""
    home.mkdir(parents=True, exist_ok=True)
    lock = FileLock(home / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _holder(home)
        print(
            f"run: waiting for the run in progress on {home} ({holder}); "
            f"at most {_duration(wait_seconds)}",
            flush=True,
        )
        waited = time.monotonic()
        try:
            lock.acquire(timeout=wait_seconds)
        except Timeout:
            raise PlatformError(
                f"the run in progress on {home} ({holder}) still holds {home / LOCK_FILE} after "
                f"{_duration(wait_seconds)} of waiting: let it finish and run again"
            ) from None
        print(f"run: the run in progress ended; starting after {time.monotonic() - waited:.1f} s")
    try:
        _write_holder(home, run_id)
        yield
    finally:
        (home / LOCK_HOLDER_FILE).unlink(missing_ok=True)
        lock.release()


def _write_holder(home: Path, run_id: str) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "run_id": run_id,
    }
    temporary = home / f".{LOCK_HOLDER_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps(holder))
    temporary.replace(home / LOCK_HOLDER_FILE)  # whole or not at all, for a reader waiting


def _holder(home: Path) -> str:
    """Who holds the lock, as ``run R, pid N, started HH:MM:SS`` (as far as known)."""
    try:
        holder = json.loads((home / LOCK_HOLDER_FILE).read_text())
        started = dt.datetime.fromisoformat(holder["started"]).strftime("%H:%M:%S")
        if psutil.pid_exists(holder["pid"]):  # else left by a killed run; the holder is newer
            return f"run {holder['run_id']}, pid {holder['pid']}, started {started}"
    except (OSError, ValueError, KeyError, TypeError):  # just starting: no file yet
        pass
    return "a run just starting"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _clock(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def _describe_step_failure(event) -> str:
    """The first line of a failed step's error: a Failure's description, or the exception's
    message (redacted where it was raised)."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        message = data.user_failure_data.description
    elif data.error is not None:
        message = data.error.message
    else:
        return ""
    return one_line(message)


def _describe_failure(evaluation) -> str:
    metadata = evaluation.metadata
    text = evaluation.asset_check_key.to_user_string()
    if evaluation.description:
        text += f": {one_line(evaluation.description)}"
    if "failures_by_check" in metadata:
        text += f" {metadata['failures_by_check'].value}"
    if "failing_sample" in metadata:
        text += f" sample: {metadata['failing_sample'].value}"
    return text


def format_summary(summary: RunSummary) -> str:
    status = "SUCCESS" if summary.success else "FAILURE"
    lines = [
        f"run {summary.run_id}: {status} in {summary.seconds:.1f} s",
        f"  partitions: {summary.first_day} .. {summary.last_day}",
        f"  materializations: {summary.materializations}",
        f"  checks: {summary.checks_passed} passed, {len(summary.checks_failed)} failed",
    ]
    lines += [f"  failed check: {name}" for name in summary.checks_failed]
    lines += [
        f"  failed step: {step}"
        + (f": {summary.step_errors[step]}" if summary.step_errors.get(step) else "")
        for step in summary.failed_steps
    ]
    return "\n".join(lines)
