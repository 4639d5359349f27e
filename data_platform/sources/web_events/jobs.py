"""The micro-batch job: ``raw/web_events`` and every model below it (the stream's marts)."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from data_platform.loading.raw_asset import GROUP
from data_platform.sources.web_events.datasets import WEB_EVENTS

# The live layer: the raw stream and every model below it. The batch jobs leave it out (their
# runs carry the batch's daily partitions; a micro-batch's are the stream's, up to today).
STREAM = AssetSelection.assets(WEB_EVENTS.asset_key).downstream()
# The batch models the stream's models join (stg_orders, stg_stores, fct_daily_store_sales):
# built by the batch runs, they must exist before a micro-batch's dbt step can run.
BATCH_INPUTS = STREAM.upstream(depth=1) - STREAM - AssetSelection.groups(GROUP)

web_events_job = define_asset_job(
    "web_events_job",
    selection=STREAM,
    description=(
        "One micro-batch of web events from the broker into raw.web_events, and the stream "
        "models below (5-minute windows, conversion, the live serving view)."
    ),
)

JOBS = (web_events_job,)
