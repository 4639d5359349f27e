"""The shop database's tables, as the Jaffle Shop application writes them.

Money in integer cents, timestamps without time zone:

- ``customers(id text pk, name text)``
- ``orders(id text pk, customer text, ordered_at timestamp, store_id text, subtotal bigint,
  tax_paid bigint, order_total bigint)``, indexed on ``ordered_at``
- ``order_items(id text pk, order_id text, sku text)``, indexed on ``order_id``

These are the source system's tables (what the seed creates and the ingests select from); the
raw contracts of what the platform loads from them are in :mod:`.datasets`.
"""

from __future__ import annotations

import sqlalchemy as sa

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
