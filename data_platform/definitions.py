"""The code location: every asset, check, job, schedule, sensor and resource.

Backends are chosen by environment variables (see :mod:`data_platform.settings`); resources
read them through ``EnvVar`` so the UI shows where each value comes from.
"""

from __future__ import annotations

import os
import warnings

from dagster import BetaWarning, Definitions, EnvVar, in_process_executor
from dagster_dbt import DbtCliResource

from data_platform import settings
from data_platform.automation.jobs import (
    all_assets_job,
    daily_job,
    full_refresh_job,
    reference_files_job,
    tweets_files_job,
)
from data_platform.automation.landing_sensor import landing_sensor
from data_platform.automation.retention import run_retention, run_retention_job
from data_platform.automation.schedules import daily_schedule
from data_platform.ingestion.landing_files import build_landing_assets
from data_platform.ingestion.partitions import daily_partitions
from data_platform.ingestion.shop_database import build_shop_assets
from data_platform.quality.policy import QualityPolicy
from data_platform.quality.schema_checks import schema_change_checks
from data_platform.resources import LakeResource, ShopDatabaseResource, WarehouseResource
from data_platform.resources.warehouse import parse_warehouse_url
from data_platform.transformation.dbt_assets import build_dbt_assets, dbt_project, mart_keys

# BackfillPolicy on @asset is marked beta in Dagster 1.13; ranges as one run depend on it.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)


def build_definitions() -> Definitions:
    """Build the definitions from the current environment (defaults filled in)."""
    settings.apply_defaults()
    # Partition definitions need a concrete start date when the code location loads.
    start_date = os.environ[settings.PARTITION_START]
    warehouse_engine = parse_warehouse_url(os.environ[settings.WAREHOUSE_URL]).engine
    dbt_project.prepare_if_dev()
    raw_assets = [
        *build_shop_assets(start_date, warehouse_engine),
        *build_landing_assets(start_date, warehouse_engine),
    ]
    dbt_assets = build_dbt_assets(daily_partitions(start_date))
    return Definitions(
        assets=[*raw_assets, *dbt_assets],
        # Raw assets record their contract's columns, the dbt steps each model's.
        asset_checks=schema_change_checks([*raw_assets, *mart_keys(dbt_assets)]),
        jobs=[
            all_assets_job,
            daily_job,
            reference_files_job,
            tweets_files_job,
            full_refresh_job,
            run_retention_job,
        ],
        schedules=[daily_schedule, run_retention],
        sensors=[landing_sensor],
        # One process per run: steps share the loaded code (a step process costs seconds of
        # imports), and a run never opens the DuckDB file from two processes at once.
        executor=in_process_executor,
        resources={
            "lake": LakeResource(url=EnvVar(settings.LAKE_URL)),
            "shop_db": ShopDatabaseResource(url=EnvVar(settings.SHOP_DB_URL)),
            "warehouse": WarehouseResource(url=EnvVar(settings.WAREHOUSE_URL)),
            "dbt": DbtCliResource(project_dir=dbt_project),
            "quality": QualityPolicy(
                max_quarantine_percent=EnvVar.int(settings.QUARANTINE_MAX_PERCENT)
            ),
        },
    )


defs = build_definitions()
