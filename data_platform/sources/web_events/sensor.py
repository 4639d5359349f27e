"""The event-stream sensor: a micro-batch run whenever events are pending, at most every 30 s.

Each tick asks the broker for the consumer's lag (:meth:`EventBrokerResource.lag`). With
events pending and no micro-batch queued or running (one consumer at a time), it requests one
run of ``web_events_job`` over the days the pending events can fall on: from the day of the
oldest pending message's publication less the allowed lateness (an earlier event is late, and
quarantined) to today (UTC). Until the batch models the stream's models join
(:data:`~data_platform.sources.web_events.jobs.BATCH_INPUTS`) have been materialized once,
it skips, saying which: the micro-batch's dbt step could not run.
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from data_platform.core.partitions import PARTITION_TAG, partition_range_tags
from data_platform.resources.events import EventBrokerResource
from data_platform.resources.quality_policy import QualityPolicy
from data_platform.sources.web_events.jobs import BATCH_INPUTS, web_events_job

MINIMUM_INTERVAL_SECONDS = 30
_IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def run_days(
    oldest_published: dt.datetime, now: dt.datetime, lateness: dt.timedelta, first: dt.date
) -> tuple[dt.date, dt.date]:
    """The days (first, last; UTC) a micro-batch started ``now`` can load events on when the
    oldest pending message was published at ``oldest_published`` (pure; unit-tested)."""
    start = (oldest_published.astimezone(dt.UTC) - lateness).date()
    today = now.astimezone(dt.UTC).date()
    return max(min(start, today), first), today


@sensor(
    name="web_events_sensor",
    job=web_events_job,
    minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Launches a micro-batch of web_events_job when the event stream has pending events and "
        "no micro-batch is queued or running."
    ),
)
def web_events_sensor(
    context: SensorEvaluationContext, events: EventBrokerResource, quality: QualityPolicy
):
    busy = context.instance.get_run_records(
        RunsFilter(job_name=web_events_job.name, statuses=_IN_FLIGHT), limit=1
    )
    if busy:
        return SkipReason(f"micro-batch {busy[0].dagster_run.run_id} is queued or running")
    lag = events.lag()
    if not lag.pending or lag.oldest_published_at is None:
        return SkipReason("no pending events")
    unbuilt = sorted(
        key.to_user_string()
        for key in BATCH_INPUTS.resolve(context.repository_def.asset_graph)
        if context.instance.get_latest_materialization_event(key) is None
    )
    if unbuilt:
        # The micro-batch's dbt step would fail on them; the events wait on the broker.
        return SkipReason(
            f"{lag.pending} events pending, but the batch models the stream joins were never "
            f"materialized ({', '.join(unbuilt)}): run the batch first (`data-platform run`; "
            "make dev does it before starting Dagster)"
        )
    now = dt.datetime.now(dt.UTC)
    partitions = context.repository_def.get_job(web_events_job.name).partitions_def
    first_partition = dt.date.fromisoformat(partitions.get_first_partition_key())
    first, last = run_days(
        lag.oldest_published_at,
        now,
        dt.timedelta(minutes=quality.allowed_lateness_minutes),
        first_partition,
    )
    tags = (
        {PARTITION_TAG: first.isoformat()}
        if first == last
        else partition_range_tags(first.isoformat(), last.isoformat())
    )
    context.log.info(
        f"{lag.pending} events pending, oldest published {lag.oldest_published_at.isoformat()}: "
        f"a micro-batch over {first}..{last}"
    )
    # No run key: a backlog a failed run left must be retried by a later tick (one micro-batch
    # at a time is the in-flight check's job).
    return RunRequest(
        tags=tags,
        partition_key=first.isoformat() if first == last else None,
    )
