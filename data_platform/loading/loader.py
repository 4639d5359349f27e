"""How every raw ingest lands its data: screened, then Parquet in the lake, then the warehouse.

Each batch of rows an ingest reads goes through the quarantine policy
(:mod:`data_platform.quality.quarantine`): clean rows of accepted partitions load, the others
go to quarantine with their reasons. Writes replace whole partitions, so re-running any
partition gives the same state:

- the lake gets one Parquet file per daily partition (or one per unpartitioned dataset) in the
  ``raw/`` zone and, for partitions with quarantined rows, in the ``quarantine/`` zone;
- the warehouse replaces the partitions' rows of ``raw.<name>`` and ``quarantine.<name>`` in
  one transaction (see ``WarehouseResource.replace``). A held-back partition keeps its raw rows.

**Lake and warehouse agree.** A batch's files are written in full first, under temporary names
beside their places (on S3: kept in memory); then the warehouse transaction runs; only after it
commits are the files put in place (local renames; on S3 one PUT each) and the files of
partitions now without quarantined rows deleted (``LakeResource.staged``). So:

- a fault before or during the transaction (the DuckDB file locked, a full disk, a lost
  connection) leaves both at the old state, and the temporary files are removed;
- a fault while placing the files (possible on S3: a PUT failing after the commit) leaves the
  lake *behind* the warehouse for those partitions: the step fails saying so, the ``lake_files``
  check (:mod:`data_platform.quality.lake_checks`) names each file that disagrees, and the
  next run of those partitions rewrites both from the partition's source.

Chosen over an open table format (Delta Lake, Iceberg): one Parquet file per partition is
already the unit of atomic replacement, and the warehouse transaction is the commit point; a
table format would add a second commit log to keep in step with it. The cost is nil: each file
was already written to a temporary name and renamed; now the rename waits for the commit (on
S3 the batch's Parquet bytes, at most :data:`DAYS_PER_BATCH` days, stay in memory meanwhile).
Measured on one year of jafgen (the seven raw assets in-process, local lake, two shared cores
under load): 17.5-25.7 s before (median 20.3), 21.4-26.6 s after (median 22.9), within the
machine's noise; of that the seven ``lake_files`` checks take about 0.5 s (365 footers and one
grouped count take about 0.1 s).

Each file written is recorded (path, rows, bytes, SHA-256): in the materialization
(``lake_files``) for up to :data:`LAKE_FILES_INLINE_MAX` files, else in a manifest in the lake
that the materialization names (``lake_files_manifest``; see ``Loader._lake_files``); the
count and bytes always (``lake_files_count``, ``lake_bytes``). The run's figures end in the
three blocking checks of
:mod:`data_platform.quality.raw_checks`.

Per batch the work is one pass, not one per partition: the rows are ordered by day once and
each day's file is a slice of them (before, each day filtered the whole batch); the warehouse
gets one transaction with one delete and one insert per table; its look-ups (keys loaded in
other partitions, the dimensions' keys) stay Arrow arrays. A step keeps a DuckDB warehouse
open from its first look-up to its result (``WarehouseResource.held``): each batch still
commits its own transaction, but the file is checkpointed once, not at every batch's close
(3 million orders: warehouse load 10.5 s -> 5.6 s, look-ups 2.5 s -> 0.3 s). Measured by
``bench/raw_path.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    DagsterInstance,
    DagsterLogManager,
    MaterializeResult,
    MetadataValue,
)

from data_platform.core.datasets import PARTITION_COLUMN, RAW_SCHEMA, Dataset
from data_platform.core.lake_layout import (
    quarantine_partition_path,
    quarantine_table_path,
    raw_partition_path,
    raw_table_path,
    run_manifest_path,
)
from data_platform.core.partitions import chunk_days, days_in_window
from data_platform.loading.versions import (
    LOAD_ID,
    key_of,
    keys_of,
    latest_versions,
    version_changes,
    versions_path,
)
from data_platform.quality.monitor_rules import (
    HISTORY_RUNS,
    MAX_JUDGED_DAYS,
    WEEKS,
    row_volume,
    step_duration,
)
from data_platform.quality.quarantine import (
    QUARANTINE_SCHEMA_NAME,
    SAMPLE_SIZE,
    Batch,
    Context,
    Partition,
    Screening,
    screen,
)
from data_platform.quality.raw_checks import (
    ROW_VOLUME_CHECK,
    STEP_DURATION_CHECK,
    SchemaReport,
    Tally,
    conservation_result,
    contract_result,
    monitor_result,
    schema_drift_result,
)
from data_platform.quality.row_rules import row_failures
from data_platform.resources.lake import LakeResource, LakeStage
from data_platform.resources.quality_policy import QualityPolicy
from data_platform.resources.warehouse import Replacement, WarehouseResource

# Days extracted, validated and loaded together: bounds memory and per-day overhead.
DAYS_PER_BATCH = 31
# Files a materialization lists itself (beyond: a manifest in the lake; see Loader._lake_files).
LAKE_FILES_INLINE_MAX = 100

Extract = Callable[[list[dt.date]], "tuple[Batch, list[SchemaReport]]"]
"""``extract(days) -> (batch, schema reports of its files)``: the rows of those consecutive
days typed to the dataset's schema, with ``_partition_date``, and where each came from."""


