"""The one ``@asset`` decorator every raw ingest shares, derived from its dataset's contract."""

from __future__ import annotations

from dagster import BackfillPolicy, PartitionsDefinition, asset

from data_platform.core.datasets import Dataset, raw_key
from data_platform.quality import freshness
from data_platform.quality.raw_checks import check_specs

OWNERS = ["team:data-platform"]
GROUP = "ingestion"
# Every writer of the warehouse takes this pool; deploy/dagster.yaml limits it to one slot because
# DuckDB allows a single writing process (a PostgreSQL warehouse may raise the limit).
WAREHOUSE_POOL = "warehouse"
FRESHNESS = {"daily": freshness.DAILY_INGEST, "on_delivery": freshness.REFERENCE_INGEST}


def raw_asset(
    dataset: Dataset,
    origin: str,
    kinds: set[str],
    partitions_def: PartitionsDefinition | None = None,
):
    """The ``@asset`` decorator of raw ``dataset``: key ``raw/<name>``, a description from the
    contract and ``origin`` (where the rows come from), group, owners, the warehouse pool, the
    three blocking checks, the freshness policy of its cadence, and for daily partitions a
    single-run backfill policy (a range of days is one run). The dimensions the dataset's rows
    must point at are upstream (``deps``): they load first."""
    description = (
        f"{dataset.description} From {origin}. Table {dataset.table}; rows failing the "
        f"contract go to quarantine.{dataset.name} with their reason."
    )
    return asset(
        key=dataset.asset_key,
        description=description,
        group_name=GROUP,
        owners=OWNERS,
        kinds=kinds,
        pool=WAREHOUSE_POOL,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run() if partitions_def else None,
        check_specs=check_specs(dataset),
        deps=[raw_key(r.dataset) for r in dataset.references],
        freshness_policy=FRESHNESS[dataset.cadence],
        # The contract's columns with their descriptions, shown before the first load too.
        metadata={
            "dagster/column_schema": dataset.table_schema,
            "dagster/table_name": dataset.table,
        },
    )
