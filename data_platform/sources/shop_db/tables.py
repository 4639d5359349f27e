"""The shop database's tables, as the Jaffle Shop application writes them.

Money in integer cents, timestamps without time zone:

- ``customers(id text pk, name text, email text, phone text, street text, city text,
  postcode text, updated_at timestamp)``: contact details are personal data (see
  :mod:`.people` for the demo's)
- ``orders(id text pk, customer text, ordered_at timestamp, store_id text, subtotal bigint,
  tax_paid bigint, order_total bigint)``, indexed on ``ordered_at``
- ``order_items(id text pk, order_id text, sku text)``, indexed on ``order_id``

These are the source system's tables (what the seed creates and the ingests select from); the
raw contracts of what the platform loads from them are in :mod:`.datasets`.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("email", sa.String(254)),
    sa.Column("phone", sa.String(32)),
    sa.Column("street", sa.String(255)),
    sa.Column("city", sa.String(100)),
    sa.Column("postcode", sa.String(16)),
    # Set by whoever writes the row; a writer that leaves it out (a test's few rows, a tool)
    # stamps the time of writing, so change capture never sees a row without one.
    sa.Column("updated_at", sa.DateTime, default=_utc_now),
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
