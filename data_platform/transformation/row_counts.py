"""Row counts of the tables a dbt step builds, as dbt reports them while it runs.

Every model materialized as a ``table`` or ``incremental`` gets ``dagster/row_count`` on its
materialization; views get none (counting one runs its whole query). The daily facts (dbt
tag ``daily``, config ``partition_column``) are counted over the run's partition window
(``rows_in_window``), and report ``dagster/row_count`` only when the window is one day:
Dagster copies a range run's metadata to every partition of the range, where a count of the
whole range would read as the partition's. The raw assets follow the same rule.

dbt counts: a post-hook of every model (``dbt_project/macros/row_count.sql``) logs the count
in dbt's JSON log as the model is built, and :func:`counted_events` attaches it to the
model's materialization as the events stream in. So a model's materialization and its
checks reach Dagster while dbt goes on with the next nodes, instead of all of them after dbt
has exited: storing those events took 1.2-1.4 s of every daily run after dbt's last node.

Why not count from the Dagster process (dagster-dbt's ``fetch_row_counts()``, or a query
after dbt): while ``dbt build`` runs, dbt-duckdb holds the DuckDB file open (``keep_open``),
and a second process can open it neither to read nor to write; counting from the Dagster
process had to wait for dbt to exit, and each event with it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dagster import AssetMaterialization, DagsterLogManager, MetadataValue, Output

COUNTED_MATERIALIZATIONS = ("table", "incremental")
ROW_COUNT = "dagster/row_count"
ROWS_IN_WINDOW = "rows_in_window"
PARTITION_WINDOW = "partition_window"
# What macros/row_count.sql logs: this, then the count as JSON.
LOGGED_COUNT_PREFIX = "data_platform row count "


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


@dataclass(frozen=True)
class LoggedCount:
    """A model's row count as dbt logged it (macro ``report_row_count``): counted whole
    (``window`` ``None``) or within the partition window it names."""

    unique_id: str
    row_count: int
    window: PartitionWindow | None


def logged_count(raw_event: Mapping[str, Any]) -> LoggedCount | None:
    """The row count a dbt JSON log event carries, or ``None`` when it is any other event
    or a count line that does not parse (pure; unit-tested)."""
    if raw_event.get("info", {}).get("name") != "JinjaLogInfo":
        return None
    message = str(raw_event.get("data", {}).get("msg", ""))
    if not message.startswith(LOGGED_COUNT_PREFIX):
        return None
    try:
        report = json.loads(message[len(LOGGED_COUNT_PREFIX) :])
        window = report["window"]
        return LoggedCount(
            unique_id=str(report["unique_id"]),
            row_count=int(report["row_count"]),
            window=None
            if window is None
            else PartitionWindow(
                dt.date.fromisoformat(window[0]), dt.date.fromisoformat(window[1])
            ),
        )
    except (ValueError, KeyError, TypeError, IndexError):
        return None


class RowCounts:
    """The counts dbt logged in one invocation, attached to the materializations of one
    step, whose partition window is ``window`` (``None``: counted whole)."""

    def __init__(
        self,
        manifest: Mapping[str, Any],
        window: PartitionWindow | None,
        log: DagsterLogManager,
    ) -> None:
        self._nodes = manifest["nodes"]
        self._window = window
        self._log = log
        self._counts: dict[str, LoggedCount] = {}
        self._missing: list[str] = []

    def keep(self, count: LoggedCount) -> None:
        """Keep ``count`` (:func:`logged_count`) for its model's materialization."""
        self._counts[count.unique_id] = count

    def attach(self, event: Any) -> Any:
        """``event`` with its model's row count (:func:`row_count_metadata`) when it is the
        materialization of a counted model; a counted model dbt logged no count for, or
        counted over another window than this step's, keeps no count (see :meth:`report`)."""
        unique_id = _unique_id(event)
        node = self._nodes.get(unique_id) if unique_id is not None else None
        if node is None or not is_counted(node):
            return event
        count = self._counts.get(unique_id)
        expected = self._window if windowed_column(node, self._window) else None
        if count is None or count.window != expected:
            self._missing.append(unique_id)
            return event
        extra = row_count_metadata(node, count.row_count, self._window)
        return event.with_metadata({**event.metadata, **extra})

    def report(self) -> None:
        """Log a warning naming the counted models that got no count (a count is
        information, never a reason to fail what dbt built)."""
        if self._missing:
            self._log.warning(
                f"row counts of {', '.join(sorted(self._missing))} not recorded: dbt logged "
                f"none for this step's window ({self._window or 'whole tables'}); see "
                "dbt_project/macros/row_count.sql"
            )


def counted_events(
    messages: Iterable[Any],
    translate: Callable[[Any], Iterable[Any]],
    counts: RowCounts,
) -> Iterator[Any]:
    """The Dagster events of dbt's ``messages`` (dagster-dbt ``DbtCliEventMessage``, each
    turned into events by ``translate``) as they come, each materialization with the row
    count dbt logged before it (:class:`RowCounts`). When the messages end in an error
    (dbt failed), what came before it has been yielded, and the missing counts reported."""
    try:
        for message in messages:
            if (count := logged_count(message.raw_event)) is not None:
                counts.keep(count)
                continue
            for event in translate(message):
                yield counts.attach(event)
    finally:
        counts.report()


def _unique_id(event: Any) -> str | None:
    if not isinstance(event, Output | AssetMaterialization):
        return None
    value = event.metadata.get("unique_id")
    return getattr(value, "value", value) if value is not None else None