class Loader:
    """Screens batches of one raw asset's run, writes them, and sums up for the checks."""

    def __init__(
        self,
        run_id: str,
        log: logging.Logger | DagsterLogManager,
        dataset: Dataset,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ):
        self.run_id, self.log = run_id, log
        self.dataset, self.lake, self.warehouse = dataset, lake, warehouse
        # Dimensions loaded in full are read once per run; same-partition ones per batch.
        self.full_references = {
            r.column: (f"raw.{r.dataset}", warehouse.distinct_values(RAW_SCHEMA, r.dataset, r.key))
            for r in dataset.references
            if not r.same_partition
        }
        self.max_percent = quality.max_quarantine_percent
        self.loaded_at = dt.datetime.now(dt.UTC)
        self.tally = Tally()
        self.written: list[dict] = []
        self.versions_metadata: dict[str, int] = {}

    def load(self, batch: Batch, reports: list[SchemaReport]) -> Screening:
        """Screen and write one batch; add its figures to the run's tally."""
        screening = self.screen(batch)
        self.write(batch, screening)
        tally = self.tally
        tally.read.update(screening.read)
        tally.quarantined.update(screening.quarantined)
        tally.held_back.update(screening.held_back)
        tally.failures_by_rule.update(screening.failures_by_rule)
        tally.sample = (tally.sample + screening.sample)[:SAMPLE_SIZE]
        tally.schema_reports += [r for r in reports if r.added or r.missing]
        for reason in screening.held_back.values():
            self.log.error(reason)
        for record in screening.sample:
            self.log.warning(f"quarantined: {record['message']}")
        return screening

    def screen(self, batch: Batch) -> Screening:
        """The quarantine policy's outcome for ``batch``, with the warehouse's keys it needs
        (keys loaded in other partitions, same-partition references)."""
        dataset = self.dataset
        days = [p for p in batch.partitions if p is not None]
        keys_elsewhere = {}
        if days and batch.rows.num_rows:
            keys_elsewhere = self.warehouse.find_keys(
                RAW_SCHEMA,
                dataset.name,
                dataset.key[0],
                pc.unique(batch.rows[dataset.key[0]].drop_null()),
                PARTITION_COLUMN,
                (days[0], days[-1]),
            )
        references = dict(self.full_references)
        for r in dataset.references:
            if r.same_partition and days:
                keys = self.warehouse.distinct_values(
                    RAW_SCHEMA, r.dataset, r.key, (PARTITION_COLUMN, days[0], days[-1])
                )
                references[r.column] = (f"raw.{r.dataset} ({days[0]}..{days[-1]})", keys)
        return screen(
            dataset,
            batch,
            Context(
                row_rules=lambda rows: row_failures(dataset, rows),
                references=references,
                keys_elsewhere=keys_elsewhere,
                max_percent=self.max_percent,
                loaded_at=self.loaded_at,
                run_id=self.run_id,
            ),
        )

    def write(self, batch: Batch, screening: Screening) -> None:
        """Write a screened batch: the lake's files staged, the warehouse transaction, then
        the files placed (the module docstring)."""
        with self.lake.staged() as stage:
            replacements = self._stage(stage, batch, screening)
            self.warehouse.replace(*replacements)
        self.written += [f.as_dict() for f in stage.files]

    def _stage(self, stage: LakeStage, batch: Batch, screening: Screening) -> list[Replacement]:
        dataset = self.dataset
        loaded = screening.loaded_partitions
        if not dataset.partitioned:
            if loaded:
                stage.write_parquet(raw_table_path(dataset.name), screening.clean)
            _write_or_delete(stage, quarantine_table_path(dataset.name), screening.quarantine)
            replacements = [Replacement(QUARANTINE_SCHEMA_NAME, dataset.name, screening.quarantine)]
            if loaded:
                replacements.insert(0, Replacement(RAW_SCHEMA, dataset.name, screening.clean))
                if dataset.versioned:
                    replacements.append(self._versions(stage, batch, screening))
            return replacements
        for day, part in _split_by_day(screening.clean, loaded):
            stage.write_parquet(raw_partition_path(dataset.name, day), part)
        for day, part in _split_by_day(screening.quarantine, batch.partitions):
            _write_or_delete(stage, quarantine_partition_path(dataset.name, day), part)
        return [
            Replacement(RAW_SCHEMA, dataset.name, screening.clean, PARTITION_COLUMN, tuple(loaded)),
            Replacement(
                QUARANTINE_SCHEMA_NAME,
                dataset.name,
                screening.quarantine,
                PARTITION_COLUMN,
                tuple(batch.partitions),
            ),
        ]

    def _versions(self, stage: LakeStage, batch: Batch, screening: Screening) -> Replacement:
        """The load's new versions (:mod:`data_platform.loading.versions`): staged in the lake
        when there are any, and the warehouse replacement of this run's versions."""
        dataset = self.dataset
        previous = None
        if self.warehouse.table_exists(RAW_SCHEMA, dataset.name):
            rows = self.warehouse.query(f'select * from "{RAW_SCHEMA}"."{dataset.name}"')
            names = dataset.source_schema.names
            previous = {key_of(r, dataset): {n: r.get(n) for n in names} for r in rows}
        changes = version_changes(
            dataset,
            screening.clean,
            keys_of(batch.rows, dataset),
            latest_versions(self.warehouse, dataset, self.run_id),
            previous,
            self.loaded_at,
            self.run_id,
        )
        self.versions_metadata = changes.metadata()
        path = versions_path(dataset, self.run_id)
        _write_or_delete(stage, path, changes.rows)
        return Replacement(
            RAW_SCHEMA,
            dataset.versions_table,
            changes.rows,
            key_column=LOAD_ID,
            keys=(self.run_id,),
        )

    def result(self, metadata: dict, monitor: Sequence[AssetCheckResult] = ()) -> MaterializeResult:
        """The materialization with the three check results (and the monitor's, if given)."""
        tally, dataset = self.tally, self.dataset
        metadata = {
            "rows_read": sum(tally.read.values()),
            "rows_loaded": tally.rows_loaded,
            "rows_quarantined": sum(tally.quarantined.values()),
            "partitions_held_back": MetadataValue.json(sorted(map(str, tally.held_back))),
            "dagster/column_schema": dataset.table_schema,
            "warehouse_table": dataset.table,
            "quarantine_table": f"{QUARANTINE_SCHEMA_NAME}.{dataset.name}",
            **self._lake_files(),
            **self.versions_metadata,
            **metadata,
        }
        return MaterializeResult(
            metadata=metadata,
            check_results=[
                contract_result(tally, self.max_percent),
                conservation_result(
                    tally, self._counts(RAW_SCHEMA), self._counts(QUARANTINE_SCHEMA_NAME)
                ),
                schema_drift_result(dataset, tally.schema_reports),
                *monitor,
            ],
        )

    def _lake_files(self) -> dict:
        """What the run wrote to the lake: the files' count and bytes, and the files (path,
        rows, bytes, sha256) themselves, in the metadata up to :data:`LAKE_FILES_INLINE_MAX`
        of them, else in a manifest in the lake (``core.lake_layout.run_manifest_path``).

        Dagster copies a range run's metadata to the materialization of every partition of
        the range, so a list of every file grows with the square of the range: a year's run
        of one dataset stored 365 lists of 365 files (about 18 MB of event log), three years'
        1,095 of 1,095 (about 160 MB), and serializing them was a third of the raw steps'
        time."""
        files = {
            "lake_files_count": len(self.written),
            "lake_bytes": sum(f["bytes"] for f in self.written),
        }
        if len(self.written) <= LAKE_FILES_INLINE_MAX:
            return {**files, "lake_files": MetadataValue.json(self.written)}
        path = run_manifest_path(self.dataset.name, self.run_id)
        self.lake.write_bytes(path, json.dumps(self.written).encode())
        return {**files, "lake_files_manifest": MetadataValue.path(path)}

    def rows_by_day(self, first: dt.date, last: dt.date) -> dict[dt.date, int]:
        """Rows per day of ``raw.<dataset>`` from ``first`` to ``last`` (inclusive) now."""
        rows = self.warehouse.query(
            f'select "{PARTITION_COLUMN}" as p, count(*) as n from "{RAW_SCHEMA}".'
            f'"{self.dataset.name}" where "{PARTITION_COLUMN}" between date \'{first}\' and '
            f"date '{last}' group by 1"
        )
        return {row["p"]: row["n"] for row in rows}

    def _counts(self, schema: str) -> dict[Partition, int]:
        """Rows per partition of ``schema.<dataset>`` now, for the partitions read."""
        table = f'"{schema}"."{self.dataset.name}"'
        if not self.dataset.partitioned:
            rows = self.warehouse.query(f"select count(*) as n from {table}")
            return {None: rows[0]["n"]}
        days = sorted(p for p in self.tally.read if p is not None)
        if not days:
            return {}
        rows = self.warehouse.query(
            f'select "{PARTITION_COLUMN}" as p, count(*) as n from {table} '
            f"where \"{PARTITION_COLUMN}\" between date '{days[0]}' and date '{days[-1]}' "
            "group by 1"
        )
        return {row["p"]: row["n"] for row in rows}


