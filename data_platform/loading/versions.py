"""Change capture of versioned datasets: every version a load saw, kept append-only.

A versioned dataset (``Dataset.versioned``: customers, products, stores, supplies; a key of
one or more columns and an ``updated_at``) keeps two tables in the warehouse:

- ``raw.<name>``: the current state, one row per live key, replaced by each load as before;
- ``raw.<name>_versions``: append-only, one row per version a load saw and one per deletion.
  Columns: the dataset's own (nullable: a deletion carries only its key), then
  ``_change`` (``created``: a key not live before; ``changed``: a new ``updated_at``;
  ``deleted``: a live key missing from the source; a deletion carries the key's columns only),
  ``_loaded_at`` (when the load ran, naive
  UTC; a deletion's only time: the source says nothing of when a row went) and
  ``_load_id`` (the run that loaded it).

In the lake each load that saw changes adds ``raw/<name>_versions/<run id>.parquet`` with
the same rows. A row whose ``updated_at`` did not change is not a new version, whatever its
other values (a source that edits rows without their timestamp is counted in the
materialization, ``changed_without_updated_at``). A load's versions are written in the
transaction of its current rows, and a retry of the run replaces its own versions (keyed by
``_load_id``), so a version is never counted twice. To erase a person or a row, delete its
key's rows from both places: nothing else holds them below dbt.

Pure but for :func:`latest_versions`; the history models in dbt
(``dim_<name>_history``) are built from these tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from data_platform.core.datasets import RAW_SCHEMA, TIMESTAMP, Dataset
from data_platform.core.lake_layout import RAW

UPDATED_AT = "updated_at"
CHANGE, LOADED_AT, LOAD_ID = "_change", "_loaded_at", "_load_id"
CREATED, CHANGED, DELETED = "created", "changed", "deleted"


def versions_schema(dataset: Dataset) -> pa.Schema:
    """The versions table's columns: the dataset's (nullable), then the change's own."""
    own = [pa.field(f.name, f.type) for f in dataset.source_schema]
    return pa.schema(
        [
            *own,
            pa.field(CHANGE, pa.string()),
            pa.field(LOADED_AT, TIMESTAMP),
            pa.field(LOAD_ID, pa.string()),
        ]
    )


def versions_path(dataset: Dataset, load_id: str) -> str:
    """The lake file of one load's versions of ``dataset``."""
    return f"{RAW}/{dataset.versions_table}/{load_id}.parquet"


# A key's values as text, in the order of ``Dataset.key`` (a one-column key is a 1-tuple).
Key = tuple[str, ...]


@dataclass(frozen=True)
class Latest:
    """A key's latest entry in the versions table: its ``updated_at``, or deleted."""

    updated_at: dt.datetime | None
    deleted: bool


@dataclass(frozen=True)
class Changes:
    """A load's new versions (rows of :func:`versions_schema`) and its counts."""

    rows: pa.Table
    created: int
    changed: int
    deleted: int
    changed_without_updated_at: int

    def metadata(self) -> dict[str, int]:
        return {
            "versions_created": self.created,
            "versions_changed": self.changed,
            "versions_deleted": self.deleted,
            "changed_without_updated_at": self.changed_without_updated_at,
        }


def latest_versions(warehouse, dataset: Dataset, except_load: str) -> dict[Key, Latest]:
    """Each key's latest entry in ``raw.<name>_versions``, leaving out the rows of load
    ``except_load`` (the running one, on a retry); empty before the first load."""
    if not warehouse.table_exists(RAW_SCHEMA, dataset.versions_table):
        return {}
    keys = ", ".join(f'"{k}"' for k in dataset.key)
    load = except_load.replace("'", "''")
    rows = warehouse.query(
        f'select {keys}, "{UPDATED_AT}" as _u, "{CHANGE}" as _c from ('
        f'select *, row_number() over (partition by {keys} order by "{LOADED_AT}" desc, '
        f'"{LOAD_ID}" desc) as _n from "{RAW_SCHEMA}"."{dataset.versions_table}" '
        f"where \"{LOAD_ID}\" <> '{load}') as ranked where _n = 1"
    )
    return {key_of(r, dataset): Latest(r["_u"], r["_c"] == DELETED) for r in rows}


def key_of(row: dict, dataset: Dataset) -> Key:
    """The key of ``row`` (a dict of the dataset's columns), as text."""
    return tuple(str(row[k]) for k in dataset.key)


def version_changes(
    dataset: Dataset,
    rows: pa.Table,
    live_keys: set[Key],
    latest: dict[Key, Latest],
    previous: dict[Key, dict] | None,
    loaded_at: dt.datetime,
    load_id: str,
) -> Changes:
    """The versions a load adds (pure): each row of ``rows`` (clean rows of the dataset's
    columns) whose key is not live in ``latest`` or whose ``updated_at`` differs from it,
    and a deletion for each key live in ``latest`` and missing from ``live_keys`` (every key
    the source holds, its quarantined rows' too: a row held in quarantine was not deleted).
    ``previous`` (the current rows before the load, by key) counts the rows changed without
    a new ``updated_at``."""
    schema = versions_schema(dataset)
    naive = loaded_at.astimezone(dt.UTC).replace(tzinfo=None)
    out: list[dict] = []
    created = changed = silent = 0
    for row in rows.select(dataset.source_schema.names).to_pylist():
        key = key_of(row, dataset)
        before = latest.get(key)
        if before is None or before.deleted:
            out.append({**row, CHANGE: CREATED})
            created += 1
        elif before.updated_at != row[UPDATED_AT]:
            out.append({**row, CHANGE: CHANGED})
            changed += 1
        elif previous is not None and previous.get(key, row) != row:
            silent += 1
    gone = sorted(k for k, v in latest.items() if not v.deleted and k not in live_keys)
    out += [{**dict(zip(dataset.key, k, strict=True)), CHANGE: DELETED} for k in gone]
    for entry in out:
        entry[LOADED_AT], entry[LOAD_ID] = naive, load_id
    table = pa.Table.from_pylist(out, schema) if out else schema.empty_table()
    return Changes(table, created, changed, len(gone), silent)


def keys_of(rows: pa.Table, dataset: Dataset) -> set[Key]:
    """The keys of ``rows`` with no null part, as text."""
    columns = [pc.cast(rows[k], pa.string()) for k in dataset.key]
    keys = zip(*(c.to_pylist() for c in columns), strict=True)
    return {k for k in keys if None not in k}
