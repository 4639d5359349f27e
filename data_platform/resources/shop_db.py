"""The operational shop database (the Jaffle Shop's application database).

Tables, as the application writes them (money in integer cents, timestamps without time zone):

- ``customers(id text pk, name text)``
- ``orders(id text pk, customer text, ordered_at timestamp, store_id text, subtotal bigint,
  tax_paid bigint, order_total bigint)``, indexed on ``ordered_at``
- ``order_items(id text pk, order_id text, sku text)``, indexed on ``order_id``

Any SQLAlchemy URL works: a SQLite file by default, PostgreSQL by URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255)),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("customer", sa.String(64)),
    sa.Column("ordered_at", sa.DateTime, index=True),
    sa.Column("store_id", sa.String(64)),
    sa.Column("subtotal", sa.BigInteger),
    sa.Column("tax_paid", sa.BigInteger),
    sa.Column("order_total", sa.BigInteger),
)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(64), index=True),
    sa.Column("sku", sa.String(32)),
)

_UPSERT_BATCH = 5_000


class ShopDatabaseResource(ConfigurableResource):
    """Connection to the shop database, by SQLAlchemy URL."""

    url: str = Field(description="SQLAlchemy URL of the shop database.")

    _engine: sa.Engine | None = PrivateAttr(default=None)

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.url)
        return self._engine

    def create_tables(self) -> None:
        """Create the shop tables and indexes if they do not exist."""
        metadata.create_all(self.engine())

    def upsert(self, table: sa.Table, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert ``rows`` into ``table``, replacing rows with the same primary key.

        Idempotent: upserting the same rows twice leaves the table as after the first time.
        Returns the number of rows written.
        """
        insert = _dialect_insert(self.engine().dialect.name)
        keys = [c.name for c in table.primary_key.columns]
        written = 0
        batch: list[Mapping[str, Any]] = []
        with self.engine().begin() as conn:
            for row in rows:
                batch.append(row)
                if len(batch) >= _UPSERT_BATCH:
                    written += _upsert_batch(conn, insert, table, keys, batch)
                    batch = []
            if batch:
                written += _upsert_batch(conn, insert, table, keys, batch)
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

    def count(self, table: sa.Table) -> int:
        with self.engine().connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()

    def ordered_at_bounds(self) -> tuple[Any, Any]:
        """``(min, max)`` of ``orders.ordered_at`` (``(None, None)`` when there are no orders)."""
        with self.engine().connect() as conn:
            row = conn.execute(
                sa.select(sa.func.min(orders.c.ordered_at), sa.func.max(orders.c.ordered_at))
            ).one()
        return row[0], row[1]


def _dialect_insert(dialect: str):
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise NotImplementedError(f"upsert is not implemented for the {dialect!r} dialect")
    return insert


def _upsert_batch(conn, insert, table: sa.Table, keys: Sequence[str], batch) -> int:
    statement = insert(table)
    updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates), batch)
    return len(batch)
