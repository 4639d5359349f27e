"""The three blocking asset checks of every raw asset: their specs and how each is decided.

- ``raw_contract``: the dataset's contract (pandera row rules) and the quarantine policy.
  Fails with ERROR when a partition is held back (its share of quarantined rows is above the
  limit, a file of it is unusable); WARN when rows were quarantined below the limit; metadata
  counts the failing rows by rule and shows a sample naming file, line and column.
- ``conservation``: rows read = rows loaded + rows quarantined, per partition, counted in the
  warehouse after the write.
- ``schema_drift``: the source's columns against the contract. A missing (or renamed) column
  fails with ERROR naming the source and the column; an added column is reported (WARN) and
  not loaded.

Pure: the loader (:mod:`data_platform.loading.loader`) gathers the figures and the warehouse
counts and passes them in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from data_platform.core.datasets import Dataset
from data_platform.quality.monitor_rules import Verdict
from data_platform.quality.quarantine import Partition

RAW_CONTRACT_CHECK = "raw_contract"
CONSERVATION_CHECK = "conservation"
SCHEMA_DRIFT_CHECK = "schema_drift"
# The pipeline monitor's checks (WARN, never blocking; rules in quality/monitor_rules.py).
ROW_VOLUME_CHECK = "row_volume"
STEP_DURATION_CHECK = "step_duration"
MONITOR_CHECKS = frozenset({ROW_VOLUME_CHECK, STEP_DURATION_CHECK})


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


@dataclass
class Tally:
    """What a raw asset's run read and quarantined, per partition, and why."""

    read: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)
    held_back: dict[Partition, str] = field(default_factory=dict)
    failures_by_rule: Counter = field(default_factory=Counter)
    sample: list[dict] = field(default_factory=list)
    schema_reports: list[SchemaReport] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        """Rows read in partitions that loaded, less those quarantined there."""
        return sum(n for p, n in self.read.items() if p not in self.held_back) - sum(
            n for p, n in self.quarantined.items() if p not in self.held_back
        )


def check_specs(dataset: Dataset, monitored: bool = False) -> list[AssetCheckSpec]:
    """The three blocking checks of a raw asset (see the module's docstring); with
    ``monitored`` (the daily batch ingests) also the pipeline monitor's two WARN checks."""
    key = dataset.asset_key
    monitor = [
        AssetCheckSpec(
            ROW_VOLUME_CHECK,
            asset=key,
            description=(
                "Pipeline monitor (WARN): each day's rows against the same weekday of the four "
                "weeks before (unusual below 0.6 or above 3 times their median, or none)."
            ),
        ),
        AssetCheckSpec(
            STEP_DURATION_CHECK,
            asset=key,
            description=(
                "Pipeline monitor (WARN): the step's seconds against the median of its last 10 "
                "comparable steps (same number of days): slow above 1.5 times."
            ),
        ),
    ]
    return [
        *(monitor if monitored else []),
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


def contract_result(tally: Tally, max_percent: int) -> AssetCheckResult:
    """``raw_contract``: ERROR when a partition is held back, WARN when rows were quarantined."""
    quarantined = sum(tally.quarantined.values())
    read = sum(tally.read.values())
    shares = [100 * tally.quarantined[p] / n for p, n in tally.read.items() if n]
    return AssetCheckResult(
        check_name=RAW_CONTRACT_CHECK,
        passed=not quarantined and not tally.held_back,
        severity=AssetCheckSeverity.ERROR if tally.held_back else AssetCheckSeverity.WARN,
        description=(
            "; ".join(tally.held_back.values())
            if tally.held_back
            else f"{quarantined} of {read} rows quarantined"
        ),
        metadata={
            "rows_checked": read,
            "failing_rows": quarantined,
            "max_quarantine_percent": max_percent,
            "worst_partition_percent": round(max(shares, default=0.0), 2),
            "held_back": MetadataValue.json({str(p): r for p, r in tally.held_back.items()}),
            "failures_by_check": MetadataValue.json(dict(tally.failures_by_rule)),
            "failing_sample": MetadataValue.json(tally.sample),
        },
    )


def conservation_result(
    tally: Tally, raw_counts: dict[Partition, int], quarantine_counts: dict[Partition, int]
) -> AssetCheckResult:
    """``conservation``: rows read per partition against the rows the warehouse now holds for
    it (``raw_counts``, ``quarantine_counts``: rows per partition after the write)."""
    mismatches = []
    for partition, read in sorted(tally.read.items(), key=lambda item: str(item[0])):
        loaded = 0 if partition in tally.held_back else raw_counts.get(partition, 0)
        if read != loaded + quarantine_counts.get(partition, 0):
            mismatches.append(
                {
                    "partition": str(partition),
                    "read": read,
                    "loaded": loaded,
                    "quarantined": quarantine_counts.get(partition, 0),
                }
            )
    read = sum(tally.read.values())
    loaded = sum(raw_counts.get(p, 0) for p in tally.read if p not in tally.held_back)
    held = sum(quarantine_counts.get(p, 0) for p in tally.read)
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


def schema_drift_result(dataset: Dataset, reports: list[SchemaReport]) -> AssetCheckResult:
    """``schema_drift``: ERROR for a missing column, WARN for an added one."""
    missing = [r for r in reports if r.missing]
    added = sorted({c for r in reports for c in r.added})
    if missing:
        description = "; ".join(r.message or f"{r.source}: missing {r.missing}" for r in missing)
    elif added:
        description = f"added column {', '.join(added)} reported, not loaded"
    else:
        description = "the source's columns match the contract"
    return AssetCheckResult(
        check_name=SCHEMA_DRIFT_CHECK,
        passed=not reports,
        severity=AssetCheckSeverity.ERROR if missing else AssetCheckSeverity.WARN,
        description=description[:2000],
        metadata={
            "expected_columns": MetadataValue.json(dataset.source_schema.names),
            "sources_with_drift": MetadataValue.json([r.as_dict() for r in reports][:50]),
        },
    )


def monitor_result(check_name: str, verdict: Verdict) -> AssetCheckResult:
    """A pipeline monitor check's result (WARN severity) from its rule's verdict."""
    return AssetCheckResult(
        check_name=check_name,
        passed=verdict.passed,
        severity=AssetCheckSeverity.WARN,
        description=verdict.description,
        metadata=verdict.metadata,
    )
