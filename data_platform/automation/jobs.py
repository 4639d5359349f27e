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
# The incremental facts partitioned by day (dbt tag "daily").
DAILY_FACTS = [AssetKey(["marts", "fct_orders"]), AssetKey(["marts", "fct_daily_store_sales"])]
DBT_MODELS = AssetSelection.groups("staging", "marts")
# Everything below the reference data but the event-time ingests, which depend on it only to
# check their rows' references (they are re-checked when their own partitions run).
REFERENCE_DOWNSTREAM = AssetSelection.assets(*REFERENCE_RAW).downstream() - AssetSelection.assets(
    *SHOP_RAW, *TWEETS_RAW
)

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

# What the landing sensor launches when files arrive. The daily facts below the reference
# data (store names, product flags, supply costs) are restated over the partition range the
# sensor gives the run; without one the sensor leaves them out (see landing_sensor).
reference_files_job = define_asset_job(
    "reference_files_job",
    selection=REFERENCE_DOWNSTREAM,
    description=(
        "Products, stores and supplies from the landing zone, and every model below; the daily "
        "facts over the run's partition range."
    ),
)
tweets_files_job = define_asset_job(
    "tweets_files_job",
    selection=AssetSelection.assets(*TWEETS_RAW).downstream(),
    description="Tweets from the landing zone for a range of days, and every model below.",
)

# For when model logic changes: every dbt model rebuilt from the whole history
# (dbt build --full-refresh), apart from the incremental path. Launch it over the partition
# range that holds data (the CLI: data-platform run --full-refresh).
full_refresh_job = define_asset_job(
    "full_refresh_job",
    selection=DBT_MODELS,
    config={
        "ops": {
            name: {"config": {"full_refresh": True}}
            for name in ("jaffle_shop_dbt", "jaffle_shop_daily_dbt")
        }
    },
    description="Every dbt model rebuilt from the whole history (dbt build --full-refresh).",
)
