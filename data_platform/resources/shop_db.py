"""A relational source database (the Jaffle Shop's application database), by SQLAlchemy URL.

Any SQLAlchemy URL works: a SQLite file by default, PostgreSQL by URL. The resource knows no
table: each source describes its tables (``data_platform/sources/shop_db/tables.py``) and
passes SQLAlchemy statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr
from sqlalchemy.dialects import postgresql, sqlite

_UPSERT_BATCH = 5_000


class ShopDatabaseResource(ConfigurableResource):
    """Connection to the shop database, by SQLAlchemy URL."""

    url: str = Field(description="SQLAlchemy URL of the shop database.")

    _engine: sa.Engine | None = PrivateAttr(default=None)

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.url)
        return self._engine

    def create_tables(self, metadata: sa.MetaData) -> None:
        """Create the tables and indexes of ``metadata`` that do not exist."""
        metadata.create_all(self.engine())

    def upsert(self, table: sa.Table, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert ``rows`` into ``table``, replacing rows with the same primary key.

        Idempotent: upserting the same rows twice leaves the table as after the first time.
        Returns the number of rows written.
        """
        return self.upsert_all({table: rows})[table.name]

    def upsert_all(
        self, rows_by_table: Mapping[sa.Table, Iterable[Mapping[str, Any]]]
    ) -> dict[str, int]:
        """:meth:`upsert` the rows of every table, in one transaction: all of them or, when any
        statement fails, none. Tables are written in the mapping's order (parents first, where
        the database enforces foreign keys). Returns the rows written per table name."""
        insert = _dialect_insert(self.engine().dialect.name)
        written: dict[str, int] = {}
        with self.engine().begin() as conn:
            for table, rows in rows_by_table.items():
                keys = [c.name for c in table.primary_key.columns]
                written[table.name] = 0
                batch: list[Mapping[str, Any]] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= _UPSERT_BATCH:
                        written[table.name] += _upsert_batch(conn, insert, table, keys, batch)
                        batch = []
                if batch:
                    written[table.name] += _upsert_batch(conn, insert, table, keys, batch)
        return written

    def fetch_arrow(
        self, statement: sa.Select, schema: pa.Schema, batch_rows: int = 50_000
    ) -> pa.Table:
        """Run ``statement`` and return its rows as an Arrow table of ``schema``.

        Rows are streamed (a server-side cursor where the driver has one) and converted a batch
        of ``batch_rows`` at a time, so memory holds Arrow data, not a whole result of Python
        rows. Identifiers are quoted by SQLAlchemy.
        """
        batches = []
        with self.engine().connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(
                statement
            )
            for rows in result.partitions():
                columns = zip(*rows, strict=True) if rows else [[] for _ in schema]
                arrays = [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)]
                batches.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
        return pa.Table.from_batches(batches, schema=schema)

    def column_names(self, table: str) -> list[str]:
        """The columns the database's ``table`` has now (reflected), in order; raises
        ``sqlalchemy.exc.NoSuchTableError`` when it is missing."""
        return [c["name"] for c in sa.inspect(self.engine()).get_columns(table)]

    def has_table(self, name: str) -> bool:
        return sa.inspect(self.engine()).has_table(name)

    def fetch_one(self, statement: sa.Select) -> sa.Row:
        """The single row of ``statement`` (an aggregate, say)."""
        with self.engine().connect() as conn:
            return conn.execute(statement).one()


def _dialect_insert(dialect: str):
    # Upserts (ON CONFLICT) are dialect-specific in SQLAlchemy.
    inserts = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
    if dialect not in inserts:
        raise NotImplementedError(f"upsert is not implemented for the {dialect!r} dialect")
    return inserts[dialect]


def _upsert_batch(conn, insert, table: sa.Table, keys: Sequence[str], batch) -> int:
    statement = insert(table)
    updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates), batch)
    return len(batch)
