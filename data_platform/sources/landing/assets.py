"""Raw ingests of files landing in the lake: products, stores, supplies (CSV), tweets (JSONL).

Reference data is replaced in full from its one CSV; tweets are daily-partitioned by the day
of their file (``landing/tweets/YYYY-MM-DD.jsonl``). A day without a file is an empty
partition. Files are read record by record (:mod:`data_platform.loading.file_formats`).
"""

# No "from __future__ import annotations": Dagster checks the context annotation at runtime.

import datetime as dt

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult

from data_platform.core.datasets import Dataset
from data_platform.core.lake_layout import landing_daily_path, landing_reference_path
from data_platform.core.partitions import daily_partitions
from data_platform.core.settings import Settings
from data_platform.loading.batches import files_batch
from data_platform.loading.file_formats import read_csv, read_jsonl
from data_platform.loading.loader import load_daily, load_whole
from data_platform.loading.raw_asset import lake_files_check, raw_asset
from data_platform.resources.lake import LakeResource
from data_platform.resources.quality_policy import QualityPolicy
from data_platform.resources.warehouse import WarehouseResource
from data_platform.sources.landing.datasets import DAILY, REFERENCE


def _reference_asset(dataset: Dataset, kinds: set[str]) -> AssetsDefinition:
    path = landing_reference_path(dataset.name)

    @raw_asset(dataset, f"the landing file {path}", {"csv", *kinds})
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


def _daily_asset(dataset: Dataset, kinds: set[str], partitions) -> AssetsDefinition:
    folder = f"landing/{dataset.name}/"

    @raw_asset(
        dataset,
        f"one JSON Lines file per day in {folder}",
        {"json", *kinds},
        partitions,
    )
    def _asset(
        context: AssetExecutionContext,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ) -> MaterializeResult:
        def extract(days: list[dt.date]):
            files = []
            for day in days:
                path = landing_daily_path(dataset.name, day)
                if lake.exists(path):
                    parsed = read_jsonl(lake.read_bytes(path), path, dataset.source_schema.names)
                    files.append((parsed, day))
            return files_batch(dataset, files, days)

        # Not monitored: the tweets' volume follows the shop's marketing (a year of jafgen
        # halves it for weeks in September), so a volume rule would page for the data.
        return load_daily(context, dataset, extract, lake, warehouse, quality, monitored=False)

    return _asset


def build_assets(settings: Settings) -> list[AssetsDefinition]:
    """The landing-file ingests: one per reference dataset, one per daily dataset (daily
    partitions from the settings' start); the warehouse engine shows among their kinds."""
    kinds = {"parquet", settings.warehouse.engine}
    partitions = daily_partitions(settings.partition_start.isoformat())
    return [
        *(_reference_asset(d, kinds) for d in REFERENCE),
        *(_daily_asset(d, kinds, partitions) for d in DAILY),
        *(lake_files_check(d) for d in (*REFERENCE, *DAILY)),
    ]
