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
    SchemaReport,
    held_back_batch,
    load_daily,
    load_whole,
    raw_asset,
    table_batch,
)
from data_platform.quality.policy import QualityPolicy
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


def source_report(shop_db: ShopDatabaseResource, table: sa.Table) -> SchemaReport:
    """The source table's columns (as the database has them now) against those extracted."""
    found = shop_db.column_names(table.name)
    expected = [c.name for c in table.columns]
    report = SchemaReport(
        f"shop_db.{table.name}",
        added=[c for c in found if c not in expected],
        missing=[c for c in expected if c not in found],
    )
    if report.missing:
        report.message = f"{report.source}: missing column {', '.join(report.missing)}"
    return report


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
        context: AssetExecutionContext,
        shop_db: ShopDatabaseResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ) -> MaterializeResult:
        dataset = contracts.CUSTOMERS
        report = source_report(shop_db, customers)
        # Nothing can be selected from a table missing a column: the dataset is held back.
        if report.missing:
            batch = held_back_batch(dataset, report.message)
        else:
            statement = sa.select(customers.c.id, customers.c.name).order_by(customers.c.id)
            table = shop_db.fetch_arrow(statement, dataset.source_schema)
            batch = table_batch(dataset, table, report.source)
        return load_whole(context, dataset, batch, lake, warehouse, quality, [report])

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
        quality: QualityPolicy,
    ) -> MaterializeResult:
        dataset = contracts.ORDERS
        schema = dataset.source_schema
        report = source_report(shop_db, orders)

        def extract(days: list[dt.date]):
            if report.missing:
                return held_back_batch(dataset, report.message, days), []
            start, end = _day_bounds(days[0], days[-1])
            statement = (
                sa.select(*(orders.c[name] for name in schema.names))
                .where(orders.c.ordered_at >= start, orders.c.ordered_at < end)
                .order_by(orders.c.ordered_at, orders.c.id)
            )
            rows = _with_partition_date(shop_db.fetch_arrow(statement, schema), "ordered_at")
            return table_batch(dataset, rows, report.source, days), []

        return load_daily(context, dataset, extract, lake, warehouse, quality, [report])

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
        quality: QualityPolicy,
    ) -> MaterializeResult:
        dataset = contracts.ORDER_ITEMS
        schema = pa.schema([*dataset.source_schema, pa.field("ordered_at", pa.timestamp("us"))])
        report = source_report(shop_db, order_items)

        def extract(days: list[dt.date]):
            if report.missing:
                return held_back_batch(dataset, report.message, days), []
            start, end = _day_bounds(days[0], days[-1])
            statement = (
                sa.select(
                    order_items.c.id, order_items.c.order_id, order_items.c.sku, orders.c.ordered_at
                )
                .join(orders, orders.c.id == order_items.c.order_id)
                .where(orders.c.ordered_at >= start, orders.c.ordered_at < end)
                .order_by(orders.c.ordered_at, order_items.c.id)
            )
            rows = _with_partition_date(shop_db.fetch_arrow(statement, schema), "ordered_at")
            rows = rows.drop_columns(["ordered_at"])
            return table_batch(dataset, rows, report.source, days), []

        return load_daily(context, dataset, extract, lake, warehouse, quality, [report])

    return [customers_raw, orders_raw, order_items_raw]
