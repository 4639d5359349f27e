"""Raw ingests from the operational shop database: customers, orders, order items.

Orders and order items are daily-partitioned by the order's ``ordered_at`` date; customers are
extracted in full on every run (the table is small and has no change timestamp).
"""

import datetime as dt

import pyarrow as pa
import sqlalchemy as sa
from dagster import AssetExecutionContext, MaterializeResult

from data_platform.ingestion import contracts
from data_platform.ingestion.partitions import daily_partitions
from data_platform.ingestion.raw_loading import (
    load_daily,
    load_whole,
    raw_asset,
)
from data_platform.resources.lake import LakeResource
from data_platform.resources.shop_db import (
    ShopDatabaseResource,
    customers,
    order_items,
    orders,
)
from data_platform.resources.warehouse import DUCKDB, WarehouseResource


def _day_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(first, dt.time())
    return start, dt.datetime.combine(last + dt.timedelta(days=1), dt.time())


def _with_partition_date(rows: pa.Table, time_column: str) -> pa.Table:
    # Computed here, not in SQL: date functions differ between SQLite and PostgreSQL.
    days = rows[time_column].cast(pa.date32()) if rows.num_rows else pa.array([], pa.date32())
    return rows.append_column(contracts.PARTITION_COLUMN, days)


def build_shop_assets(start_date: str, warehouse_engine: str = DUCKDB):
    """The three shop-database ingests, with daily partitions starting at ``start_date``;
    ``warehouse_engine`` (the configured warehouse) shows among the assets' kinds."""
    partitions = daily_partitions(start_date)
    kinds = {"sql", "parquet", warehouse_engine}

    @raw_asset(
        contracts.CUSTOMERS,
        description=(
            "Customers of the shop database, extracted in full. One row per customer: "
            "id (text), name (text). Parquet at raw/customers/, table raw.customers."
        ),
        kinds=kinds,
    )
    def customers_raw(
        shop_db: ShopDatabaseResource, lake: LakeResource, warehouse: WarehouseResource
    ) -> MaterializeResult:
        statement = sa.select(customers.c.id, customers.c.name).order_by(customers.c.id)
        table = shop_db.fetch_arrow(statement, contracts.CUSTOMERS.source_schema)
        return load_whole(contracts.CUSTOMERS, table, "shop_db.customers", lake, warehouse)

    @raw_asset(
        contracts.ORDERS,
        description=(
            "Orders of the shop database, one daily partition per ordered_at date. One row per "
            "order: id, customer, ordered_at (timestamp, no time zone), store_id, subtotal, "
            "tax_paid, order_total (integer cents), _partition_date. Table raw.orders."
        ),
        kinds=kinds,
        partitions_def=partitions,
    )
    def orders_raw(
        context: AssetExecutionContext,
        shop_db: ShopDatabaseResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
    ) -> MaterializeResult:
        schema = contracts.ORDERS.source_schema

        def extract(first: dt.date, last: dt.date):
            start, end = _day_bounds(first, last)
            statement = (
                sa.select(*(orders.c[name] for name in schema.names))
                .where(orders.c.ordered_at >= start, orders.c.ordered_at < end)
                .order_by(orders.c.ordered_at, orders.c.id)
            )
            rows = shop_db.fetch_arrow(statement, schema)
            return _with_partition_date(rows, "ordered_at"), "shop_db.orders"

        return load_daily(context, contracts.ORDERS, extract, lake, warehouse)

    @raw_asset(
        contracts.ORDER_ITEMS,
        description=(
            "Order items of the shop database, partitioned by their order's ordered_at date. "
            "One row per item: id, order_id, sku, _partition_date. Table raw.order_items."
        ),
        kinds=kinds,
        partitions_def=partitions,
    )
    def order_items_raw(
        context: AssetExecutionContext,
        shop_db: ShopDatabaseResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
    ) -> MaterializeResult:
        schema = pa.schema(
            [*contracts.ORDER_ITEMS.source_schema, pa.field("ordered_at", pa.timestamp("us"))]
        )

        def extract(first: dt.date, last: dt.date):
            start, end = _day_bounds(first, last)
            statement = (
                sa.select(
                    order_items.c.id, order_items.c.order_id, order_items.c.sku, orders.c.ordered_at
                )
                .join(orders, orders.c.id == order_items.c.order_id)
                .where(orders.c.ordered_at >= start, orders.c.ordered_at < end)
                .order_by(orders.c.ordered_at, order_items.c.id)
            )
            rows = _with_partition_date(shop_db.fetch_arrow(statement, schema), "ordered_at")
            return rows.drop_columns(["ordered_at"]), "shop_db.order_items"

        return load_daily(context, contracts.ORDER_ITEMS, extract, lake, warehouse)

    return [customers_raw, orders_raw, order_items_raw]
