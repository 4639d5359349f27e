"""The warehouse: where raw ingests load their tables and dbt builds staging and marts.

One setting, ``DATA_PLATFORM_WAREHOUSE_URL``, picks the engine and where it lives:

- ``duckdb:///<path>`` (the default, a file in the state folder); the dbt target ``duckdb``.
- ``postgresql://user:password@host:port/database``; the dbt target ``postgres``.

Raw loads go through :class:`WarehouseResource`: DuckDB through dagster-duckdb's connection,
PostgreSQL through ADBC (Arrow batches streamed with ``COPY``). Both replace a partition's rows
in one transaction, so a reader sees the old rows or the new ones, never a mix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field

DUCKDB = "duckdb"
POSTGRES = "postgres"
_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}


@dataclass(frozen=True)
class WarehouseLocation:
    """A parsed warehouse URL: the engine and how to reach it."""

    engine: str
    path: str | None = None  # DuckDB: the database file (or ``md:<database>`` for MotherDuck)
    server: sa.engine.URL | None = None  # PostgreSQL: user, password, host, port, database

    @property
    def dbt_target(self) -> str:
        """The output of ``dbt_project/profiles.yml`` for this engine."""
        return self.engine

    def dbt_env(self) -> dict[str, str]:
        """The variables ``profiles.yml`` reads for this location (all strings)."""
        if self.server is None:
            return {"DATA_PLATFORM_WAREHOUSE_PATH": self.path or ""}
        return {
            "DATA_PLATFORM_WAREHOUSE_HOST": self.server.host or "localhost",
            "DATA_PLATFORM_WAREHOUSE_PORT": str(self.server.port or 5432),
            "DATA_PLATFORM_WAREHOUSE_USER": self.server.username or "",
            "DATA_PLATFORM_WAREHOUSE_PASSWORD": self.server.password or "",
            "DATA_PLATFORM_WAREHOUSE_DATABASE": self.server.database or "",
        }

    def libpq_url(self) -> str:
        """PostgreSQL only: the URI libpq (and so ADBC) understands."""
        return self.server.set(drivername="postgresql").render_as_string(hide_password=False)

    def sqlalchemy_url(self) -> str:
        """PostgreSQL only: the URL SQLAlchemy connects with (psycopg 3)."""
        return self.server.set(drivername="postgresql+psycopg").render_as_string(
            hide_password=False
        )


def parse_warehouse_url(url: str) -> WarehouseLocation:
    """Parse ``DATA_PLATFORM_WAREHOUSE_URL``.

    ``duckdb:///<path>`` (``duckdb:////abs/file.duckdb`` for an absolute path) or a bare path
    select DuckDB;
    ``postgresql://``, ``postgres://``, ``postgresql+psycopg://`` and ``postgresql+psycopg2://``
    select PostgreSQL. Raises ``ValueError`` for any other scheme or a URL without a database.
    """
    if "://" not in url:
        return WarehouseLocation(DUCKDB, path=url)
    scheme, rest = url.split("://", 1)
    if scheme == "duckdb":
        # As SQLAlchemy's file URLs: duckdb:///relative.duckdb, duckdb:////abs/path.duckdb.
        if not rest.startswith("/") or not rest[1:]:
            raise ValueError(f"warehouse URL {url!r}: expected duckdb:///<path to the file>")
        return WarehouseLocation(DUCKDB, path=rest[1:])
    if scheme in _POSTGRES_DRIVERS:
        parsed = sa.engine.make_url(url)
        if not parsed.database:
            raise ValueError(f"warehouse URL {_hide_password(url)!r} names no database")
        return WarehouseLocation(POSTGRES, server=parsed)
    raise ValueError(
        f"warehouse URL {_hide_password(url)!r}: unsupported engine {scheme!r} "
        "(use duckdb:///<path> or postgresql://user@host:port/database)"
    )


def _hide_password(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


class WarehouseResource(ConfigurableResource):
    """The warehouse raw ingests write into (DuckDB file or PostgreSQL database)."""

    url: str = Field(
        description="duckdb:///<path> or postgresql://user:password@host:port/database"
    )

    @property
    def location(self) -> WarehouseLocation:
        return parse_warehouse_url(self.url)

    @property
    def engine(self) -> str:
        return self.location.engine

    def replace_rows(
        self,
        schema: str,
        table: str,
        batch: pa.Table,
        where: tuple[str, dt.date, dt.date] | None = None,
    ) -> None:
        """Atomically replace rows of ``schema.table`` with ``batch`` (matched by column name).

        ``where=(column, first, last)`` replaces the rows with ``column`` between ``first`` and
        ``last`` (a partition window); ``None`` replaces every row. Creates the schema and the
        table (with ``batch``'s types) when missing. One transaction: on any error nothing
        changes. Raises the driver's error (duckdb or ADBC) on failure.
        """
        if self.engine == DUCKDB:
            self._replace_duckdb(schema, table, batch, where)
        else:
            self._replace_postgres(schema, table, batch, where)

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a read-only query; rows as dicts of Python values (``Decimal`` for decimals)."""
        location = self.location
        if location.engine == DUCKDB:
            import duckdb

            with duckdb.connect(location.path, read_only=True) as conn:
                relation = conn.sql(sql)
                columns = relation.columns
                return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
        engine = sa.create_engine(location.sqlalchemy_url(), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return [dict(row._mapping) for row in conn.execute(sa.text(sql))]
        finally:
            engine.dispose()

    def _replace_duckdb(self, schema, table, batch, where) -> None:
        from dagster_duckdb import DuckDBResource

        target = f'"{schema}"."{table}"'
        with DuckDBResource(database=self.location.path).get_connection() as conn:
            try:
                conn.execute(f'create schema if not exists "{schema}"')
                conn.register("incoming_batch", batch)
                conn.execute("begin transaction")
                try:
                    conn.execute(
                        f"create table if not exists {target} as "
                        "select * from incoming_batch limit 0"
                    )
                    conn.execute(*_delete_statement(target, where, "?"))
                    conn.execute(f"insert into {target} by name select * from incoming_batch")
                    conn.execute("commit")
                except BaseException:
                    conn.execute("rollback")
                    raise
            finally:
                conn.close()

    def _replace_postgres(self, schema, table, batch, where) -> None:
        with self._adbc() as conn, conn.cursor() as cursor:
            try:
                cursor.execute(f'create schema if not exists "{schema}"')
                # An empty batch creates the table with the batch's types if it is missing.
                cursor.adbc_ingest(table, batch.slice(0, 0), "create_append", db_schema_name=schema)
                cursor.execute(*_delete_statement(f'"{schema}"."{table}"', where, "$"))
                if batch.num_rows:
                    cursor.adbc_ingest(table, batch, mode="append", db_schema_name=schema)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    @contextmanager
    def _adbc(self) -> Iterator[Any]:
        import adbc_driver_postgresql.dbapi

        with adbc_driver_postgresql.dbapi.connect(self.location.libpq_url()) as conn:
            yield conn


def _delete_statement(target: str, where, style: str) -> tuple[str, list]:
    if where is None:
        return f"delete from {target}", []
    column, first, last = where
    low, high = ("?", "?") if style == "?" else ("$1", "$2")
    return f'delete from {target} where "{column}" between {low} and {high}', [first, last]
