"""The raw contract: the Arrow schema of every raw dataset, its key and its partitioning.

Raw data keeps the source's names and units: money in integer cents, timestamps without time
zone as the source wrote them. Daily-partitioned datasets carry ``_partition_date`` (DATE, the
day of the row's event time) so a partition can be replaced atomically in the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

PARTITION_COLUMN = "_partition_date"
RAW_SCHEMA = "raw"


@dataclass(frozen=True)
class Reference:
    """Every non-null ``column`` value must be a ``key`` of raw ``dataset``: loaded in full, or
    (``same_partition``) within the same daily partitions (an item's order)."""

    column: str
    dataset: str
    key: str
    same_partition: bool = False


@dataclass(frozen=True)
class RawDataset:
    """One raw dataset: lake folder and warehouse table ``raw.<name>``."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    event_time: str | None = None  # the timestamp column that decides the daily partition
    references: tuple[Reference, ...] = ()  # checked by the quarantine policy

    @property
    def partitioned(self) -> bool:
        return self.event_time is not None

    @property
    def table(self) -> str:
        return f"{RAW_SCHEMA}.{self.name}"

    @property
    def source_schema(self) -> pa.Schema:
        """The columns the source delivers: the raw schema less the lineage column."""
        return pa.schema([f for f in self.schema if f.name != PARTITION_COLUMN])


def _schema(*fields: tuple[str, pa.DataType], partitioned: bool = False) -> pa.Schema:
    columns = [pa.field(name, kind) for name, kind in fields]
    if partitioned:
        columns.append(pa.field(PARTITION_COLUMN, pa.date32()))
    return pa.schema(columns)


TIMESTAMP = pa.timestamp("us")

CUSTOMERS = RawDataset(
    "customers", _schema(("id", pa.string()), ("name", pa.string())), key=("id",)
)
ORDERS = RawDataset(
    "orders",
    _schema(
        ("id", pa.string()),
        ("customer", pa.string()),
        ("ordered_at", TIMESTAMP),
        ("store_id", pa.string()),
        ("subtotal", pa.int64()),
        ("tax_paid", pa.int64()),
        ("order_total", pa.int64()),
        partitioned=True,
    ),
    key=("id",),
    event_time="ordered_at",
    references=(Reference("customer", "customers", "id"), Reference("store_id", "stores", "id")),
)
ORDER_ITEMS = RawDataset(
    "order_items",
    _schema(("id", pa.string()), ("order_id", pa.string()), ("sku", pa.string()), partitioned=True),
    key=("id",),
    event_time="ordered_at",  # the parent order's time
    references=(
        Reference("order_id", "orders", "id", same_partition=True),
        Reference("sku", "products", "sku"),
    ),
)
PRODUCTS = RawDataset(
    "products",
    _schema(
        ("sku", pa.string()),
        ("name", pa.string()),
        ("type", pa.string()),
        ("price", pa.int64()),
        ("description", pa.string()),
    ),
    key=("sku",),
)
STORES = RawDataset(
    "stores",
    _schema(
        ("id", pa.string()),
        ("name", pa.string()),
        ("opened_at", TIMESTAMP),
        ("tax_rate", pa.float64()),
    ),
    key=("id",),
)
SUPPLIES = RawDataset(
    "supplies",
    _schema(
        ("id", pa.string()),
        ("name", pa.string()),
        ("cost", pa.int64()),
        ("perishable", pa.bool_()),
        ("sku", pa.string()),
    ),
    # A supply is listed once per product that uses it.
    key=("id", "sku"),
)
TWEETS = RawDataset(
    "tweets",
    _schema(
        ("id", pa.string()),
        ("user_id", pa.string()),
        ("tweeted_at", TIMESTAMP),
        ("content", pa.string()),
        partitioned=True,
    ),
    key=("id",),
    event_time="tweeted_at",
)

ALL = (CUSTOMERS, ORDERS, ORDER_ITEMS, PRODUCTS, STORES, SUPPLIES, TWEETS)
