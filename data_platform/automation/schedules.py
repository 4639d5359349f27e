"""The daily schedule: yesterday's partition of the event-time ingests and everything below."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job

from data_platform.automation.jobs import daily_job

# 01:00 UTC (DAILY_CRON, also the daily facts' automation cron; a partitioned job's schedule
# takes the hour and minute, not a cron string): the day before is complete by then.
daily_schedule = build_schedule_from_partitioned_job(
    daily_job,
    name="daily_schedule",
    hour_of_day=1,
    minute_of_hour=0,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Materializes the previous day's partitions and everything downstream.",
)
