"""How every raw ingest lands its data: Parquet in the lake's raw zone, then ``raw.<name>``.

Both writes replace whole partitions, so re-running any partition gives the same state:

- the lake gets one Parquet file per daily partition (or one per unpartitioned dataset), each
  written atomically;
- the warehouse replaces the rows of the partitions in one transaction (delete the window,
  insert the batch), or every row when unpartitioned (see ``WarehouseResource.replace_rows``).

Each ingest validates its data against the dataset's pandera contract and reports the result
as the blocking asset check ``raw_contract``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    TableColumn,
    TableSchema,
    asset,
)

from data_platform.ingestion.contracts import PARTITION_COLUMN, RAW_SCHEMA, RawDataset
from data_platform.ingestion.partitions import chunk_days, days_in_window
from data_platform.lake_layout import raw_partition_path, raw_table_path
from data_platform.quality import freshness
from data_platform.quality.raw_contracts import Violations, validate
from data_platform.resources.lake import LakeResource
from data_platform.resources.warehouse import WarehouseResource

OWNERS = ["team:data-platform"]
GROUP = "ingestion"
# Every writer of the warehouse takes this pool; dagster.yaml limits it to one slot because
# DuckDB allows a single writing process (a PostgreSQL warehouse may raise the limit).
WAREHOUSE_POOL = "warehouse"
RAW_CONTRACT_CHECK = "raw_contract"
# Days extracted, validated and loaded together: bounds memory and per-day overhead.
DAYS_PER_BATCH = 31

Extract = Callable[[dt.date, dt.date], tuple[pa.Table, str]]
"""``extract(first_day, last_day_inclusive) -> (rows with _partition_date, source name)``."""


def raw_key(dataset: RawDataset) -> AssetKey:
    return AssetKey([RAW_SCHEMA, dataset.name])


def raw_contract_spec(dataset: RawDataset) -> AssetCheckSpec:
    return AssetCheckSpec(
        RAW_CONTRACT_CHECK,
        asset=raw_key(dataset),
        blocking=True,
        description=(
            f"pandera contract of raw.{dataset.name}: column types, nullability, unique key "
            f"{', '.join(dataset.key)}, value ranges. Blocks downstream models when it fails."
        ),
    )


def raw_asset(
    dataset: RawDataset,
    description: str,
    kinds: set[str],
    partitions_def: PartitionsDefinition | None = None,
    freshness_policy: FreshnessPolicy = freshness.DAILY_INGEST,
):
    """The ``@asset`` decorator every raw ingest shares: key ``raw/<name>``, group, owners,
    the warehouse pool, the blocking ``raw_contract`` check, a freshness policy (daily by
    default), and for daily partitions a single-run backfill policy (a range of days is one
    run)."""
    return asset(
        key=raw_key(dataset),
        description=description,
        group_name=GROUP,
        owners=OWNERS,
        kinds=kinds,
        pool=WAREHOUSE_POOL,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run() if partitions_def else None,
        check_specs=[raw_contract_spec(dataset)],
        freshness_policy=freshness_policy,
    )


def column_schema(schema: pa.Schema) -> TableSchema:
    return TableSchema(columns=[TableColumn(f.name, str(f.type)) for f in schema])


def load_daily(
    context: AssetExecutionContext,
    dataset: RawDataset,
    extract: Extract,
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> MaterializeResult:
    """Load every day of the run's partition window, a batch of days at a time."""
    start, end = context.partition_time_window
    days = days_in_window(start, end)
    violations = Violations()
    rows = 0
    for batch_days in chunk_days(days, DAYS_PER_BATCH):
        batch, source = extract(batch_days[0], batch_days[-1])
        batch = batch.cast(dataset.schema)
        violations.merge(validate(dataset.name, batch, source))
        for day, part in _split_by_day(batch, batch_days):
            lake.write_parquet(raw_partition_path(dataset.name, day), part)
        warehouse.replace_rows(
            RAW_SCHEMA,
            dataset.name,
            batch,
            where=(PARTITION_COLUMN, batch_days[0], batch_days[-1]),
        )
        rows += batch.num_rows
        context.log.info(
            f"raw.{dataset.name}: {batch.num_rows} rows for {batch_days[0]}..{batch_days[-1]}"
        )
    metadata = {
        "rows_loaded": rows,
        "partitions_loaded": len(days),
        "dagster/column_schema": column_schema(dataset.schema),
        "warehouse_table": dataset.table,
        "lake_path": MetadataValue.path(f"raw/{dataset.name}/"),
    }
    if len(days) == 1:
        metadata["dagster/row_count"] = rows
    return MaterializeResult(metadata=metadata, check_results=[_check_result(violations)])


def load_whole(
    dataset: RawDataset,
    table: pa.Table,
    source: str,
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> MaterializeResult:
    """Replace an unpartitioned dataset in the lake and the warehouse with ``table``."""
    table = table.cast(dataset.schema)
    violations = validate(dataset.name, table, source)
    lake.write_parquet(raw_table_path(dataset.name), table)
    warehouse.replace_rows(RAW_SCHEMA, dataset.name, table)
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.num_rows,
            "dagster/column_schema": column_schema(dataset.schema),
            "source": source,
            "warehouse_table": dataset.table,
            "lake_path": MetadataValue.path(raw_table_path(dataset.name)),
        },
        check_results=[_check_result(violations)],
    )


def _split_by_day(batch: pa.Table, days: list[dt.date]) -> Iterator[tuple[dt.date, pa.Table]]:
    # Every day of the window gets a file, empty ones too, so a re-run replaces stale data.
    for day in days:
        mask = pc.equal(batch[PARTITION_COLUMN], pa.scalar(day, pa.date32()))
        yield day, batch.filter(mask)


def _check_result(violations: Violations) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=RAW_CONTRACT_CHECK,
        passed=violations.passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows_checked": violations.rows_checked,
            "failing_rows": violations.failing_rows,
            "failures_by_check": MetadataValue.json(violations.failures_by_check),
            "failing_sample": MetadataValue.json(violations.sample),
        },
    )
