"""The dbt project as software-defined assets.

Every dbt model is an asset: ``stg_*`` views in group ``staging``, ``int_*`` helpers and the
``dim_*``/``fct_*`` tables in group ``marts``. dbt sources resolve to the raw ingest assets
(``meta.dagster.asset_key`` in ``models/staging/_sources.yml``), so the graph has one node per
table. dbt tests are asset checks; a failing error-severity test makes ``dbt build`` skip the
models below it.
"""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from data_platform.ingestion.raw_loading import WAREHOUSE_POOL
from data_platform.settings import DBT_PROJECT_DIR

# Folder under models/ -> Dagster asset group.
GROUP_BY_FOLDER = {"staging": "staging", "intermediate": "marts", "marts": "marts"}

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class PlatformDbtTranslator(DagsterDbtTranslator):
    """Groups dbt models by their folder (see :data:`GROUP_BY_FOLDER`)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return GROUP_BY_FOLDER.get(fqn[1], "marts")
        return super().get_group_name(dbt_resource_props)


def build_dbt_assets():
    """The dbt assets, read from the prepared manifest (``dbt parse``, see the Makefile)."""

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=PlatformDbtTranslator(),
        pool=WAREHOUSE_POOL,
    )
    def jaffle_shop_dbt(context: AssetExecutionContext, dbt: DbtCliResource):
        """Builds (runs and tests) the selected dbt models on the configured target."""
        yield from dbt.cli(["build"], context=context).stream()

    return jaffle_shop_dbt
