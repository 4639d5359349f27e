"""The jobs the landing sensor launches: what is below a landed file, and nothing else."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from data_platform.loading.raw_asset import GROUP
from data_platform.sources.landing.datasets import DAILY, REFERENCE
from data_platform.sources.web_events.jobs import STREAM

REFERENCE_RAW = AssetSelection.assets(*(d.asset_key for d in REFERENCE))
DAILY_RAW = AssetSelection.assets(*(d.asset_key for d in DAILY))
# Everything below the reference data but the other raw ingests, which depend on it only to
# check their rows' references (they are re-checked when their own partitions run).
# The live layer's models (below the stores and products too) run in its micro-batches.
REFERENCE_DOWNSTREAM = REFERENCE_RAW | (
    REFERENCE_RAW.downstream() - AssetSelection.groups(GROUP) - STREAM
)

# The daily facts below the reference data (store names, product flags, supply costs) are
# restated over the partition range the sensor gives the run; without one the sensor leaves
# them out (see sensor.py).
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
    selection=DAILY_RAW.downstream(),
    description="Tweets from the landing zone for a range of days, and every model below.",
)

JOBS = (reference_files_job, tweets_files_job)
