"""The raw ingest of the event stream: ``raw/web_events``, one micro-batch per run.

A run takes one bounded batch from the broker's durable consumer and loads it exactly once in
effect (:mod:`.consumer`): the warehouse first, in one transaction, then the lake, then the
acknowledgement. The asset is daily-partitioned by the UTC day of the event time (today's
partition exists while the day runs); a run targets the days its batch can touch (the sensor
gives the range, see :mod:`.sensor`), and a day the batch touched outside the run's range is
recorded as a materialization of that partition too, so every partition holding events shows
as materialized with its row count.

Materialization metadata: messages delivered, skipped as already loaded (a redelivery), loaded
and quarantined by rule, the consumer's lag after the acknowledgement (``consumer_pending``,
``consumer_oldest_pending_seconds``; plotted by the UI across materializations), the newest
event time loaded and the end-to-end delay of the batch (publication to load, seconds).
"""

# No "from __future__ import annotations": Dagster checks the context annotation at runtime.

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
)

from data_platform.core.datasets import PARTITION_COLUMN
from data_platform.core.partitions import stream_partitions
from data_platform.core.settings import Settings
from data_platform.loading.raw_asset import raw_asset
from data_platform.quality.quarantine import QUARANTINE_SCHEMA_NAME
from data_platform.quality.raw_checks import (
    SchemaReport,
    Tally,
    conservation_result,
    contract_result,
    schema_drift_result,
)
from data_platform.resources.events import EventBrokerResource
from data_platform.resources.lake import LakeResource
from data_platform.resources.quality_policy import QualityPolicy
from data_platform.resources.warehouse import WarehouseResource
from data_platform.sources.web_events.consumer import (
    MicroBatch,
    StreamPolicy,
    consume,
    counted_in_warehouse,
    reconcile_lake,
)
from data_platform.sources.web_events.datasets import WEB_EVENTS


def build_assets(settings: Settings) -> list[AssetsDefinition]:
    """``raw/web_events``, partitioned from the settings' start to today (UTC)."""
    partitions = stream_partitions(settings.partition_start.isoformat())
    kinds = {"json", "parquet", settings.warehouse.engine}

    @raw_asset(
        WEB_EVENTS, "the shop's event stream (NATS JetStream or landing/events/)", kinds, partitions
    )
    def web_events_raw(
        context: AssetExecutionContext,
        events: EventBrokerResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ) -> MaterializeResult:
        now = dt.datetime.now(dt.UTC)
        repaired = reconcile_lake(lake, warehouse)
        for path in repaired:
            context.log.warning(
                f"{path}: written from the warehouse (the run that loaded it stopped first)"
            )
        policy = StreamPolicy(
            allowed_lateness=dt.timedelta(minutes=quality.allowed_lateness_minutes),
            today=now.date(),
        )
        batch = consume(events, warehouse, lake, policy, context.run.run_id, now)
        lag = events.lag()
        context.log.info(
            f"raw.web_events batch {batch.batch_id}: {batch.delivered} delivered, "
            f"{batch.redelivered} already loaded, {batch.loaded} loaded, "
            f"{batch.quarantined} quarantined; {lag.pending} pending"
        )
        counts = _counts(warehouse, batch.days + _run_days(context))
        metadata = _metadata(batch, lag, now, events.backend)
        run_days = set(_run_days(context))
        for day in batch.days:
            if day not in run_days:
                # The batch touched a day the run does not target (an event of yesterday
                # arriving just after midnight): that partition changed too.
                context.log_event(
                    AssetMaterialization(
                        asset_key=WEB_EVENTS.asset_key,
                        partition=day.isoformat(),
                        metadata={**metadata, "dagster/row_count": counts[RAW].get(day, 0)},
                    )
                )
        if len(run_days) == 1:
            metadata["dagster/row_count"] = counts[RAW].get(next(iter(run_days)), 0)
        in_warehouse = counted_in_warehouse(warehouse, batch)
        return MaterializeResult(metadata=metadata, check_results=_checks(batch, in_warehouse))

    return [web_events_raw]


