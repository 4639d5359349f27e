"""The demo shop database: jafgen's customers, orders and items, upserted by primary key.

Reads ``raw_customers.csv``, ``raw_orders.csv`` and ``raw_items.csv`` of a jafgen folder.
Upserting the same input twice changes nothing. Raises :class:`SeedError` naming the file,
line and column of a value that does not parse.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

from data_platform.core.sources import Resources, SeedError, SeedSummary
from data_platform.sources.shop_db.tables import customers, metadata, order_items, orders

CUSTOMERS_CSV, ORDERS_CSV, ITEMS_CSV = "raw_customers.csv", "raw_orders.csv", "raw_items.csv"
SEED_FILES = (CUSTOMERS_CSV, ORDERS_CSV, ITEMS_CSV)


def seed(csv_dir: Path, resources: Resources, summary: SeedSummary) -> None:
    """Upsert the jafgen rows of ``csv_dir`` into ``resources["shop_db"]``."""
    shop_db = resources["shop_db"]
    shop_db.create_tables(metadata)
    summary.rows["customers"] = shop_db.upsert(
        customers, _rows(csv_dir / CUSTOMERS_CSV, {"id": str, "name": str})
    )
    order_rows = list(
        _rows(
            csv_dir / ORDERS_CSV,
            {
                "id": str,
                "customer": str,
                "ordered_at": dt.datetime.fromisoformat,
                "store_id": str,
                "subtotal": int,
                "tax_paid": int,
                "order_total": int,
            },
        )
    )
    summary.rows["orders"] = shop_db.upsert(orders, order_rows)
    if order_rows:
        days = [r["ordered_at"].date() for r in order_rows]
        summary.saw_days(min(days), max(days))
    summary.rows["order_items"] = shop_db.upsert(
        order_items, _rows(csv_dir / ITEMS_CSV, {"id": str, "order_id": str, "sku": str})
    )


def _rows(path: Path, columns: dict[str, Callable[[str], object]]) -> Iterator[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        absent = set(columns) - set(reader.fieldnames or [])
        if absent:
            raise SeedError(f"{path}: missing column(s) {', '.join(sorted(absent))}")
        for line, record in enumerate(reader, start=2):
            row = {}
            for name, parse in columns.items():
                try:
                    row[name] = parse(record[name])
                except (TypeError, ValueError) as error:
                    raise SeedError(
                        f"{path}, line {line}, column {name}: {record[name]!r} is not valid ({error})"
                    ) from error
            yield row
