"""Daily partitions of the event-time datasets (orders, order items, tweets).

A partition is one calendar day of the source's local, zone-less timestamps: partition
``2018-09-01`` holds the rows whose event time is in ``[2018-09-01 00:00, 2018-09-02 00:00)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

from dagster import DailyPartitionsDefinition

# Tags that make one run cover a range of partitions (with BackfillPolicy.single_run).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"
# 01:00 UTC: the day before is complete in the shop database by then. The daily schedule and
# the daily facts' automation condition run on it.
DAILY_CRON = "0 1 * * *"


def partition_range_tags(first_day: str, last_day: str) -> dict[str, str]:
    """Run tags for the daily partitions ``first_day..last_day`` (ISO dates, inclusive)."""
    return {RANGE_START_TAG: first_day, RANGE_END_TAG: last_day}


def parse_partition_range(text: str) -> tuple[dt.date, dt.date]:
    """``2019-01-01...2019-01-31`` (Dagster's range syntax) or one day ``2019-02-03`` ->
    (first, last), both inclusive (pure; unit-tested). Raises ``ValueError`` naming the
    problem for a malformed date or a range that ends before it starts."""
    first_text, separator, last_text = text.partition("...")
    if separator and not last_text:
        raise ValueError(f"partition range {text!r}: expected FIRST...LAST")
    try:
        first = dt.date.fromisoformat(first_text.strip())
        last = dt.date.fromisoformat(last_text.strip()) if separator else first
    except ValueError as error:
        raise ValueError(f"partition range {text!r}: {error} (dates are YYYY-MM-DD)") from None
    if last < first:
        raise ValueError(f"partition range {text!r} ends before it starts")
    return first, last


def daily_partitions(start_date: str) -> DailyPartitionsDefinition:
    """Daily partitions from ``start_date`` (ISO date) up to yesterday."""
    return DailyPartitionsDefinition(start_date=start_date)


def stream_partitions(start_date: str) -> DailyPartitionsDefinition:
    """Daily partitions of a streamed dataset, by the UTC day of the event time, from
    ``start_date`` up to and including today: a micro-batch writes today's partition while the
    day is still going (``end_offset=1``)."""
    return DailyPartitionsDefinition(start_date=start_date, end_offset=1, timezone="UTC")


def days_in_window(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    """The calendar days of the half-open time window ``[start, end)``."""
    first, last = start.date(), end.date()
    if end.time() != dt.time(0):
        last += dt.timedelta(days=1)
    return [first + dt.timedelta(days=i) for i in range((last - first).days)]


def dbt_partition_vars(start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    """The dbt vars of a partition time window ``[start, end)``: its first and last day, both
    inclusive, as ISO dates (``{"min_date": ..., "max_date": ...}``), which the dbt macro
    ``in_partition_window`` reads. Raises ``ValueError`` for an empty window."""
    days = days_in_window(start, end)
    if not days:
        raise ValueError(f"empty partition window {start}..{end}")
    return {"min_date": days[0].isoformat(), "max_date": days[-1].isoformat()}


# The environment variables the dbt macro ``partition_window`` reads (dbt vars of the same
# names, given on a command line, win).
DBT_PARTITION_ENV = {
    "min_date": "DATA_PLATFORM_DBT_MIN_DATE",
    "max_date": "DATA_PLATFORM_DBT_MAX_DATE",
}


def dbt_partition_env(dbt_vars: Mapping[str, str]) -> dict[str, str]:
    """The partition window of :func:`dbt_partition_vars` as dbt's environment variables
    (:data:`DBT_PARTITION_ENV`; pure)."""
    return {DBT_PARTITION_ENV[name]: value for name, value in dbt_vars.items()}


def run_partition_env(tags: Mapping[str, str]) -> dict[str, str]:
    """The dbt environment of a run's partition window, read from its tags (a range, or one
    partition), for a dbt step that is not partitioned itself; empty for a run without
    partitions (pure). Both dbt steps of a run then start dbt with the same environment, so
    the second one's partial parse has nothing to re-parse."""
    first = tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG)
    last = tags.get(RANGE_END_TAG) or tags.get(PARTITION_TAG)
    if not first or not last:
        return {}
    return dbt_partition_env({"min_date": first, "max_date": last})


def chunk_days(days: list[dt.date], size: int) -> Iterator[list[dt.date]]:
    """Consecutive runs of at most ``size`` days, in order."""
    for i in range(0, len(days), size):
        yield days[i : i + size]
