"""``lake_files``: the lake's raw Parquet files against the warehouse, per partition.

A blocking check on every raw asset (defined in :mod:`data_platform.loading.raw_asset`): for
the partitions of the run (all of them in a run without partitions, such as a check alone),
each raw file's footer row count against the rows ``raw.<name>`` holds for that partition.
It fails (ERROR, so no model is built on a lake that disagrees) naming each file:

- ``raw/orders/date=2018-09-03/orders.parquet: not a Parquet file (truncated?)``;
- ``raw/orders/date=2018-09-03/orders.parquet: 12 rows in the lake, 15 in raw.orders for
  2018-09-03: the lake is behind the warehouse``; or ``missing, ...``.

Which side is behind follows from the write order (:mod:`data_platform.loading.loader`): the
lake's files are placed only after the warehouse committed, so a disagreement is a lake left
behind (a placement that failed) or damaged; a re-run of the partition rewrites both.

Cheap: footers only (locally about a millisecond a file; on S3 one HEAD and one ranged GET a
file, plus one listing for a run without partitions) and one grouped count in the warehouse.

Pure: the raw asset's check reads the footers and the counts and passes them in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from data_platform.core.datasets import Dataset
from data_platform.quality.quarantine import Partition

LAKE_FILES_CHECK = "lake_files"
UNREADABLE = "not a Parquet file (truncated?)"
# Disagreements named in the description; the metadata lists more.
SHOWN = 5


@dataclass(frozen=True)
class LakeFileState:
    """A raw file as the check found it: ``rows`` from its footer, ``None`` when it is missing
    (``problem`` None) or unreadable (``problem`` says why)."""

    path: str
    partition: Partition
    rows: int | None
    problem: str | None = None


def lake_files_description(dataset: Dataset) -> str:
    return (
        f"The lake's raw Parquet files of {dataset.name} against raw.{dataset.name}: each "
        "file's footer row count equals the warehouse's rows of its partition (the run's "
        "partitions; all of them in a run without partitions). Fails on a truncated or "
        "missing file or a count that differs, naming the file and the side behind."
    )


def lake_files_result(
    dataset: Dataset, files: list[LakeFileState], warehouse_counts: dict[Partition, int]
) -> AssetCheckResult:
    """``lake_files``: ``files`` (one per partition checked) against ``warehouse_counts``
    (rows of ``raw.<name>`` per partition; a partition absent holds none)."""
    table = f"raw.{dataset.name}"
    problems = []
    for state in sorted(files, key=lambda s: s.path):
        held = warehouse_counts.get(state.partition, 0)
        where = f" for {state.partition}" if isinstance(state.partition, dt.date) else ""
        if state.problem:
            problems.append(f"{state.path}: {state.problem}")
        elif state.rows is None and held:
            problems.append(
                f"{state.path}: missing, {held} rows in {table}{where}: "
                "the lake is behind the warehouse"
            )
        elif state.rows is not None and state.rows != held:
            problems.append(
                f"{state.path}: {state.rows} rows in the lake, {held} in {table}{where}: "
                "the lake is behind the warehouse"
            )
    checked = [s for s in files if s.rows is not None]
    if problems:
        more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
        description = (
            "; ".join(problems[:SHOWN]) + more + "; re-run those partitions to rewrite both"
        )
    else:
        description = f"{len(checked)} files agree with {table}"
    return AssetCheckResult(
        check_name=LAKE_FILES_CHECK,
        asset_key=dataset.asset_key,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "files_checked": len(files),
            "rows_in_lake": sum(s.rows for s in checked),
            "rows_in_warehouse": sum(warehouse_counts.get(s.partition, 0) for s in files),
            "disagreements": MetadataValue.json(problems[:50]),
        },
    )
