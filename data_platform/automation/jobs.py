"""The platform's jobs across sources: named selections of the asset graph that the daily
schedule and the command line launch. A source's own jobs (those its sensor launches) live in
its folder."""

from __future__ import annotations

from dagster import AssetCheckKey, AssetSelection, define_asset_job

from data_platform.automation.operations import OPERATIONS
from data_platform.quality.lake_checks import LAKE_FILES_CHECK
from data_platform.sources import DATASETS
from data_platform.sources.web_events.jobs import STREAM
from data_platform.transformation.combined_build import ONE_INVOCATION, ONE_INVOCATION_TAG
from data_platform.transformation.dbt_assets import DBT_STEPS, GROUP_BY_FOLDER, OPERATIONS_GROUP

# The raw datasets the daily runs extract (cadence "daily"); reference data arrives by file.
DAILY_DATASETS = [d for d in DATASETS if d.cadence == "daily"]
DAILY_RAW = AssetSelection.assets(*(d.asset_key for d in DAILY_DATASETS))
# The data models; the operations models are operations_job's (automation/operations.py).
DBT_MODELS = AssetSelection.groups(*sorted(set(GROUP_BY_FOLDER.values()) - {OPERATIONS_GROUP}))
# The lake_files check of every batch raw asset: a full refresh reads every raw partition.
LAKE_CHECKS = AssetSelection.checks(
    *(AssetCheckKey(d.asset_key, LAKE_FILES_CHECK) for d in DATASETS if d.cadence != "streaming")
)
# These jobs select the daily dbt step whole and the unpartitioned one with every check of its
# models: their runs build both in one dbt invocation (transformation/combined_build.py)
# unless a run selects a subset itself.
ONE_DBT_INVOCATION = {ONE_INVOCATION_TAG: ONE_INVOCATION}

# The whole batch graph; the CLI runs it over every partition present in the data. The live
# layer (the event stream and its models) runs in its own micro-batches (web_events_job), the
# operations group (platform health) on its own schedule (operations_job).
all_assets_job = define_asset_job(
    "all_assets_job",
    tags=ONE_DBT_INVOCATION,
    selection=AssetSelection.all() - STREAM - OPERATIONS,
    description=(
        "Every batch ingest and every dbt model but the live layer's, over the partitions "
        "given to the run."
    ),
)

# What the daily schedule runs for yesterday's partition: the daily ingests and all below.
daily_job = define_asset_job(
    "daily_job",
    tags=ONE_DBT_INVOCATION,
    selection=DAILY_RAW.downstream() - STREAM,
    description=(
        f"One day of {', '.join(d.name for d in DAILY_DATASETS if d.partitioned)} (and "
        f"{', '.join(d.name for d in DAILY_DATASETS if not d.partitioned)} in full), and every "
        "model below."
    ),
)

# For when model logic changes: every dbt model rebuilt from the whole history
# (dbt build --full-refresh), apart from the incremental path. Launch it over the partition
# range that holds data (the CLI: data-platform run --full-refresh). The raw assets' blocking
# lake_files checks run first: no model is rebuilt from a lake that disagrees with the warehouse.
full_refresh_job = define_asset_job(
    "full_refresh_job",
    tags=ONE_DBT_INVOCATION,
    selection=DBT_MODELS | LAKE_CHECKS,
    config={"ops": {name: {"config": {"full_refresh": True}} for name in DBT_STEPS}},
    description="Every dbt model rebuilt from the whole history (dbt build --full-refresh).",
)

JOBS = (all_assets_job, daily_job, full_refresh_job)