def load_daily(
    context: AssetExecutionContext,
    dataset: Dataset,
    extract: Extract,
    lake: LakeResource,
    warehouse: WarehouseResource,
    quality: QualityPolicy,
    schema_reports: list[SchemaReport] = (),
    monitored: bool = True,
) -> MaterializeResult:
    """Load every day of the run's partition window, a batch of days at a time;
    ``schema_reports`` tells of the source's columns (a table's), besides those of files.
    Records ``step_seconds`` (numeric metadata); ``monitored`` adds the pipeline monitor's
    ``row_volume`` and ``step_duration`` WARN checks (:mod:`data_platform.quality.monitor_rules`;
    the asset declares them: ``raw_asset(monitored=True)``)."""
    started = time.monotonic()
    if quality.step_delay_seconds:  # test only (see QualityPolicy)
        time.sleep(quality.step_delay_seconds)
    with warehouse.held():  # one checkpoint of a DuckDB file for the whole step
        start, end = context.partition_time_window
        days = days_in_window(start, end)
        loader = Loader(context.run.run_id, context.log, dataset, lake, warehouse, quality)
        loader.tally.schema_reports += [r for r in schema_reports if r.added or r.missing]
        for batch_days in chunk_days(days, DAYS_PER_BATCH):
            batch, reports = extract(batch_days)
            screening = loader.load(batch, reports)
            context.log.info(
                f"raw.{dataset.name} {batch_days[0]}..{batch_days[-1]}: {batch.rows.num_rows} rows "
                f"read, {screening.clean.num_rows} loaded, {screening.quarantine.num_rows} "
                "quarantined"
            )
        metadata = {
            "partitions": len(days),
            "lake_path": MetadataValue.path(f"raw/{dataset.name}/"),
        }
        if len(days) == 1:
            metadata["dagster/row_count"] = sum(loader.tally.read.values()) - sum(
                loader.tally.quarantined.values()
            )
        seconds = time.monotonic() - started
        metadata["step_seconds"] = round(seconds, 3)
        if not monitored:
            return loader.result(metadata)
        counts = loader.rows_by_day(days[0] - dt.timedelta(weeks=WEEKS), days[-1]) if days else {}
        history = _step_history(context.instance, dataset.asset_key, len(days))
        monitor = [
            monitor_result(
                ROW_VOLUME_CHECK, row_volume(days, counts, quality.monitor_min_median_rows)
            ),
            monitor_result(
                STEP_DURATION_CHECK,
                step_duration(seconds, len(days), history, quality.monitor_min_extra_seconds),
            ),
        ]
        return loader.result(metadata, monitor)


