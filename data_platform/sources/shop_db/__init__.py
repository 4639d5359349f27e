"""The shop database source: the Jaffle Shop's application database (SQLite or PostgreSQL).

- ``datasets.py``: the raw contracts of customers, orders and order items;
- ``tables.py``: the source's own tables, as the application writes them;
- ``assets.py``: the raw ingests (``raw/customers``, ``raw/orders``, ``raw/order_items``);
- ``seed.py``: the demo data put in the database.

Its daily datasets run in the platform's ``daily_job`` (``data_platform/automation``).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from data_platform.core.sources import Resources, Source
from data_platform.sources.shop_db import assets, seed
from data_platform.sources.shop_db.datasets import DATASETS
from data_platform.sources.shop_db.tables import orders


def data_window(resources: Resources) -> tuple[dt.date, dt.date] | None:
    """First and last day holding orders, or ``None`` without orders."""
    if not resources["shop_db"].has_table(orders.name):
        return None
    bounds = sa.select(sa.func.min(orders.c.ordered_at), sa.func.max(orders.c.ordered_at))
    first, last = resources["shop_db"].fetch_one(bounds)
    if first is None:
        return None
    return _as_date(first), _as_date(last)


def _as_date(value) -> dt.date:
    if isinstance(value, str):  # SQLite without type information returns text
        value = dt.datetime.fromisoformat(value)
    return value.date() if isinstance(value, dt.datetime) else value


SOURCE = Source(
    name="shop_db",
    datasets=DATASETS,
    build_assets=assets.build_assets,
    data_window=data_window,
    seed=seed.seed,
    seed_files=seed.SEED_FILES,
)
