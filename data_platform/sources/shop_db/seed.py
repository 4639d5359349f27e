"""The demo shop database: jafgen's customers, orders and items, upserted by primary key.

Reads ``raw_customers.csv``, ``raw_orders.csv`` and ``raw_items.csv`` of a jafgen folder, all of
them, before writing anything; then upserts the three tables in one transaction. Upserting the
same input twice changes nothing. jafgen's customers have an id and a name only: each gets
made-up contact details (:func:`~data_platform.sources.shop_db.people.contact_details`,
deterministic per id) and ``updated_at`` = midnight of the history's first day.

What the seed refuses (:class:`SeedError` naming file, line and column) is what the shop
database could not hold as written, or what no run would ever read:

- a file that cannot be read (see :func:`~data_platform.loading.file_formats.read_csv_strictly`:
  encoding, quoting, field size, missing column) or a value that does not parse as its column's
  type (``12.5O`` as cents, ``2018-02-30`` as a time);
- a primary key left empty or given twice in a file (an upsert would keep one row at random);
- a text longer than its column in the shop tables (PostgreSQL would refuse it);
- an order without ``ordered_at``, an item without an order of ``raw_orders.csv``: the daily
  ingests read rows by their order's day, so such a row would never reach any run.

Everything else is the contract's to judge in a run (``datasets.py``): an empty field is NULL,
never the text ``'None'``, and a customer without a name or an item without a sku is
quarantined there with the rule and the column.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from data_platform.core.history import HistoryMove
from data_platform.core.sources import Resources, SeedInput, SeedSummary, SeedWrite
from data_platform.loading.file_formats import CsvTable, read_csv_strictly
from data_platform.sources.shop_db.datasets import CUSTOMERS, ORDER_ITEMS, ORDERS
from data_platform.sources.shop_db.people import contact_details
from data_platform.sources.shop_db.tables import customers, metadata, order_items, orders

CUSTOMERS_CSV, ORDERS_CSV, ITEMS_CSV = "raw_customers.csv", "raw_orders.csv", "raw_items.csv"
SEED_FILES = (CUSTOMERS_CSV, ORDERS_CSV, ITEMS_CSV)
# What jafgen writes of a customer; the rest of the contract is made up here.
JAFGEN_CUSTOMER = pa.schema([CUSTOMERS.source_schema.field(n) for n in ("id", "name")])


def seed(csv_dir: Path) -> SeedInput:
    """Read and check the shop files of ``csv_dir``; return the input whose write step upserts
    them into ``resources["shop_db"]``. Raises :class:`SeedError` (nothing written).

    Moved (see :class:`~data_platform.core.history.HistoryMove`): every ``ordered_at`` shifts;
    an order after the move's last day is dropped with its items; customers stay (a customer
    without orders is one the marts keep)."""
    read = {
        customers: _read(csv_dir / CUSTOMERS_CSV, JAFGEN_CUSTOMER, customers),
        orders: _read(csv_dir / ORDERS_CSV, ORDERS.source_schema, orders, ordered_at=_NO_DAY),
        order_items: _read(
            csv_dir / ITEMS_CSV, ORDER_ITEMS.source_schema, order_items, order_id=_NO_DAY
        ),
    }
    order_ids = {row["id"] for row in read[orders].rows}
    items = read[order_items]
    for index, row in enumerate(items.rows):
        if row["order_id"] not in order_ids:
            problem = f"{row['order_id']!r} is no order of {ORDERS_CSV}; {_NO_DAY}"
            raise items.error(index, "order_id", problem)
    given = {table: file.rows for table, file in read.items()}  # the files' bytes can go
    times = [row["ordered_at"] for row in given[orders]]
    days = (min(times).date(), max(times).date()) if times else None

    def moved(move: HistoryMove) -> SeedWrite:
        rows = dict(given)
        if move.moves:
            shifted = (
                {**row, "ordered_at": move.moved(row["ordered_at"])} for row in given[orders]
            )
            rows[orders] = [row for row in shifted if move.keeps(row["ordered_at"])]
            kept = {row["id"] for row in rows[orders]}
            rows[order_items] = [row for row in given[order_items] if row["order_id"] in kept]
        order_days = [row["ordered_at"].date() for row in rows[orders]]
        since = dt.datetime.combine(min(order_days), dt.time()) if order_days else _EPOCH
        rows[customers] = [
            {**row, **contact_details(row["id"], row["name"]), "updated_at": since}
            for row in given[customers]
        ]

        def write(resources: Resources, summary: SeedSummary) -> None:
            shop_db = resources["shop_db"]
            shop_db.create_tables(metadata)
            summary.rows.update(shop_db.upsert_all(rows))
            if order_days:
                summary.saw_days(min(order_days), max(order_days))

        return write

    return SeedInput(days, moved)


_EPOCH = dt.datetime(1970, 1, 1)
# Orders are extracted by their day, items by their order's day: a row without one is never read.
_NO_DAY = "the row would belong to no day, and no run would ever read it"


def _read(path: Path, schema: pa.Schema, table: sa.Table, **required: str) -> CsvTable:
    """``path`` read strictly against ``schema`` (the file's columns), then checked against
    ``table``: a primary key present and unique, texts within their column's length; and a
    value in each column of ``required`` (the reason to give when one is empty)."""
    read = read_csv_strictly(path, schema)
    key = [c.name for c in table.primary_key.columns]
    required = {
        **{k: f"it is the primary key of the shop table {table.name}" for k in key},
        **required,
    }
    lengths = {
        c.name: c.type.length
        for c in table.columns
        if isinstance(c.type, sa.String) and c.type.length
    }
    # Column by column, each check a fast pass over the values; only a failing one is located.
    for name, why in required.items():
        values = [row[name] for row in read.rows]
        if None in values:
            raise read.error(values.index(None), name, f"empty; {why}")
    for name, length in lengths.items():
        if name not in schema.names:
            continue
        values = [row[name] or "" for row in read.rows]
        if values and max(map(len, values)) > length:
            index = next(i for i, v in enumerate(values) if len(v) > length)
            problem = (
                f"{len(values[index])} characters, more than the {length} of "
                f"{table.name}.{name} in the shop database"
            )
            raise read.error(index, name, problem)
    keys = [tuple(row[name] for name in key) for row in read.rows]
    if len(set(keys)) < len(keys):
        first_line: dict[tuple, int] = {}
        for index, value in enumerate(keys):
            if value in first_line:
                shown = value[0] if len(value) == 1 else value
                problem = (
                    f"{shown!r} again (first on line {first_line[value]}); a key names one row"
                )
                raise read.error(index, key[0], problem)
            first_line[value] = read.lines[index]
    return read