def _step_history(instance: DagsterInstance, key: AssetKey, days: int) -> list[float]:
    """``step_seconds`` of the latest earlier runs of ``key`` over ``days`` days, newest
    first, one per run (a range run's metadata is on each of its partitions); none for a
    range the monitor does not judge."""
    if days > MAX_JUDGED_DAYS:
        return []
    page = instance.fetch_materializations(key, limit=(HISTORY_RUNS + 1) * days * 3)
    seen, seconds = set(), []
    for record in page.records:
        metadata = record.asset_materialization.metadata if record.asset_materialization else {}
        if record.run_id in seen or "step_seconds" not in metadata:
            continue
        seen.add(record.run_id)
        if metadata.get("partitions") and metadata["partitions"].value == days:
            seconds.append(float(metadata["step_seconds"].value))
    return seconds[:HISTORY_RUNS]


def load_whole(
    context: AssetExecutionContext,
    dataset: Dataset,
    batch: Batch,
    lake: LakeResource,
    warehouse: WarehouseResource,
    quality: QualityPolicy,
    schema_reports: list[SchemaReport] = (),
    extracted: dict | None = None,
) -> MaterializeResult:
    """Replace an unpartitioned dataset in the lake and the warehouse with the clean rows of
    ``batch`` (unless held back); ``extracted`` tells how the source was read (metadata)."""
    with warehouse.held():
        loader = Loader(context.run.run_id, context.log, dataset, lake, warehouse, quality)
        screening = loader.load(batch, list(schema_reports))
        metadata = {
            **(extracted or {}),
            "source": batch.sources[0] if batch.sources else "",
            "lake_path": MetadataValue.path(raw_table_path(dataset.name)),
        }
        if not screening.held_back:
            metadata["dagster/row_count"] = screening.clean.num_rows
        return loader.result(metadata)


def _write_or_delete(stage: LakeStage, path: str, table: pa.Table) -> None:
    # A partition without quarantined rows has no quarantine file: a re-run clears old ones.
    if table.num_rows:
        stage.write_parquet(path, table)
    else:
        stage.delete(path)


def _split_by_day(batch: pa.Table, days: list[dt.date]) -> Iterator[tuple[dt.date, pa.Table]]:
    # Every day given gets a table, empty ones too, so a re-run replaces stale data. One pass:
    # the rows are ordered by day once (stably; a batch usually comes in day order already)
    # and each day is a slice, rather than a scan of the whole batch per day.
    batch = batch.filter(pc.is_valid(batch[PARTITION_COLUMN]))
    numbers = batch[PARTITION_COLUMN].cast(pa.int32()).to_numpy()
    if len(numbers) and not bool(np.all(numbers[1:] >= numbers[:-1])):
        order = np.argsort(numbers, kind="stable")
        batch, numbers = batch.take(pa.array(order)), numbers[order]
    for day in days:
        number = (day - _EPOCH).days
        start, end = np.searchsorted(numbers, [number, number + 1])
        yield day, batch.slice(int(start), int(end - start))


_EPOCH = dt.date(1970, 1, 1)  # date32 counts days from it
