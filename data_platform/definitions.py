"""The code location: every source's assets and automation, the dbt models, the checks, the
platform's jobs and schedules, the operations group, and the resources, built from the
settings.

Importing this module changes nothing: Dagster (``dagster dev``, ``dg``, the run workers)
calls :func:`defs` when it loads the code location, and tests call :func:`build_definitions`
with settings of their own.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from dagster import (
    AnchorBasedFilePathMapping,
    AssetChecksDefinition,
    BetaWarning,
    Definitions,
    definitions,
    in_process_executor,
    link_code_references_to_git,
    with_source_code_references,
)

from data_platform.alerts import ALERT_SCHEDULES, ALERT_SENSORS
from data_platform.automation.declarative import dbt_automation_sensor
from data_platform.automation.jobs import JOBS
from data_platform.automation.operations import operations_job, operations_schedule
from data_platform.automation.retention import build_retention_schedule, run_retention_job
from data_platform.automation.schedules import daily_schedule
from data_platform.core.partitions import daily_partitions
from data_platform.core.settings import PROJECT_ROOT, Settings
from data_platform.operations.assets import build_operations_assets, freshness_policies
from data_platform.quality.schema_checks import schema_change_checks
from data_platform.resources import platform_resources
from data_platform.resources.dbt import prepare_manifest_if_stale
from data_platform.sources import SOURCES
from data_platform.transformation.dbt_assets import build_dbt_assets, mart_keys


def build_definitions(
    settings: Settings, resources: Mapping[str, Any] | None = None
) -> Definitions:
    """The definitions for ``settings``, with ``resources`` (by key) in place of those the
    settings give (a test's quality policy, say); raises ``FileNotFoundError`` when the dbt
    manifest has not been prepared (``data-platform prepare``)."""
    with warnings.catch_warnings():
        # Beta in Dagster 1.13, and relied on: BackfillPolicy on assets (a range of days is
        # one run) and code references (the UI links each asset to its file).
        warnings.filterwarnings("ignore", category=BetaWarning)
        built = [a for source in SOURCES for a in source.build_assets(settings)]
        # A source's checks beside its assets (lake_files) go to asset_checks, unchanged.
        raw_checks = [a for a in built if isinstance(a, AssetChecksDefinition)]
        raw_assets = [a for a in built if not isinstance(a, AssetChecksDefinition)]
        dbt_assets = build_dbt_assets(daily_partitions(settings.partition_start.isoformat()))
        # The operations group measures the freshness of every other asset.
        watched = freshness_policies([*raw_assets, *dbt_assets])
        operations = build_operations_assets(settings, watched)
        # dbt assets reference their .sql file (the translator's); Python assets their function.
        python_assets = [*raw_assets, *operations]
        assets = [*with_source_code_references(python_assets), *dbt_assets]
        if settings.git_url:
            assets = link_code_references_to_git(
                assets,
                git_url=settings.git_url,
                git_branch=settings.git_branch,
                file_path_mapping=AnchorBasedFilePathMapping(
                    local_file_anchor=PROJECT_ROOT, file_anchor_path_in_repository=""
                ),
            )
    return Definitions(
        assets=assets,
        # Raw assets record their contract's columns, the dbt steps each mart's.
        asset_checks=[
            *raw_checks,
            *schema_change_checks([*raw_assets, *mart_keys(dbt_assets)]),
        ],
        jobs=[
            *JOBS,
            *(job for source in SOURCES for job in source.jobs),
            run_retention_job,
            operations_job,
        ],
        schedules=[
            daily_schedule,
            build_retention_schedule(settings),
            operations_schedule,
            *ALERT_SCHEDULES,
        ],
        sensors=[
            *(sensor for source in SOURCES for sensor in source.sensors),
            dbt_automation_sensor,
            *ALERT_SENSORS,
        ],
        # One process per run: steps share the loaded code (a step process costs seconds of
        # imports), and a run never opens the DuckDB file from two processes at once.
        executor=in_process_executor,
        resources={**platform_resources(settings), **(resources or {})},
    )


@definitions
def defs() -> Definitions:
    """The code location of the process's settings (what Dagster loads)."""
    settings = Settings.from_environ()
    if settings.dagster_dev:
        # Under dagster dev / dg dev an edited model shows after "Reload definitions".
        prepare_manifest_if_stale(settings)
    return build_definitions(settings)
