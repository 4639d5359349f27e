"""How every raw ingest lands its data: screened, then Parquet in the lake, then the warehouse.

Each batch of rows an ingest reads goes through the quarantine policy
(:mod:`data_platform.quality.quarantine`): clean rows of accepted partitions load, the others
go to quarantine with their reasons. Writes replace whole partitions, so re-running any
partition gives the same state:

- the lake gets one Parquet file per daily partition (or one per unpartitioned dataset) in the
  ``raw/`` zone and, for partitions with quarantined rows, in the ``quarantine/`` zone; each
  file is written atomically;
- the warehouse replaces the partitions' rows of ``raw.<name>`` and ``quarantine.<name>`` in
  one transaction (see ``WarehouseResource.replace``). A held-back partition keeps its raw rows.

Every raw asset carries three blocking asset checks:

- ``raw_contract``: the pandera contract and the quarantine policy. Fails with ERROR when a
  partition is held back (its share of quarantined rows is above the limit, a file of it is
  unusable); WARN when rows were quarantined below the limit; metadata counts the failing
  rows by rule and shows a sample naming file, line and column.
- ``conservation``: rows read = rows loaded + rows quarantined, counted in the warehouse
  after the write, per partition.
- ``schema_drift``: the source's columns against the contract. A missing (or renamed)
  column fails with ERROR naming the source and the column; an added column is reported
  (WARN) and not loaded.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

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
from data_platform.lake_layout import (
    quarantine_partition_path,
    quarantine_table_path,
    raw_partition_path,
    raw_table_path,
)
from data_platform.quality import freshness
from data_platform.quality.policy import QualityPolicy
from data_platform.quality.quarantine import (
    QUARANTINE_SCHEMA_NAME,
    SAMPLE_SIZE,
    Batch,
    Context,
    Screening,
    screen,
)
from data_platform.quality.raw_contracts import row_failures
from data_platform.resources.lake import LakeResource
from data_platform.resources.warehouse import Replacement, WarehouseResource

OWNERS = ["team:data-platform"]
GROUP = "ingestion"
# Every writer of the warehouse takes this pool; dagster.yaml limits it to one slot because
# DuckDB allows a single writing process (a PostgreSQL warehouse may raise the limit).
WAREHOUSE_POOL = "warehouse"
RAW_CONTRACT_CHECK = "raw_contract"
CONSERVATION_CHECK = "conservation"
SCHEMA_DRIFT_CHECK = "schema_drift"
# Days extracted, validated and loaded together: bounds memory and per-day overhead.
DAYS_PER_BATCH = 31

Extract = Callable[[list[dt.date]], "tuple[Batch, list[SchemaReport]]"]
"""``extract(days) -> (batch, schema reports of its files)``: the rows of those consecutive
days typed to the dataset's schema, with ``_partition_date``, and where each came from."""


@dataclass
class SchemaReport:
    """A source's columns against the contract: added ones (reported, not loaded) and missing
    ones (the source's rows cannot load)."""

    source: str
    added: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    message: str | None = None

    def as_dict(self) -> dict:
        return {"source": self.source, "added": self.added, "missing": self.missing}


def raw_key(dataset: RawDataset) -> AssetKey:
    return AssetKey([RAW_SCHEMA, dataset.name])


def check_specs(dataset: RawDataset) -> list[AssetCheckSpec]:
    """The three blocking checks of a raw asset (see the module's docstring)."""
    key = raw_key(dataset)
    return [
        AssetCheckSpec(
            RAW_CONTRACT_CHECK,
            asset=key,
            blocking=True,
            description=(
                f"pandera contract of raw.{dataset.name} (types, nullability, unique key "
                f"{', '.join(dataset.key)}, value ranges) and the quarantine policy: fails and "
                "blocks downstream when a partition's quarantined share is above the limit."
            ),
        ),
        AssetCheckSpec(
            CONSERVATION_CHECK,
            asset=key,
            blocking=True,
            description=(
                f"Rows read = rows in raw.{dataset.name} + rows in quarantine.{dataset.name}, "
                "per partition, counted in the warehouse after the load."
            ),
        ),
        AssetCheckSpec(
            SCHEMA_DRIFT_CHECK,
            asset=key,
            blocking=True,
            description=(
                "The source's columns against the contract: a missing or renamed column fails "
                "(ERROR), an added one is reported (WARN) and not loaded."
            ),
        ),
    ]


