"""Raw ingests of files landing in the lake: products, stores, supplies (CSV), tweets (JSONL).

Reference data (products, stores, supplies) arrives as one CSV per dataset and is replaced in
full; tweets arrive as one JSON Lines file per day (``landing/tweets/YYYY-MM-DD.jsonl``) and
are daily-partitioned by that day. A day without a file is an empty partition.
"""

import datetime as dt
import io

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
from dagster import AssetExecutionContext, MaterializeResult

from data_platform.ingestion import contracts
from data_platform.ingestion.contracts import PARTITION_COLUMN, RawDataset
from data_platform.ingestion.partitions import daily_partitions
from data_platform.ingestion.raw_loading import (
    load_daily,
    load_whole,
    raw_asset,
)
from data_platform.lake_layout import landing_daily_path, landing_reference_path
from data_platform.quality import freshness
from data_platform.resources.lake import LakeResource
from data_platform.resources.warehouse import DUCKDB, WarehouseResource

REFERENCE = (contracts.PRODUCTS, contracts.STORES, contracts.SUPPLIES)


def read_reference_csv(data: bytes, dataset: RawDataset) -> pa.Table:
    """Parse a reference CSV with the dataset's column types; raises ``pyarrow.ArrowInvalid``."""
    schema = dataset.source_schema
    return pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(
            column_types=schema, include_columns=schema.names, strings_can_be_null=False
        ),
    )


def read_daily_jsonl(data: bytes, dataset: RawDataset, day: dt.date) -> pa.Table:
    """Parse one day's JSON Lines file; adds ``_partition_date`` = ``day``."""
    schema = dataset.source_schema
    table = pajson.read_json(
        io.BytesIO(data),
        parse_options=pajson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        ),
    ).select(schema.names)
    return table.append_column(PARTITION_COLUMN, pa.array([day] * table.num_rows, pa.date32()))


def _reference_asset(dataset: RawDataset, warehouse_engine: str):
    path = landing_reference_path(dataset.name)
    columns = ", ".join(f"{f.name} ({f.type})" for f in dataset.source_schema)

    @raw_asset(
        dataset,
        description=(
            f"{dataset.name.capitalize()} reference data from the landing file {path}, "
            f"replaced in full. One row per {' + '.join(dataset.key)}: {columns}; money in "
            f"integer cents. Table raw.{dataset.name}."
        ),
        kinds={"csv", "parquet", warehouse_engine},
        freshness_policy=freshness.REFERENCE_INGEST,
    )
    def _asset(lake: LakeResource, warehouse: WarehouseResource) -> MaterializeResult:
        if not lake.exists(path):
            raise FileNotFoundError(f"landing file {path} is missing from the lake")
        table = read_reference_csv(lake.read_bytes(path), dataset)
        return load_whole(dataset, table, path, lake, warehouse)

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
            "tweeted_at (timestamp, no time zone), content, _partition_date. Table raw.tweets."
        ),
        kinds={"json", "parquet", warehouse_engine},
        partitions_def=partitions,
    )
    def tweets_raw(
        context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
    ) -> MaterializeResult:
        def extract(first: dt.date, last: dt.date):
            parts, sources = [], []
            for offset in range((last - first).days + 1):
                day = first + dt.timedelta(days=offset)
                path = landing_daily_path(contracts.TWEETS.name, day)
                if lake.exists(path):
                    parts.append(read_daily_jsonl(lake.read_bytes(path), contracts.TWEETS, day))
                    sources.append(path)
            if not parts:
                return contracts.TWEETS.schema.empty_table(), "landing/tweets/"
            return pa.concat_tables(parts), f"landing/tweets/ ({len(sources)} files)"

        return load_daily(context, contracts.TWEETS, extract, lake, warehouse)

    return [*(_reference_asset(d, warehouse_engine) for d in REFERENCE), tweets_raw]
