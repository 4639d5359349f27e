"""The warehouse: where raw ingests load their tables and dbt builds staging and marts.

One setting, ``DATA_PLATFORM_WAREHOUSE_URL``, picks the engine and where it lives:

- ``duckdb:///<path>`` (the default, a file in the state folder); the dbt target ``duckdb``.
- ``postgresql://user:password@host:port/database``; the dbt target ``postgres``.

Raw loads go through :class:`WarehouseResource`: DuckDB through its own connection,
PostgreSQL through ADBC (Arrow batches streamed with ``COPY``). Both replace a partition's rows
(raw and quarantine together) in one transaction, so a reader sees the old rows or the new
ones, never a mix. A column the contract has and the table lacks (a table an earlier version
of the platform created) is added in that transaction, null in the rows already there:
contracts grow by adding columns, and a state folder keeps working across the upgrade.

Faults follow the one retry policy (:mod:`data_platform.resources.faults`): every error comes
out redacted, as a transient fault (retried by the step's ``RetryPolicy``) or a permanent one
(fails at once). A DuckDB file locked by another process is waited for briefly
(:data:`DUCKDB_LOCK_WAIT_SECONDS`, exponential backoff with jitter) on each attempt, instead of
dagster-duckdb's ten retries of about 100 s: the step's policy retries it beyond that.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import backoff
import duckdb
import pyarrow as pa
import sqlalchemy as sa
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from data_platform.core.errors import is_transient, url_password
from data_platform.core.pseudonyms import KEY_TABLE as PSEUDONYM_KEY_TABLE
from data_platform.core.settings import WAREHOUSE_URL
from data_platform.core.warehouse_url import DUCKDB, WarehouseLocation, parse_warehouse_url
from data_platform.resources.faults import faults

# How long one attempt waits for a DuckDB file another process holds (seconds, in total).
DUCKDB_LOCK_WAIT_SECONDS = 5
# The DuckDB files this process keeps open (WarehouseResource.held): path -> connection.
_HELD: dict[str, duckdb.DuckDBPyConnection] = {}


def _log_wait(details: dict) -> None:
    if details["tries"] == 1:  # once per connection: the waits that follow are the same story
        get_dagster_logger().warning(
            "warehouse: the DuckDB file is locked by another process; waiting up to "
            f"{DUCKDB_LOCK_WAIT_SECONDS} s for it"
        )


@backoff.on_exception(
    backoff.expo,
    duckdb.Error,
    max_time=DUCKDB_LOCK_WAIT_SECONDS,
    giveup=lambda error: not is_transient(error),
    on_backoff=_log_wait,
    factor=0.25,
    logger=None,
)
def connect_duckdb(path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file ``path``, waiting up to
    :data:`DUCKDB_LOCK_WAIT_SECONDS` while another process holds its lock; raises
    ``duckdb.IOException`` after that, or at once for any other error."""
    return duckdb.connect(path, read_only=read_only)


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

    def _faults(self, doing: str):
        return faults(f"warehouse ({WAREHOUSE_URL}={self.url}): {doing}", _secrets(self.url))

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep a DuckDB warehouse open in this process for the block (nothing on a server
        warehouse; re-entrant). Every read and transaction inside it runs on a cursor of one
        connection, so DuckDB checkpoints the file once, when the block ends, rather than
        whenever a transaction's own connection closes: loading 3 million rows in 24 batches
        took 9.2 s with a connection per transaction and 4.4 s held (``bench/raw_path.py``).
        Each transaction still commits on its own. The file stays locked for the whole block,
        which a raw step may do: it holds the warehouse pool's only slot anyway. Opening it
        waits as :func:`connect_duckdb` does; raises a fault of
        :mod:`data_platform.resources.faults`."""
        location = self.location
        if location.engine != DUCKDB or location.path in _HELD:
            yield
            return
        with self._faults("opening"):
            _HELD[location.path] = connect_duckdb(location.path)
        try:
            yield
        except BaseException:
            with suppress(Exception):  # the block's own error is the one to report
                _HELD.pop(location.path).close()
            raise
        with self._faults("closing (checkpointing the file)"):
            _HELD.pop(location.path).close()

    @contextmanager
    def _duckdb(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection for one read or transaction: a cursor of the held one
        (:meth:`held`), else a connection of its own, closed after."""
        path = self.location.path
        held = _HELD.get(path)
        if held is None:
            with connect_duckdb(path, read_only=read_only) as conn:
                yield conn
            return
        cursor = held.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def replace(self, *replacements: Replacement) -> None:
        """Apply every replacement in one transaction: for each, delete the rows it replaces
        and insert its batch (matched by column name). Creates missing schemas and tables
        with the batch's types. On any error nothing changes; raises the driver's error
        (as a fault of :mod:`data_platform.resources.faults`)."""
        tables = ", ".join(sorted({r.target for r in replacements}))
        with self._faults(f"replacing rows of {tables}"):
            if self.engine == DUCKDB:
                self._replace_duckdb(replacements)
            else:
                self._replace_postgres(replacements)

    def created(self) -> bool:
        """Whether the warehouse exists yet: a DuckDB file is made by its first write (a
        server database always exists once reached)."""
        location = self.location
        if location.engine != DUCKDB or location.path.startswith("md:"):  # md: MotherDuck
            return True
        return os.path.exists(location.path)

    def table_exists(self, schema: str, table: str) -> bool:
        location = self.location
        path = location.path or ""
        if location.engine == DUCKDB and ":" not in path and not os.path.exists(path):
            return False  # a fresh warehouse file: the first write creates it
        rows = self.query(
            "select count(*) as n from information_schema.tables "
            f"where table_schema = '{_identifier(schema)}' and table_name = '{_identifier(table)}'"
        )
        return rows[0]["n"] > 0

    def distinct_values(
        self,
        schema: str,
        table: str,
        column: str,
        within: tuple[str, dt.date, dt.date] | None = None,
    ) -> pa.Array | None:
        """The distinct non-null values of a column as text (an Arrow string array, in no
        particular order), of every row or of those whose ``within[0]`` column lies between
        ``within[1]`` and ``within[2]``; ``None`` when the table is missing."""
        column = _identifier(column)
        sql = (
            f'select distinct cast("{column}" as varchar) as v '
            f'from "{_identifier(schema)}"."{_identifier(table)}" where "{column}" is not null'
        )
        if within is not None:
            sql += (
                f' and "{_identifier(within[0])}" between {_date(within[1])} and {_date(within[2])}'
            )
        location = self.location
        if location.engine != DUCKDB:
            if not self.table_exists(schema, table):
                return None
            return pa.array([r["v"] for r in self.query(sql)], pa.string())
        # One connection for the existence and the values; Arrow end to end (no Python strings).
        with self._faults("reading"), self._duckdb(read_only=True) as conn:
            if not _duckdb_table_exists(conn, schema, table):
                return None
            values = conn.sql(sql).to_arrow_table()["v"]
        return values.combine_chunks().cast(pa.string())

    def find_keys(
        self,
        schema: str,
        table: str,
        column: str,
        keys: pa.Array | list[str],
        partition_column: str,
        outside: tuple[dt.date, dt.date] | None = None,
        within: tuple[dt.date, dt.date] | None = None,
    ) -> dict[str, dt.date]:
        """Which of ``keys`` the table holds in partitions outside ``outside`` (first, last
        day), or within ``within``, and in which partition. Empty when the table is missing."""
        if not len(keys):
            return {}
        if (outside is None) == (within is None):
            raise ValueError("find_keys: give one of outside and within")
        target = f'"{_identifier(schema)}"."{_identifier(table)}"'
        days = outside or within
        between = "not between" if outside else "between"
        sql = (
            f'select t."{column}" as k, min(t."{partition_column}") as p from {target} t '
            f'where t."{column}" in (select k from wanted) '
            f'and t."{partition_column}" {between} {_date(days[0])} and {_date(days[1])} '
            "group by 1"
        )
        location = self.location
        with self._faults(f"looking up keys in {target}"):
            if location.engine == DUCKDB:
                with self._duckdb(read_only=True) as conn:
                    if not _duckdb_table_exists(conn, schema, table):
                        return {}
                    conn.register("wanted", pa.table({"k": pa.array(keys, pa.string())}))
                    return dict(conn.execute(sql).fetchall())
            if not self.table_exists(schema, table):
                return {}
            keys = keys.to_pylist() if isinstance(keys, pa.Array) else keys
            engine = sa.create_engine(location.sqlalchemy_url(), poolclass=sa.pool.NullPool)
            try:
                with engine.connect() as conn:
                    statement = sa.text(
                        sql.replace(
                            "(select k from wanted)", "(select unnest(cast(:keys as text[])))"
                        )
                    )
                    return dict(conn.execute(statement, {"keys": keys}).fetchall())
            finally:
                engine.dispose()

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a read-only query; rows as dicts of Python values (``Decimal`` for decimals).
        Raises a fault of :mod:`data_platform.resources.faults`."""
        location = self.location
        with self._faults("reading"):
            if location.engine == DUCKDB:
                with self._duckdb(read_only=True) as conn:
                    relation = conn.sql(sql)
                    columns = relation.columns
                    return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
            engine = sa.create_engine(location.sqlalchemy_url(), poolclass=sa.pool.NullPool)
            try:
                with engine.connect() as conn:
                    return [dict(row._mapping) for row in conn.execute(sa.text(sql))]
            finally:
                engine.dispose()

    def execute(self, statements: list[str]) -> None:
        """Run ``statements`` (SQL without parameters, the platform's own) in one transaction:
        all of them or none. Raises a fault of :mod:`data_platform.resources.faults`."""
        with self._faults("writing"):
            if self.location.engine == DUCKDB:
                with self._duckdb() as conn:
                    conn.execute("begin transaction")
                    try:
                        for statement in statements:
                            conn.execute(statement)
                        conn.execute("commit")
                    except BaseException:
                        conn.execute("rollback")
                        raise
                return
            engine = sa.create_engine(self.location.sqlalchemy_url(), poolclass=sa.pool.NullPool)
            try:
                with engine.begin() as conn:
                    for statement in statements:
                        conn.exec_driver_sql(statement)
            finally:
                engine.dispose()

    def store_pseudonym_pads(self, inner: str, outer: str) -> None:
        """Keep the pseudonym key's two HMAC pads (hex, :func:`~data_platform.core.pseudonyms.
        hmac_pads`) in ``private.pseudonym_key``, one row, replaced in one transaction; the
        dbt macro ``pseudonym`` reads them. On PostgreSQL the schema ``private`` is the
        platform role's alone (no grant to the analyst or engineer roles). Raises a fault of
        :mod:`data_platform.resources.faults`."""
        schema, table = PSEUDONYM_KEY_TABLE
        statements = [
            f"create schema if not exists {schema}",
            f"create table if not exists {schema}.{table} (inner_pad text, outer_pad text)",
            f"delete from {schema}.{table}",
        ]
        insert = f"insert into {schema}.{table} values ('{inner}', '{outer}')"
        if not all(c in "0123456789abcdef" for c in inner + outer):
            raise ValueError("a pad is hex digits only")
        with self._faults("writing the pseudonym key"):
            if self.location.engine == DUCKDB:
                with self._duckdb() as conn:
                    conn.execute(statements[0])
                    conn.execute(statements[1])
                    rows = conn.execute(f"select inner_pad, outer_pad from {schema}.{table}")
                    if rows.fetchall() == [(inner, outer)]:
                        return  # the usual case: the same key as last time, nothing written
                    conn.execute("begin transaction")
                    conn.execute(statements[2])
                    conn.execute(insert)
                    conn.execute("commit")
                return
            engine = sa.create_engine(self.location.sqlalchemy_url(), poolclass=sa.pool.NullPool)
            try:
                with engine.begin() as conn:
                    for statement in [*statements, insert]:
                        conn.execute(sa.text(statement))
            finally:
                engine.dispose()

    def _replace_duckdb(self, replacements) -> None:
        with self._duckdb() as conn:
            try:
                for number, r in enumerate(replacements):
                    conn.execute(f'create schema if not exists "{r.schema}"')
                    conn.register(f"incoming_{number}", r.batch)
                conn.execute("begin transaction")
                try:
                    for number, r in enumerate(replacements):
                        conn.execute(
                            f"create table if not exists {r.target} as "
                            f"select * from incoming_{number} limit 0"
                        )
                        have = {
                            name
                            for (name,) in conn.execute(
                                "select column_name from information_schema.columns where "
                                "table_schema = ? and table_name = ?",
                                [r.schema, r.table],
                            ).fetchall()
                        }
                        for name, kind in conn.execute(
                            f"select column_name, column_type from (describe incoming_{number})"
                        ).fetchall():
                            if name not in have:
                                conn.execute(
                                    f'alter table {r.target} add column "{_identifier(name)}" {kind}'
                                )
                        if delete := r.delete_statement():
                            conn.execute(delete)
                        conn.execute(
                            f"insert into {r.target} by name select * from incoming_{number}"
                        )
                    conn.execute("commit")
                except BaseException:
                    conn.execute("rollback")
                    raise
            finally:
                conn.close()

    def _replace_postgres(self, replacements) -> None:
        with self._adbc() as conn, conn.cursor() as cursor:
            try:
                for r in replacements:
                    cursor.execute(f'create schema if not exists "{r.schema}"')
                    # An empty batch creates the table with the batch's types if it is missing.
                    cursor.execute(
                        "select column_name from information_schema.columns where "
                        f"table_schema = '{_identifier(r.schema)}' and "
                        f"table_name = '{_identifier(r.table)}'"
                    )
                    have = {name for (name,) in cursor.fetchall()}
                    for column in r.batch.schema if have else ():
                        if column.name not in have:
                            cursor.execute(
                                f'alter table {r.target} add column "{_identifier(column.name)}" '
                                f"{_postgres_type(column.type)}"
                            )
                    cursor.adbc_ingest(
                        r.table, r.batch.slice(0, 0), "create_append", db_schema_name=r.schema
                    )
                    if delete := r.delete_statement():
                        cursor.execute(delete)
                    if r.batch.num_rows:
                        cursor.adbc_ingest(r.table, r.batch, mode="append", db_schema_name=r.schema)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    @contextmanager
    def _adbc(self) -> Iterator[Any]:
        # Imported here: the driver loads libpq, which only a PostgreSQL warehouse needs.
        import adbc_driver_postgresql.dbapi

        with adbc_driver_postgresql.dbapi.connect(self.location.libpq_url()) as conn:
            yield conn


def _postgres_type(kind: pa.DataType) -> str:
    """The PostgreSQL type ADBC gives an Arrow type when it creates a table (for a column a
    newer contract adds to a table an older one created)."""
    if pa.types.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    for test, name in (
        (pa.types.is_string, "text"),
        (pa.types.is_large_string, "text"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_int32, "integer"),
        (pa.types.is_float64, "double precision"),
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_date32, "date"),
    ):
        if test(kind):
            return name
    raise ValueError(f"no PostgreSQL column type for Arrow {kind}")


@dataclass(frozen=True)
class Replacement:
    """Rows of ``schema.table`` to replace by ``batch``: those whose ``partition_column`` is
    one of ``partitions`` (dates), or whose ``key_column`` is one of ``keys`` (text), or every
    row when neither is given."""

    schema: str
    table: str
    batch: pa.Table
    partition_column: str | None = None
    partitions: tuple[dt.date, ...] | None = None
    key_column: str | None = None
    keys: tuple[str, ...] | None = None

    @property
    def target(self) -> str:
        return f'"{_identifier(self.schema)}"."{_identifier(self.table)}"'

    def delete_statement(self) -> str | None:
        if self.keys is not None:
            if self.partitions is not None:
                raise ValueError("Replacement: give partitions or keys, not both")
            if not self.keys:
                return None
            listed = ", ".join(_text(key) for key in sorted(set(self.keys)))
            return f'delete from {self.target} where "{_identifier(self.key_column)}" in ({listed})'
        if self.partitions is None:
            return f"delete from {self.target}"
        if not self.partitions:
            return None
        days = ", ".join(_date(day) for day in sorted(self.partitions))
        return f'delete from {self.target} where "{self.partition_column}" in ({days})'


def _duckdb_table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    ((found,),) = conn.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return found > 0


def _secrets(url: str) -> tuple[str, ...]:
    password = url_password(url)
    return (password,) if password else ()


def _date(day: dt.date) -> str:
    # Dates are formatted from date objects, never from input text: safe to inline.
    return f"date '{dt.date.isoformat(day)}'"


def _text(value: str) -> str:
    # A text literal for keys the platform produced (run ids, timestamps), quotes doubled.
    return "'" + value.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name
