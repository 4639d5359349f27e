"""Jobs: named selections of the asset graph that schedules, sensors and the CLI launch."""

from __future__ import annotations

from dagster import AssetKey, AssetSelection, define_asset_job

from data_platform.ingestion import contracts

SHOP_RAW = [
    AssetKey(["raw", d.name])
    for d in (contracts.CUSTOMERS, contracts.ORDERS, contracts.ORDER_ITEMS)
]
REFERENCE_RAW = [
    AssetKey(["raw", d.name]) for d in (contracts.PRODUCTS, contracts.STORES, contracts.SUPPLIES)
]
TWEETS_RAW = [AssetKey(["raw", contracts.TWEETS.name])]

# The whole graph; the CLI runs it over every partition present in the data.
all_assets_job = define_asset_job(
    "all_assets_job",
    selection=AssetSelection.all(),
    description="Every raw ingest and every dbt model, over the partitions given to the run.",
)

# What the daily schedule runs for yesterday's partition: the event-time ingests and all below.
daily_job = define_asset_job(
    "daily_job",
    selection=AssetSelection.assets(*SHOP_RAW, *TWEETS_RAW).downstream(),
    description="One day of orders, order items and tweets (plus customers), and every model below.",
)

# What the landing sensor launches when files arrive.
reference_files_job = define_asset_job(
    "reference_files_job",
    selection=AssetSelection.assets(*REFERENCE_RAW).downstream(),
    description="Products, stores and supplies from the landing zone, and every model below.",
)
tweets_files_job = define_asset_job(
    "tweets_files_job",
    selection=AssetSelection.assets(*TWEETS_RAW).downstream(),
    description="Tweets from the landing zone for a range of days, and every model below.",
)
