"""The operations group's own job and schedule: platform health, hourly.

The data jobs (``all_assets_job``, ``daily_job``, the landing and web events jobs) leave the
group out on purpose: a run does not record itself half-finished, a failure of the health
tables never fails a data run, and the health figures keep one cadence whatever the data
runs do. Each build takes the ``warehouse`` pool like every writer of the warehouse.
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from data_platform.operations.assets import AS_OF_TAG, GROUP

OPERATIONS = AssetSelection.groups(GROUP)

operations_job = define_asset_job(
    "operations_job",
    selection=OPERATIONS,
    description=(
        "Platform health: the instance's finished runs, check results and freshness lags "
        "into the warehouse schema operations, then the service levels per asset and week."
    ),
)


# Hourly at :20: off the daily schedule's 01:00 and the digest's 07:00, so it rarely queues
# behind them for the warehouse pool; a freshness sample an hour.
@schedule(
    name="operations_schedule",
    cron_schedule="20 * * * *",
    execution_timezone="UTC",
    job=operations_job,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Hourly: rebuilds the operations group (run history, checks, freshness lag, "
    "service levels), measuring freshness at the tick's time.",
)
def operations_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    return RunRequest(tags={AS_OF_TAG: context.scheduled_execution_time.isoformat()})
