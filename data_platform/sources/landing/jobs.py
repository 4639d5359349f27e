"""The jobs the landing sensor launches: the raw assets of the landed files, nothing else."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from data_platform.sources.landing.datasets import DAILY, REFERENCE

REFERENCE_RAW = AssetSelection.assets(*(d.asset_key for d in REFERENCE))
DAILY_RAW = AssetSelection.assets(*(d.asset_key for d in DAILY))

# Raw assets only: the models below follow by declarative automation (their conditions:
# data_platform/transformation/automation_conditions.py; the dbt_automation_sensor), the
# daily facts restated over every day they hold when reference data changes.
reference_files_job = define_asset_job(
    "reference_files_job",
    selection=REFERENCE_RAW,
    description=(
        "Products, stores and supplies from the landing zone (the models below follow by "
        "declarative automation)."
    ),
)
tweets_files_job = define_asset_job(
    "tweets_files_job",
    selection=DAILY_RAW,
    description=(
        "Tweets from the landing zone for a range of days (the models below follow by "
        "declarative automation)."
    ),
)

JOBS = (reference_files_job, tweets_files_job)
