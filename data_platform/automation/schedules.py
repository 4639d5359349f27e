"""The daily schedule: yesterday's partition of the event-time ingests and everything below."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job

from data_platform.automation.jobs import daily_job

# 01:00 UTC: the day before is complete in the shop database by then.
daily_schedule = build_schedule_from_partitioned_job(
    daily_job,
    name="daily_schedule",
    hour_of_day=1,
    minute_of_hour=0,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Materializes the previous day's partitions and everything downstream.",
)