def raw_asset(
    dataset: RawDataset,
    description: str,
    kinds: set[str],
    partitions_def: PartitionsDefinition | None = None,
    freshness_policy: FreshnessPolicy = freshness.DAILY_INGEST,
):
    """The ``@asset`` decorator every raw ingest shares: key ``raw/<name>``, group, owners,
    the warehouse pool, the three blocking checks, a freshness policy (daily by default), and
    for daily partitions a single-run backfill policy (a range of days is one run). The
    dimensions the dataset's rows must point at are upstream (``deps``): they load first."""
    return asset(
        key=raw_key(dataset),
        description=description,
        group_name=GROUP,
        owners=OWNERS,
        kinds=kinds,
        pool=WAREHOUSE_POOL,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run() if partitions_def else None,
        check_specs=check_specs(dataset),
        deps=[AssetKey([RAW_SCHEMA, r.dataset]) for r in dataset.references],
        freshness_policy=freshness_policy,
    )


def column_schema(schema: pa.Schema) -> TableSchema:
    return TableSchema(columns=[TableColumn(f.name, str(f.type)) for f in schema])


class Loader:
    """Screens batches of one raw asset's run, writes them, and sums up for the checks."""

    def __init__(
        self,
        context: AssetExecutionContext,
        dataset: RawDataset,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ):
        self.context, self.dataset, self.lake, self.warehouse = context, dataset, lake, warehouse
        # Dimensions loaded in full are read once per run; same-partition ones per batch.
        self.full_references = {
            r.column: (f"raw.{r.dataset}", warehouse.distinct_values(RAW_SCHEMA, r.dataset, r.key))
            for r in dataset.references
            if not r.same_partition
        }
        self.max_percent = quality.max_quarantine_percent
        self.loaded_at = dt.datetime.now(dt.UTC)
        self.read: Counter = Counter()
        self.quarantined: Counter = Counter()
        self.held_back: dict = {}
        self.failures_by_rule: Counter = Counter()
        self.sample: list[dict] = []
        self.schema_reports: list[SchemaReport] = []

    def load(self, batch: Batch, reports: list[SchemaReport]) -> Screening:
        dataset = self.dataset
        days = [p for p in batch.partitions if p is not None]
        keys_elsewhere = {}
        if days and batch.rows.num_rows:
            keys_elsewhere = self.warehouse.find_keys(
                RAW_SCHEMA,
                dataset.name,
                dataset.key[0],
                pc.unique(batch.rows[dataset.key[0]].drop_null()).to_pylist(),
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
        screening = screen(
            dataset,
            batch,
            Context(
                row_rules=lambda frame: row_failures(dataset.name, frame),
                references=references,
                keys_elsewhere=keys_elsewhere,
                max_percent=self.max_percent,
                loaded_at=self.loaded_at,
                run_id=self.context.run.run_id,
            ),
        )
        self._write(batch, screening)
        self.read.update(screening.read)
        self.quarantined.update(screening.quarantined)
        self.held_back.update(screening.held_back)
        self.failures_by_rule.update(screening.failures_by_rule)
        self.sample = (self.sample + screening.sample)[:SAMPLE_SIZE]
        self.schema_reports += [r for r in reports if r.added or r.missing]
        for reason in screening.held_back.values():
            self.context.log.error(reason)
        for record in screening.sample:
            self.context.log.warning(f"quarantined: {record['message']}")
        return screening

    def _write(self, batch: Batch, screening: Screening) -> None:
        dataset, lake = self.dataset, self.lake
        loaded = screening.loaded_partitions
        if not dataset.partitioned:
            if loaded:
                lake.write_parquet(raw_table_path(dataset.name), screening.clean)
            _write_or_delete(lake, quarantine_table_path(dataset.name), screening.quarantine)
            replacements = [Replacement(QUARANTINE_SCHEMA_NAME, dataset.name, screening.quarantine)]
            if loaded:
                replacements.insert(0, Replacement(RAW_SCHEMA, dataset.name, screening.clean))
            self.warehouse.replace(*replacements)
            return
        for day, part in _split_by_day(screening.clean, loaded):
            lake.write_parquet(raw_partition_path(dataset.name, day), part)
        for day, part in _split_by_day(screening.quarantine, batch.partitions):
            _write_or_delete(lake, quarantine_partition_path(dataset.name, day), part)
        self.warehouse.replace(
            Replacement(RAW_SCHEMA, dataset.name, screening.clean, PARTITION_COLUMN, tuple(loaded)),
            Replacement(
                QUARANTINE_SCHEMA_NAME,
                dataset.name,
                screening.quarantine,
                PARTITION_COLUMN,
                tuple(batch.partitions),
            ),
        )

    def result(self, metadata: dict) -> MaterializeResult:
        """The materialization with the three check results."""
        loaded = sum(n for p, n in self.read.items() if p not in self.held_back) - sum(
            n for p, n in self.quarantined.items() if p not in self.held_back
        )
        metadata = {
            "rows_read": sum(self.read.values()),
            "rows_loaded": loaded,
            "rows_quarantined": sum(self.quarantined.values()),
            "partitions_held_back": MetadataValue.json(sorted(map(str, self.held_back))),
            "dagster/column_schema": column_schema(self.dataset.schema),
            "warehouse_table": self.dataset.table,
            "quarantine_table": f"{QUARANTINE_SCHEMA_NAME}.{self.dataset.name}",
            **metadata,
        }
        return MaterializeResult(
            metadata=metadata,
            check_results=[self._contract(), self._conservation(), self._schema_drift()],
        )

    def _contract(self) -> AssetCheckResult:
        quarantined = sum(self.quarantined.values())
        read = sum(self.read.values())
        return AssetCheckResult(
            check_name=RAW_CONTRACT_CHECK,
            passed=not quarantined and not self.held_back,
            severity=AssetCheckSeverity.ERROR if self.held_back else AssetCheckSeverity.WARN,
            description=(
                "; ".join(self.held_back.values())
                if self.held_back
                else f"{quarantined} of {read} rows quarantined"
            ),
            metadata={
                "rows_checked": read,
                "failing_rows": quarantined,
                "max_quarantine_percent": self.max_percent,
                "worst_partition_percent": round(self._worst_share(), 2),
                "held_back": MetadataValue.json({str(p): r for p, r in self.held_back.items()}),
                "failures_by_check": MetadataValue.json(dict(self.failures_by_rule)),
                "failing_sample": MetadataValue.json(self.sample),
            },
        )

    def _worst_share(self) -> float:
        shares = [100 * self.quarantined[p] / n for p, n in self.read.items() if n]
        return max(shares, default=0.0)

    def _conservation(self) -> AssetCheckResult:
        """Rows read per partition against the rows the warehouse now holds for it."""
        raw, quarantine = self._counts(RAW_SCHEMA), self._counts(QUARANTINE_SCHEMA_NAME)
        mismatches = []
        for partition, read in sorted(self.read.items(), key=lambda item: str(item[0])):
            loaded = 0 if partition in self.held_back else raw.get(partition, 0)
            if read != loaded + quarantine.get(partition, 0):
                mismatches.append(
                    {
                        "partition": str(partition),
                        "read": read,
                        "loaded": loaded,
                        "quarantined": quarantine.get(partition, 0),
                    }
                )
        read = sum(self.read.values())
        loaded = sum(raw.get(p, 0) for p in self.read if p not in self.held_back)
        held = sum(quarantine.get(p, 0) for p in self.read)
        return AssetCheckResult(
            check_name=CONSERVATION_CHECK,
            passed=not mismatches,
            severity=AssetCheckSeverity.ERROR,
            description=f"read {read} = loaded {loaded} + quarantined {held}"
            if not mismatches
            else f"{len(mismatches)} partitions where rows read != loaded + quarantined",
            metadata={
                "rows_read": read,
                "rows_loaded": loaded,
                "rows_quarantined": held,
                "mismatches": MetadataValue.json(mismatches[:20]),
            },
        )

    def _counts(self, schema: str) -> dict:
        table = f'"{schema}"."{self.dataset.name}"'
        if not self.dataset.partitioned:
            rows = self.warehouse.query(f"select count(*) as n from {table}")
            return {None: rows[0]["n"]}
        days = sorted(p for p in self.read if p is not None)
        if not days:
            return {}
        rows = self.warehouse.query(
            f'select "{PARTITION_COLUMN}" as p, count(*) as n from {table} '
            f"where \"{PARTITION_COLUMN}\" between date '{days[0]}' and date '{days[-1]}' "
            "group by 1"
        )
        return {row["p"]: row["n"] for row in rows}

    def _schema_drift(self) -> AssetCheckResult:
        missing = [r for r in self.schema_reports if r.missing]
        added = sorted({c for r in self.schema_reports for c in r.added})
        if missing:
            description = "; ".join(
                r.message or f"{r.source}: missing {r.missing}" for r in missing
            )
        elif added:
            description = f"added column {', '.join(added)} reported, not loaded"
        else:
            description = "the source's columns match the contract"
        return AssetCheckResult(
            check_name=SCHEMA_DRIFT_CHECK,
            passed=not self.schema_reports,
            severity=AssetCheckSeverity.ERROR if missing else AssetCheckSeverity.WARN,
            description=description[:2000],
            metadata={
                "expected_columns": MetadataValue.json(self.dataset.source_schema.names),
                "sources_with_drift": MetadataValue.json(
                    [r.as_dict() for r in self.schema_reports][:50]
                ),
            },
        )


def load_daily(
    context: AssetExecutionContext,
    dataset: RawDataset,
    extract: Extract,
    lake: LakeResource,
    warehouse: WarehouseResource,
    quality: QualityPolicy,
    schema_reports: list[SchemaReport] = (),
) -> MaterializeResult:
    """Load every day of the run's partition window, a batch of days at a time;
    ``schema_reports`` tells of the source's columns (a table's), besides those of files."""
    start, end = context.partition_time_window
    days = days_in_window(start, end)
    loader = Loader(context, dataset, lake, warehouse, quality)
    loader.schema_reports += [r for r in schema_reports if r.added or r.missing]
    for batch_days in chunk_days(days, DAYS_PER_BATCH):
        batch, reports = extract(batch_days)
        screening = loader.load(batch, reports)
        context.log.info(
            f"raw.{dataset.name} {batch_days[0]}..{batch_days[-1]}: {batch.rows.num_rows} rows "
            f"read, {screening.clean.num_rows} loaded, {screening.quarantine.num_rows} "
            "quarantined"
        )
    metadata = {"partitions": len(days), "lake_path": MetadataValue.path(f"raw/{dataset.name}/")}
    if len(days) == 1:
        metadata["dagster/row_count"] = sum(loader.read.values()) - sum(loader.quarantined.values())
    return loader.result(metadata)


def load_whole(
    context: AssetExecutionContext,
    dataset: RawDataset,
    batch: Batch,
    lake: LakeResource,
    warehouse: WarehouseResource,
    quality: QualityPolicy,
    schema_reports: list[SchemaReport] = (),
) -> MaterializeResult:
    """Replace an unpartitioned dataset in the lake and the warehouse with the clean rows of
    ``batch`` (unless held back)."""
    loader = Loader(context, dataset, lake, warehouse, quality)
    screening = loader.load(batch, list(schema_reports))
    metadata = {
        "source": batch.sources[0] if batch.sources else "",
        "lake_path": MetadataValue.path(raw_table_path(dataset.name)),
    }
    if not screening.held_back:
        metadata["dagster/row_count"] = screening.clean.num_rows
    return loader.result(metadata)


def table_batch(
    dataset: RawDataset, rows: pa.Table, source: str, partitions: list[dt.date] | None = None
) -> Batch:
    """A batch of rows of a database table (no line numbers, values as typed) standing for
    ``partitions`` (``None``: the whole unpartitioned dataset)."""
    rows = rows.cast(dataset.schema)
    n = rows.num_rows
    return Batch(rows, [source] * n, [None] * n, partitions or [None])


def held_back_batch(
    dataset: RawDataset, reason: str, partitions: list[dt.date] | None = None
) -> Batch:
    """A batch without rows whose ``partitions`` (``None``: the whole dataset) are held back
    for ``reason``, as when the source cannot be read at all."""
    partitions = partitions or [None]
    held_back = dict.fromkeys(partitions, reason)
    return Batch(dataset.schema.empty_table(), [], [], partitions, held_back=held_back)


def _write_or_delete(lake: LakeResource, path: str, table: pa.Table) -> None:
    # A partition without quarantined rows has no quarantine file: a re-run clears old ones.
    if table.num_rows:
        lake.write_parquet(path, table)
    else:
        lake.delete(path)


def _split_by_day(batch: pa.Table, days: list[dt.date]) -> Iterator[tuple[dt.date, pa.Table]]:
    # Every day given gets a table, empty ones too, so a re-run replaces stale data.
    for day in days:
        mask = pc.equal(batch[PARTITION_COLUMN], pa.scalar(day, pa.date32()))
        yield day, batch.filter(mask)
