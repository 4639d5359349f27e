"""A SQLite shop database is read through ADBC (``ShopDatabaseResource.fetch_arrow``): the
same Arrow tables as through SQLAlchemy, for the ingests' own statements, and it waits for a
writer as sqlite3 does."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import pyarrow as pa
import pytest
import sqlalchemy as sa

from data_platform.core.datasets import TIMESTAMP
from data_platform.resources import shop_db as module
from data_platform.resources.shop_db import ShopDatabaseResource
from data_platform.sources.shop_db.assets import (
    EVENT_TIME,
    _order_items_by_order_time,
    select_by_event_time,
)
from data_platform.sources.shop_db.datasets import CUSTOMERS, ORDER_ITEMS, ORDERS
from data_platform.sources.shop_db.tables import customers, orders
from tests.conftest import SETTINGS

# The session's data covers 2018-09-01..2018-10-15 (TEST_DAYS = 45).
START, END = dt.datetime(2018, 9, 10), dt.datetime(2018, 10, 3)


def _with_time(dataset) -> pa.Schema:
    return pa.schema([*dataset.source_schema, pa.field(EVENT_TIME, TIMESTAMP)])


def _first_customers() -> list[str]:
    engine = ShopDatabaseResource(url=SETTINGS.shop_db_url).engine()
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.select(customers.c.id).limit(3))]


STATEMENTS = {
    "orders of a window": (
        lambda: select_by_event_time(ORDERS, orders)(START, END),
        _with_time(ORDERS),
    ),
    "order items of a window": (
        lambda: _order_items_by_order_time(START, END),
        _with_time(ORDER_ITEMS),
    ),
    "every customer (timestamps, nulls)": (
        lambda: sa.select(*(customers.c[n] for n in CUSTOMERS.source_schema.names)),
        CUSTOMERS.source_schema,
    ),
    "customers changed or by key (an IN list)": (
        lambda: sa.select(*(customers.c[n] for n in CUSTOMERS.source_schema.names)).where(
            (customers.c.updated_at >= dt.datetime(2018, 10, 1))
            | customers.c.id.in_(_first_customers())
        ),
        CUSTOMERS.source_schema,
    ),
    "nothing": (
        lambda: select_by_event_time(ORDERS, orders)(END, END),
        _with_time(ORDERS),
    ),
}


@pytest.mark.parametrize("case", list(STATEMENTS))
def test_adbc_reads_what_sqlalchemy_reads(seeded, case):
    statement, schema = STATEMENTS[case]
    engine = ShopDatabaseResource(url=SETTINGS.shop_db_url).engine()
    assert engine.dialect.name == "sqlite"
    through_adbc = module._fetch_sqlite_arrow(engine, statement(), schema)
    through_sqlalchemy = module._fetch_sqlalchemy_arrow(engine, statement(), schema, 1_000)
    assert through_adbc.schema == schema
    assert through_adbc.equals(through_sqlalchemy)
    if case != "nothing":
        assert through_adbc.num_rows > 0


def test_a_parameter_the_dialect_does_not_turn_into_text_is_refused(seeded):
    engine = ShopDatabaseResource(url=SETTINGS.shop_db_url).engine()
    statement = sa.select(orders.c.id).where(
        orders.c.ordered_at >= sa.bindparam("day", dt.date(2018, 9, 10), type_=sa.PickleType)
    )
    with pytest.raises(TypeError, match="parameter day of the shop query"):
        module._fetch_sqlite_arrow(engine, statement, pa.schema([("id", pa.string())]))


HOLD = """
import sqlite3, sys, time
writer = sqlite3.connect(sys.argv[1], isolation_level=None)
writer.execute("begin exclusive")  # no reader gets in until it commits
print("locked", flush=True)
time.sleep(1.0)
writer.execute("commit")
"""


def test_a_read_waits_for_a_writer(tmp_path):
    """A writer in another process (SQLite's locks are per process) holds the file for 1 s:
    the read waits for it, as sqlite3 does, rather than failing with "database is locked"."""
    path = tmp_path / "shop.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("create table t (id text)")
        conn.execute("insert into t values ('a')")
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "locked"
        started = time.monotonic()
        rows = ShopDatabaseResource(url=f"sqlite:///{path}").fetch_arrow(
            sa.select(sa.column("id")).select_from(sa.table("t")), pa.schema([("id", pa.string())])
        )
        waited = time.monotonic() - started
    finally:
        assert writer.wait(timeout=10) == 0
    assert rows["id"].to_pylist() == ["a"]
    assert 0.5 < waited < 5, waited
