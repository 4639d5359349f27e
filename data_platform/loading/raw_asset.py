"""The one ``@asset`` decorator every raw ingest shares, derived from its dataset's contract,
its retry policy, and the ``lake_files`` check beside it.

Faults, one policy (:data:`RAW_RETRY_POLICY`): whatever a raw step raises comes out as a fault
of :mod:`data_platform.resources.faults`, redacted; a transient one (a connection reset or
refused, a timeout, the DuckDB file locked) is retried with exponential backoff and jitter, a
permanent one (credentials refused, a missing object or bucket, bad input, a full disk) fails
the step at once, without spending a retry.
"""

# No "from __future__ import annotations": Dagster checks the context annotation at runtime.

import datetime as dt
import functools
import re

import pyarrow as pa
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    BackfillPolicy,
    Backoff,
    Jitter,
    PartitionsDefinition,
    RetryPolicy,
    asset,
    asset_check,
)

from data_platform.core.datasets import PARTITION_COLUMN, Dataset, raw_key
from data_platform.core.lake_layout import RAW, raw_partition_path, raw_table_path
from data_platform.core.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from data_platform.quality import freshness
from data_platform.quality.lake_checks import (
    LAKE_FILES_CHECK,
    UNREADABLE,
    LakeFileState,
    lake_files_description,
    lake_files_result,
)
from data_platform.quality.raw_checks import check_specs
from data_platform.resources.faults import faults
from data_platform.resources.lake import LakeResource
from data_platform.resources.warehouse import WarehouseResource

