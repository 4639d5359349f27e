"""The headless run, in-process: the whole graph over every partition present in the data,
or given partitions and everything below them, or a full refresh of the dbt models.

Used by ``data-platform run``, the benchmark and the tests. The run is recorded in the Dagster
instance at ``$DAGSTER_HOME``, so it shows in the UI like any other run. It does not go
through the run queue: while Dagster's daemon runs warehouse jobs, launch from the UI instead
(see the README's backfill runbook).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from dagster import AssetCheckSeverity, DagsterInstance

from data_platform.core.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_range_tags
from data_platform.core.settings import PARTITION_START, Settings
from data_platform.definitions import build_definitions
from data_platform.resources import open_resources
from data_platform.sources import SOURCES


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


def data_window(settings: Settings) -> tuple[dt.date, dt.date] | None:
    """First and last day holding events in any source (orders, tweets), or ``None``."""
    with open_resources(settings, "lake", "shop_db") as resources:
        windows = [w for s in SOURCES if s.data_window and (w := s.data_window(resources))]
    if not windows:
        return None
    return min(w[0] for w in windows), max(w[1] for w in windows)


def run_all(
    settings: Settings,
    job_name: str = "all_assets_job",
    instance: DagsterInstance | None = None,
    partitions: tuple[dt.date, dt.date] | None = None,
) -> bool:
    """Run ``job_name`` over ``partitions`` (default: the data's window) and print a summary;
    True on success."""
    summary = execute(settings, job_name, instance, partitions)
    print(format_summary(summary))
    return summary.success


def execute(
    settings: Settings,
    job_name: str = "all_assets_job",
    instance: DagsterInstance | None = None,
    partitions: tuple[dt.date, dt.date] | None = None,
) -> RunSummary:
    """Execute the job in-process over ``partitions`` (first and last day, inclusive), or over
    every partition present in the data. Raises ``ValueError`` for days outside the daily
    partitions (before ``DATA_PLATFORM_PARTITION_START`` or after yesterday)."""
    defs = build_definitions(settings)
    window = partitions or data_window(settings)
    start = settings.partition_start
    tags = {}
    if window:
        if window[0] < start:
            raise ValueError(
                f"{window[0]} is before the first partition {start}: set {PARTITION_START}"
            )
        if window[1] >= dt.datetime.now(dt.UTC).date():
            raise ValueError(f"{window[1]} has no partition yet (the last one is yesterday's)")
        tags = partition_range_tags(window[0].isoformat(), window[1].isoformat())
    job = defs.resolve_job_def(job_name)
    started = time.monotonic()
    instance = instance or DagsterInstance.get()
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    seconds = time.monotonic() - started
    evaluations = result.get_asset_check_evaluations()
    failed_steps = [
        event.step_key for event in result.all_events if event.event_type_value == "STEP_FAILURE"
    ]
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
        failed_steps=failed_steps,
        run_id=result.run_id,
    )


def _describe_failure(evaluation) -> str:
    metadata = evaluation.metadata
    text = evaluation.asset_check_key.to_user_string()
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
    lines += [f"  failed step: {step}" for step in summary.failed_steps]
    return "\n".join(lines)
