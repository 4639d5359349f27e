"""Raw ingests from the operational shop database: customers, orders, order items.

Orders and order items are daily-partitioned by the order's ``ordered_at`` date (a run reads
only its days, through the index on ``ordered_at``); customers are extracted in full on every
run (the table is small and has no change timestamp).
"""

# No "from __future__ import annotations": Dagster checks the context annotation at runtime.

import datetime as dt

import pyarrow as pa
import sqlalchemy as sa
from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult

from data_platform.core.datasets import PARTITION_COLUMN, TIMESTAMP
from data_platform.core.partitions import daily_partitions
from data_platform.core.settings import Settings
from data_platform.loading.batches import held_back_batch, table_batch
from data_platform.loading.loader import load_daily, load_whole
from data_platform.loading.raw_asset import raw_asset
from data_platform.quality.raw_checks import SchemaReport
from data_platform.resources.lake import LakeResource
from data_platform.resources.quality_policy import QualityPolicy
from data_platform.resources.shop_db import ShopDatabaseResource
from data_platform.resources.warehouse import WarehouseResource
from data_platform.sources.shop_db.datasets import CUSTOMERS, ORDER_ITEMS, ORDERS
from data_platform.sources.shop_db.tables import customers, order_items, orders


def _day_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(first, dt.time())
    return start, dt.datetime.combine(last + dt.timedelta(days=1), dt.time())


def _with_partition_date(rows: pa.Table, time_column: str) -> pa.Table:
    # Computed here, not in SQL: date functions differ between SQLite and PostgreSQL.
    days = rows[time_column].cast(pa.date32()) if rows.num_rows else pa.array([], pa.date32())
    return rows.append_column(PARTITION_COLUMN, days)


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


def build_assets(settings: Settings) -> list[AssetsDefinition]:
    """The three shop-database ingests, with daily partitions from the settings' start; the
    configured warehouse engine shows among the assets' kinds."""
    partitions = daily_partitions(settings.partition_start.isoformat())
    kinds = {"sql", "parquet", settings.warehouse.engine}

    @raw_asset(CUSTOMERS, "the shop database's table customers", kinds)
    def customers_raw(
        context: AssetExecutionContext,
        shop_db: ShopDatabaseResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ) -> MaterializeResult:
        report = source_report(shop_db, customers)
        # Nothing can be selected from a table missing a column: the dataset is held back.
        if report.missing:
            batch = held_back_batch(CUSTOMERS, report.message)
        else:
            statement = sa.select(customers.c.id, customers.c.name).order_by(customers.c.id)
            table = shop_db.fetch_arrow(statement, CUSTOMERS.source_schema)
            batch = table_batch(CUSTOMERS, table, report.source)
        return load_whole(context, CUSTOMERS, batch, lake, warehouse, quality, [report])

    @raw_asset(ORDERS, "the shop database's table orders", kinds, partitions)
    def orders_raw(
        context: AssetExecutionContext,
        shop_db: ShopDatabaseResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ) -> MaterializeResult:
        schema = ORDERS.source_schema
        report = source_report(shop_db, orders)

        def extract(days: list[dt.date]):
            if report.missing:
                return held_back_batch(ORDERS, report.message, days), []
            start, end = _day_bounds(days[0], days[-1])
            statement = (
                sa.select(*(orders.c[name] for name in schema.names))
                .where(orders.c.ordered_at >= start, orders.c.ordered_at < end)
                .order_by(orders.c.ordered_at, orders.c.id)
            )
            rows = _with_partition_date(shop_db.fetch_arrow(statement, schema), "ordered_at")
            return table_batch(ORDERS, rows, report.source, days), []

        return load_daily(context, ORDERS, extract, lake, warehouse, quality, [report])

    @raw_asset(ORDER_ITEMS, "the shop database's table order_items", kinds, partitions)
    def order_items_raw(
        context: AssetExecutionContext,
        shop_db: ShopDatabaseResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ) -> MaterializeResult:
        schema = pa.schema([*ORDER_ITEMS.source_schema, pa.field("ordered_at", TIMESTAMP)])
        report = source_report(shop_db, order_items)

        def extract(days: list[dt.date]):
            if report.missing:
                return held_back_batch(ORDER_ITEMS, report.message, days), []
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
            return table_batch(ORDER_ITEMS, rows, report.source, days), []

        return load_daily(context, ORDER_ITEMS, extract, lake, warehouse, quality, [report])

    return [customers_raw, orders_raw, order_items_raw]