OWNERS = ["team:data-platform"]
GROUP = "ingestion"
# Every writer of the warehouse takes this pool; deploy/dagster.yaml limits it to one slot because
# DuckDB allows a single writing process (a PostgreSQL warehouse may raise the limit).
WAREHOUSE_POOL = "warehouse"
FRESHNESS = {
    "daily": freshness.DAILY_INGEST,
    "on_delivery": freshness.REFERENCE_INGEST,
    "streaming": freshness.STREAM_INGEST,
}
# Transient faults only (permanent ones are Failure(allow_retries=False)): 2 more attempts,
# about 2 s then 4 s apart (+-2 s of jitter, so concurrent runs do not retry in step). With the
# warehouse's own lock wait of 5 s an attempt, a held DuckDB file fails the step in about 25 s.
RAW_RETRY_POLICY = RetryPolicy(
    max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


def raw_asset(
    dataset: Dataset,
    origin: str,
    kinds: set[str],
    partitions_def: PartitionsDefinition | None = None,
    monitored: bool = False,
):
    """The ``@asset`` decorator of raw ``dataset``: key ``raw/<name>``, a description from the
    contract and ``origin`` (where the rows come from), group, owners, the warehouse pool, the
    three blocking checks, the freshness policy of its cadence, the retry policy, and for
    daily partitions a single-run backfill policy (a range of days is one run); with
    ``monitored`` the pipeline monitor's checks (a daily batch ingest: ``load_daily``). The dimensions
    the dataset's rows must point at are upstream (``deps``): they load first. Every error the
    body raises reaches Dagster as a redacted fault (module docstring)."""
    description = (
        f"{dataset.description} From {origin}. Table {dataset.table}; rows failing the "
        f"contract go to quarantine.{dataset.name} with their reason."
    )
    decorator = asset(
        key=dataset.asset_key,
        description=description,
        group_name=GROUP,
        owners=OWNERS,
        kinds=kinds,
        pool=WAREHOUSE_POOL,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run() if partitions_def else None,
        check_specs=check_specs(dataset, monitored),
        deps=[raw_key(r.dataset) for r in dataset.references],
        freshness_policy=FRESHNESS[dataset.cadence],
        retry_policy=RAW_RETRY_POLICY,
        # The contract's columns with their descriptions, shown before the first load too.
        metadata={
            "dagster/column_schema": dataset.table_schema,
            "dagster/table_name": dataset.table,
        },
    )

    def wrap(body):
        # functools.wraps keeps the signature: Dagster reads the context and resources off it.
        @functools.wraps(body)
        def translated(*args, **kwargs):
            with faults(f"raw.{dataset.name}"):
                return body(*args, **kwargs)

        return decorator(translated)

    return wrap


def lake_files_check(dataset: Dataset) -> AssetChecksDefinition:
    """The blocking ``lake_files`` check of raw ``dataset`` (see
    :mod:`data_platform.quality.lake_checks`): runs after the asset in every run that
    materializes it, over the run's partitions, and alone (``full_refresh_job``) over all."""

    @asset_check(
        asset=dataset.asset_key,
        name=LAKE_FILES_CHECK,
        description=lake_files_description(dataset),
        blocking=True,
        pool=WAREHOUSE_POOL,
        retry_policy=RAW_RETRY_POLICY,
    )
    def _check(
        context: AssetCheckExecutionContext, lake: LakeResource, warehouse: WarehouseResource
    ) -> AssetCheckResult:
        with faults(f"lake_files of raw.{dataset.name}"):
            result = verify_lake_files(dataset, lake, warehouse, run_days(context.run.tags))
        if not result.passed:
            # The console and the run's log name the files, not only the check.
            context.log.error(f"lake_files of raw.{dataset.name}: {result.description}")
        return result

    return _check


def run_days(tags: dict[str, str]) -> tuple[dt.date, dt.date] | None:
    """The first and last day of a run's partitions from its tags, or ``None`` (a run
    without partitions)."""
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return dt.date.fromisoformat(tags[RANGE_START_TAG]), dt.date.fromisoformat(
            tags[RANGE_END_TAG]
        )
    if PARTITION_TAG in tags:
        day = dt.date.fromisoformat(tags[PARTITION_TAG])
        return day, day
    return None


def verify_lake_files(
    dataset: Dataset,
    lake: LakeResource,
    warehouse: WarehouseResource,
    days: tuple[dt.date, dt.date] | None,
) -> AssetCheckResult:
    """The ``lake_files`` result of ``dataset`` for the partitions ``days`` (first, last),
    or for every partition either side holds (``None``)."""
    counts = _warehouse_counts(dataset, warehouse, days)
    if not dataset.partitioned:
        paths = {None: raw_table_path(dataset.name)}
    elif days is not None:
        span = (days[1] - days[0]).days + 1
        every = [days[0] + dt.timedelta(days=i) for i in range(span)]
        paths = {day: raw_partition_path(dataset.name, day) for day in every}
    else:
        listed = {f.path for f in lake.list_files(f"{RAW}/{dataset.name}/")}
        paths = {
            day: raw_partition_path(dataset.name, day)
            for day in {*_days_of(dataset, listed), *(p for p in counts if p is not None)}
        }
    return lake_files_result(dataset, [_footer(lake, p, path) for p, path in paths.items()], counts)


def _footer(lake: LakeResource, partition, path: str) -> LakeFileState:
    try:
        return LakeFileState(path, partition, lake.parquet_rows(path))
    except FileNotFoundError:
        return LakeFileState(path, partition, None)
    except (pa.ArrowInvalid, OSError) as error:
        # pyarrow says "magic bytes not found" or "file size ... too small": both a cut file.
        problem = UNREADABLE if isinstance(error, pa.ArrowInvalid) else f"unreadable: {error}"
        return LakeFileState(path, partition, None, problem)


def _days_of(dataset: Dataset, paths: set[str]) -> list[dt.date]:
    layout = re.compile(
        rf"{RAW}/{dataset.name}/date=(\d{{4}}-\d{{2}}-\d{{2}})/{dataset.name}\.parquet"
    )
    return [dt.date.fromisoformat(m[1]) for p in paths if (m := layout.fullmatch(p))]


def _warehouse_counts(dataset: Dataset, warehouse: WarehouseResource, days) -> dict:
    if not warehouse.table_exists("raw", dataset.name):
        return {}
    if not dataset.partitioned:
        return {None: warehouse.query(f"select count(*) as n from {dataset.table}")[0]["n"]}
    where = (
        f" where \"{PARTITION_COLUMN}\" between date '{days[0]}' and date '{days[1]}'"
        if days
        else ""
    )
    rows = warehouse.query(
        f'select "{PARTITION_COLUMN}" as p, count(*) as n from {dataset.table}{where} group by 1'
    )
    return {row["p"]: row["n"] for row in rows}
