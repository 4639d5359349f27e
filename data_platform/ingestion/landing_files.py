"""Raw ingests of files landing in the lake: products, stores, supplies (CSV), tweets (JSONL).

Reference data (products, stores, supplies) arrives as one CSV per dataset and is replaced in
full; tweets arrive as one JSON Lines file per day (``landing/tweets/YYYY-MM-DD.jsonl``) and
are daily-partitioned by that day. A day without a file is an empty partition.
"""

import datetime as dt

import pyarrow as pa
from dagster import AssetExecutionContext, MaterializeResult

from data_platform.ingestion import contracts
from data_platform.ingestion.contracts import PARTITION_COLUMN, RawDataset
from data_platform.ingestion.file_formats import ParsedFile, read_csv, read_jsonl, to_typed
from data_platform.ingestion.partitions import daily_partitions
from data_platform.ingestion.raw_loading import (
    SchemaReport,
    load_daily,
    load_whole,
    raw_asset,
)
from data_platform.lake_layout import landing_daily_path, landing_reference_path
from data_platform.quality import freshness
from data_platform.quality.policy import QualityPolicy
from data_platform.quality.quarantine import Batch, Partition
from data_platform.resources.lake import LakeResource
from data_platform.resources.warehouse import DUCKDB, WarehouseResource

REFERENCE = (contracts.PRODUCTS, contracts.STORES, contracts.SUPPLIES)


def files_batch(
    dataset: RawDataset, files: list[tuple[ParsedFile, Partition]], partitions: list[Partition]
) -> tuple[Batch, list[SchemaReport]]:
    """The batch of rows of parsed landing files (each with its partition, ``None`` when
    unpartitioned), standing for ``partitions``; and each file's schema report."""
    schema = dataset.source_schema
    tables, sources, lines, originals, failures, held_back, reports = [], [], [], [], {}, {}, []
    for parsed, partition in files:
        typed, type_failures = to_typed(parsed.records, schema)
        offset = len(sources)
        for index in range(typed.num_rows):
            found = parsed.failures.get(index, []) + type_failures.get(index, [])
            if found:
                failures[offset + index] = found
        if dataset.partitioned:
            days = pa.array([partition] * typed.num_rows, pa.date32())
            typed = typed.append_column(PARTITION_COLUMN, days)
        tables.append(typed)
        sources += [parsed.path] * typed.num_rows
        lines += parsed.lines
        originals += parsed.records
        if not parsed.usable:
            held_back[partition] = parsed.file_error
        reports.append(
            SchemaReport(
                parsed.path, parsed.added_columns, parsed.missing_columns, parsed.file_error
            )
        )
    rows = pa.concat_tables(tables) if tables else dataset.schema.empty_table()
    batch = Batch(
        rows.cast(dataset.schema), sources, lines, partitions, failures, originals, held_back
    )
    return batch, reports


def _reference_asset(dataset: RawDataset, warehouse_engine: str):
    path = landing_reference_path(dataset.name)
    columns = ", ".join(f"{f.name} ({f.type})" for f in dataset.source_schema)

    @raw_asset(
        dataset,
        description=(
            f"{dataset.name.capitalize()} reference data from the landing file {path}, "
            f"replaced in full. One row per {' + '.join(dataset.key)}: {columns}; money in "
            f"integer cents. Table raw.{dataset.name}; rows failing the contract go to "
            f"quarantine.{dataset.name}."
        ),
        kinds={"csv", "parquet", warehouse_engine},
        freshness_policy=freshness.REFERENCE_INGEST,
    )
    def _asset(
        context: AssetExecutionContext,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ) -> MaterializeResult:
        if not lake.exists(path):
            raise FileNotFoundError(f"landing file {path} is missing from the lake")
        parsed = read_csv(lake.read_bytes(path), path, dataset.source_schema.names)
        for note in parsed.notes:
            context.log.info(f"{path}: {note}")
        batch, reports = files_batch(dataset, [(parsed, None)], [None])
        return load_whole(context, dataset, batch, lake, warehouse, quality, reports)

    return _asset


def build_landing_assets(start_date: str, warehouse_engine: str = DUCKDB):
    """The four landing-file ingests; tweets have daily partitions from ``start_date``;
    ``warehouse_engine`` (the configured warehouse) shows among the assets' kinds."""
    partitions = daily_partitions(start_date)

    @raw_asset(
        contracts.TWEETS,
        description=(
            "Tweets about the shop, from one JSON Lines file per day in landing/tweets/, "
            "daily-partitioned by that day. One row per tweet: id, user_id (a customer id), "
            "tweeted_at (timestamp, no time zone, on the file's day), content, _partition_date. "
            "Table raw.tweets; rows failing the contract go to quarantine.tweets."
        ),
        kinds={"json", "parquet", warehouse_engine},
        partitions_def=partitions,
    )
    def tweets_raw(
        context: AssetExecutionContext,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ) -> MaterializeResult:
        dataset = contracts.TWEETS

        def extract(days: list[dt.date]):
            files = []
            for day in days:
                path = landing_daily_path(dataset.name, day)
                if lake.exists(path):
                    parsed = read_jsonl(lake.read_bytes(path), path, dataset.source_schema.names)
                    files.append((parsed, day))
            return files_batch(dataset, files, days)

        return load_daily(context, dataset, extract, lake, warehouse, quality)

    return [*(_reference_asset(d, warehouse_engine) for d in REFERENCE), tweets_raw]
