"""The dbt project as software-defined assets.

Every dbt model is an asset: ``stg_*`` views in group ``staging``, ``int_*`` helpers and the
``dim_*``/``fct_*`` tables in group ``marts``. dbt sources resolve to the raw ingest assets
(``meta.dagster.asset_key`` in ``models/staging/_sources.yml``), so the graph has one node per
table. dbt tests are asset checks; a failing error-severity test makes ``dbt build`` skip the
models below it.

Two multi-assets share the project:

- ``jaffle_shop_daily_dbt``: the models tagged ``daily`` (``fct_orders``,
  ``fct_daily_store_sales``), daily-partitioned like the raw orders. Dagster passes the run's
  partition window as the dbt vars ``min_date``/``max_date``; the models are incremental and
  replace exactly those days (incremental strategy ``partition_window``).
- ``jaffle_shop_dbt``: every other model, unpartitioned: views, and tables rebuilt in full
  (``dim_customers`` and ``fct_customer_activity`` need every order of a customer).

Both take the ``warehouse`` pool. ``full_refresh: true`` in a run's config rebuilds the
selected models from the whole history (``dbt build --full-refresh``): the action for when a
model's logic changes (see ``full_refresh_job``).
"""

import json
from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    Config,
    PartitionsDefinition,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from data_platform.ingestion.partitions import dbt_partition_vars
from data_platform.ingestion.raw_loading import WAREHOUSE_POOL
from data_platform.quality import freshness
from data_platform.settings import DBT_PROJECT_DIR

# Folder under models/ -> Dagster asset group.
GROUP_BY_FOLDER = {"staging": "staging", "intermediate": "marts", "marts": "marts"}
# dbt tag of the incremental models partitioned by day.
DAILY_TAG = "daily"
DBT_ASSETS = "jaffle_shop_dbt"
DAILY_DBT_ASSETS = "jaffle_shop_daily_dbt"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class PlatformDbtTranslator(DagsterDbtTranslator):
    """Groups dbt models by their folder (see :data:`GROUP_BY_FOLDER`); gives the marts
    (``dim_*``, ``fct_*``) their freshness policy."""

    def get_asset_spec(self, manifest, unique_id, project) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id, {})
        if node.get("resource_type") == "model" and node["name"].startswith(("dim_", "fct_")):
            spec = spec.replace_attributes(freshness_policy=freshness.MARTS)
        return spec

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return GROUP_BY_FOLDER.get(fqn[1], "marts")
        return super().get_group_name(dbt_resource_props)


class DbtBuildConfig(Config):
    """Run configuration of the dbt steps."""

    full_refresh: bool = False
    """Rebuild the selected models from the whole history (``dbt build --full-refresh``)."""


def build_args(config: DbtBuildConfig, dbt_vars: Mapping[str, str] | None = None) -> list[str]:
    """The ``dbt`` arguments of a step (pure; unit-tested)."""
    args = ["build"]
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars), sort_keys=True)]
    if config.full_refresh:
        args.append("--full-refresh")
    return args


def build_dbt_assets(partitions_def: PartitionsDefinition):
    """The two dbt multi-assets, read from the prepared manifest (``data-platform prepare``);
    the daily models take ``partitions_def`` (the raw orders' daily partitions)."""
    common = {
        "manifest": dbt_project.manifest_path,
        "project": dbt_project,
        "dagster_dbt_translator": PlatformDbtTranslator(),
        "pool": WAREHOUSE_POOL,
    }

    @dbt_assets(name=DBT_ASSETS, exclude=f"tag:{DAILY_TAG}", **common)
    def jaffle_shop_dbt(
        context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig
    ):
        """Builds (runs and tests) the selected unpartitioned models."""
        yield from dbt.cli(build_args(config), context=context).stream()

    @dbt_assets(
        name=DAILY_DBT_ASSETS,
        select=f"tag:{DAILY_TAG}",
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        **common,
    )
    def jaffle_shop_daily_dbt(
        context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig
    ):
        """Builds (runs and tests) the daily models for the run's partition window."""
        start, end = context.partition_time_window
        args = build_args(config, dbt_partition_vars(start, end))
        yield from dbt.cli(args, context=context).stream()

    return [jaffle_shop_dbt, jaffle_shop_daily_dbt]
