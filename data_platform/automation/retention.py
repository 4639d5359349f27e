"""Run retention: runs older than ``DATA_PLATFORM_RUN_RETENTION_DAYS`` are deleted nightly.

Dagster's ``retention`` setting covers schedule and sensor ticks only; runs and their event
logs grow without bound. Deleting a run removes its event log, and with it the history of
those materializations in the UI: the newest materialization of every asset partition is kept
because only finished runs older than the cut-off are deleted, and the platform re-materializes
partitions far more often than the default 90 days.
"""

import datetime as dt

from dagster import (
    Config,
    DefaultScheduleStatus,
    OpExecutionContext,
    RunConfig,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    job,
    op,
    schedule,
)

from data_platform.core.settings import DEFAULT_RUN_RETENTION_DAYS, Settings

BATCH = 500


class RetentionConfig(Config):
    older_than_days: int = DEFAULT_RUN_RETENTION_DAYS


@op(description="Deletes finished runs (and their event logs) created before the cut-off.")
def purge_old_runs(context: OpExecutionContext, config: RetentionConfig) -> int:
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=config.older_than_days)
    deleted = 0
    while True:
        records = context.instance.get_run_records(
            filters=RunsFilter(created_before=cutoff), limit=BATCH
        )
        finished = [r.dagster_run for r in records if r.dagster_run.is_finished]
        for run in finished:
            context.instance.delete_run(run.run_id)
        deleted += len(finished)
        if len(records) < BATCH or not finished:
            break
    context.log.info(f"deleted {deleted} runs created before {cutoff:%Y-%m-%d %H:%M} UTC")
    return deleted


@job(description="Deletes runs and event logs older than the retention period.")
def run_retention_job():
    purge_old_runs()


def build_retention_schedule(settings: Settings) -> ScheduleDefinition:
    """The nightly schedule of :data:`run_retention_job`, with the settings' retention period
    (``DATA_PLATFORM_RUN_RETENTION_DAYS``, default 90 days)."""
    days = settings.run_retention_days

    @schedule(
        cron_schedule="30 3 * * *",
        job=run_retention_job,
        name="run_retention",
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Nightly: deletes runs older than {days} days "
        "(DATA_PLATFORM_RUN_RETENTION_DAYS).",
    )
    def run_retention(context: ScheduleEvaluationContext) -> RunRequest:
        return RunRequest(
            run_config=RunConfig(ops={"purge_old_runs": RetentionConfig(older_than_days=days)})
        )

    return run_retention