RAW = "raw"


def _run_days(context: AssetExecutionContext) -> list[dt.date]:
    start, end = context.partition_time_window
    days, day = [], start.date()
    while dt.datetime.combine(day, dt.time(), start.tzinfo) < end:
        days.append(day)
        day += dt.timedelta(days=1)
    return days


def _counts(warehouse: WarehouseResource, days: list[dt.date]) -> dict[str, dict]:
    """Rows per day now in ``raw.web_events`` and ``quarantine.web_events``."""
    counts: dict[str, dict] = {RAW: {}, QUARANTINE_SCHEMA_NAME: {}}
    if not days:
        return counts
    listed = ", ".join(f"date '{d.isoformat()}'" for d in sorted(set(days)))
    for schema in counts:
        if not warehouse.table_exists(schema, WEB_EVENTS.name):
            continue
        rows = warehouse.query(
            f'select "{PARTITION_COLUMN}" as d, count(*) as n from "{schema}"."{WEB_EVENTS.name}" '
            f'where "{PARTITION_COLUMN}" in ({listed}) group by 1'
        )
        counts[schema] = {row["d"]: row["n"] for row in rows}
    return counts


def _metadata(batch: MicroBatch, lag, now: dt.datetime, backend: str) -> dict:
    screening = batch.screening
    metadata = {
        "batch_id": batch.batch_id,
        "broker": backend,
        "messages_delivered": batch.delivered,
        "messages_already_loaded": batch.redelivered,
        "rows_loaded": batch.loaded,
        "rows_quarantined": batch.quarantined,
        "consumer_pending": lag.pending,
        "consumer_oldest_pending_seconds": round(lag.oldest_age_seconds(now) or 0.0, 1),
        "days_touched": MetadataValue.json([d.isoformat() for d in batch.days]),
        "lake_files": MetadataValue.json(batch.lake_files[:100]),
        "warehouse_table": WEB_EVENTS.table,
        "quarantine_table": f"{QUARANTINE_SCHEMA_NAME}.{WEB_EVENTS.name}",
        "dagster/column_schema": WEB_EVENTS.table_schema,
    }
    if screening is not None and screening.clean.num_rows:
        published = screening.clean["published_at"]
        newest = max(screening.clean["event_time"].to_pylist())
        oldest_published = min(published.to_pylist())
        loaded_at = now.astimezone(dt.UTC).replace(tzinfo=None)
        metadata["newest_event_time"] = newest.isoformat() + "Z"
        metadata["max_publish_to_load_seconds"] = round(
            (loaded_at - oldest_published).total_seconds(), 1
        )
    if screening is not None:
        metadata["quarantined_by_rule"] = MetadataValue.json(dict(screening.failures_by_rule))
    return metadata


def _checks(batch: MicroBatch, in_warehouse: tuple[int, int]) -> list:
    """The three blocking checks of a raw asset, over this batch: the contract (WARN when
    messages were quarantined: a stream never holds a partition back), conservation (messages
    read = rows this batch added to the raw table + to the quarantine), the payload's fields
    against the contract (an added field is reported, not loaded). The conservation figures are
    counted in the warehouse after the write."""
    tally = Tally()
    screening = batch.screening
    if screening is not None:
        tally.read.update(screening.read)
        tally.quarantined.update(screening.quarantined)
        tally.failures_by_rule.update(screening.failures_by_rule)
        tally.sample = screening.sample
    loaded = {None: in_warehouse[0]}
    quarantined = {None: in_warehouse[1]}
    flat = Tally(read={None: batch.read})
    reports = []
    if batch.added_fields:
        reports.append(SchemaReport(source="web events", added=sorted(batch.added_fields)))
    return [
        contract_result(tally, 100),
        conservation_result(flat, loaded, quarantined),
        schema_drift_result(WEB_EVENTS, reports),
    ]
