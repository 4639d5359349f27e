"""Row counts of the tables a dbt step built, counted after dbt has exited.

Every model materialized as a ``table`` or ``incremental`` gets ``dagster/row_count`` on its
materialization; views get none (counting one runs its whole query). The daily facts (dbt
tag ``daily``, config ``partition_column``) are counted over the run's partition window
(``rows_in_window``), and report ``dagster/row_count`` only when the window is one day:
Dagster copies a range run's metadata to every partition of the range, where a count of the
whole range would read as the partition's. The raw assets follow the same rule.

Why not dagster-dbt's ``fetch_row_counts()``: it counts through the dbt adapter, opening the
DuckDB file from the Dagster process while ``dbt build`` is still running. That is a race on
DuckDB's one-process file lock, not a guaranteed failure: dbt-duckdb (without ``keep_open``)
closes the file between nodes, so a count can slip in, and did in the 5 builds tried with
dagster-dbt 0.29 and DuckDB 2.0. But while the count holds the file, dbt's next node cannot
open it and fails with "Could not set lock on file ... Conflicting lock is held" (a process
opening the warehouse read-only every 20 ms during ``dbt build`` failed the build in 3 runs
of 5), and while dbt holds it the count is lost (logged, not raised). Counting after dbt has
exited takes no part in that race and is one query.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import AssetMaterialization, DagsterLogManager, MetadataValue, Output

from data_platform.core.errors import PlatformError
from data_platform.resources.warehouse import WarehouseResource

COUNTED_MATERIALIZATIONS = ("table", "incremental")
ROW_COUNT = "dagster/row_count"
ROWS_IN_WINDOW = "rows_in_window"
PARTITION_WINDOW = "partition_window"


@dataclass(frozen=True)
class PartitionWindow:
    """A run's daily partitions: ``first`` to ``last``, both inclusive."""

    first: dt.date
    last: dt.date

    @classmethod
    def from_dbt_vars(cls, dbt_vars: Mapping[str, str]) -> PartitionWindow:
        """From the dbt vars ``min_date``/``max_date`` (ISO dates) a daily step passes."""
        return cls(
            dt.date.fromisoformat(dbt_vars["min_date"]),
            dt.date.fromisoformat(dbt_vars["max_date"]),
        )

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def __str__(self) -> str:
        # Dagster's partition range syntax, both ends included.
        return f"{self.first.isoformat()}...{self.last.isoformat()}"


def is_counted(node: Mapping[str, Any]) -> bool:
    """Whether a manifest node is a model built as a table (``table`` or ``incremental``)."""
    return (
        node.get("resource_type") == "model"
        and node.get("config", {}).get("materialized") in COUNTED_MATERIALIZATIONS
    )


def windowed_column(node: Mapping[str, Any], window: PartitionWindow | None) -> str | None:
    """The column a node is counted by within ``window`` (its config ``partition_column``),
    or ``None`` when it is counted whole (no window, or a model without that config)."""
    if window is None:
        return None
    return node.get("config", {}).get("partition_column") or None


def row_count_sql(nodes: Sequence[Mapping[str, Any]], window: PartitionWindow | None) -> str:
    """One query counting the rows of every node (pure; unit-tested): one row per node,
    columns ``unique_id`` (text) and ``row_count`` (integer). A node with a partition column
    is counted within ``window``. Tables are named by schema and alias, unqualified by
    database: the warehouse connection is the database dbt built them in. Raises
    ``ValueError`` without nodes."""
    if not nodes:
        raise ValueError("no tables to count")
    selects = []
    for node in nodes:
        table = f"{_quoted(node['schema'])}.{_quoted(node['alias'])}"
        sql = (
            f"select {_literal(node['unique_id'])} as unique_id, count(*) as row_count from {table}"
        )
        if column := windowed_column(node, window):
            sql += (
                f" where {_quoted(column)} between date '{window.first.isoformat()}' "
                f"and date '{window.last.isoformat()}'"
            )
        selects.append(sql)
    return "\nunion all\n".join(selects)


def row_count_metadata(
    node: Mapping[str, Any], count: int, window: PartitionWindow | None
) -> dict[str, Any]:
    """The metadata of a counted node (pure; unit-tested): ``dagster/row_count`` of the whole
    table; for a node counted within a window, ``rows_in_window`` and ``partition_window``,
    and ``dagster/row_count`` only for a window of one day."""
    if windowed_column(node, window) is None:
        return {ROW_COUNT: MetadataValue.int(count)}
    metadata = {
        ROWS_IN_WINDOW: MetadataValue.int(count),
        PARTITION_WINDOW: MetadataValue.text(str(window)),
    }
    if window.days == 1:
        metadata[ROW_COUNT] = MetadataValue.int(count)
    return metadata


def with_row_counts(
    events: Sequence[Any],
    manifest: Mapping[str, Any],
    warehouse: WarehouseResource,
    window: PartitionWindow | None,
    log: DagsterLogManager,
) -> Iterator[Any]:
    """The events of a finished dbt invocation, each counted model's materialization with its
    row counts (see :func:`row_count_metadata`), in their order. Counts every model in one
    query; if the query fails, logs a warning and yields the events without counts (a count
    is information, never a reason to lose what dbt built)."""
    nodes = manifest["nodes"]
    counted = {
        unique_id: nodes[unique_id]
        for unique_id in _materialized_ids(events)
        if unique_id in nodes and is_counted(nodes[unique_id])
    }
    counts: dict[str, int] = {}
    if counted:
        started = time.perf_counter()
        try:
            rows = warehouse.query(row_count_sql(list(counted.values()), window))
        # The warehouse's faults, transient or not (resources/faults.py): a count is not
        # worth retrying the step for.
        except PlatformError as error:
            log.warning(f"row counts of {len(counted)} tables not recorded: {error}")
        else:
            counts = {row["unique_id"]: int(row["row_count"]) for row in rows}
            log.info(f"row counts of {len(counts)} tables in {time.perf_counter() - started:.3f} s")
    for event in events:
        unique_id = _unique_id(event)
        if unique_id in counts:
            extra = row_count_metadata(counted[unique_id], counts[unique_id], window)
            event = event.with_metadata({**event.metadata, **extra})
        yield event


def _materialized_ids(events: Iterable[Any]) -> list[str]:
    return [uid for event in events if (uid := _unique_id(event)) is not None]


def _unique_id(event: Any) -> str | None:
    if not isinstance(event, Output | AssetMaterialization):
        return None
    value = event.metadata.get("unique_id")
    return getattr(value, "value", value) if value is not None else None


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
