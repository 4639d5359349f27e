"""Raw ingests from the operational shop database: customers, orders, order items.

Orders and order items are daily-partitioned by the order's ``ordered_at`` date: a run reads
only its days, through the index on ``ordered_at``, a batch of days at a time. Customers are
captured by change: each load reads the rows changed since the last one (by ``updated_at``;
run configuration ``full_reload: true`` reads all), finds the deleted ones by their ids, and
keeps every version in ``raw.customers_versions`` (:mod:`data_platform.loading.versions`).
"""

# No "from __future__ import annotations": Dagster checks the context annotation at runtime.

import datetime as dt
from collections.abc import Callable

import pyarrow as pa
import sqlalchemy as sa
from dagster import AssetExecutionContext, AssetsDefinition, Config, MaterializeResult
from pydantic import Field

from data_platform.core.datasets import PARTITION_COLUMN, RAW_SCHEMA, TIMESTAMP, Dataset
from data_platform.core.partitions import daily_partitions
from data_platform.core.settings import Settings
from data_platform.loading.batches import held_back_batch, table_batch
from data_platform.loading.loader import load_daily, load_whole
from data_platform.loading.raw_asset import lake_files_check, raw_asset
from data_platform.loading.versions import UPDATED_AT
from data_platform.quality.raw_checks import SchemaReport
from data_platform.resources.lake import LakeResource
from data_platform.resources.pseudonyms import PseudonymKeyResource
from data_platform.resources.quality_policy import QualityPolicy
from data_platform.resources.shop_db import ShopDatabaseResource
from data_platform.resources.warehouse import WarehouseResource
from data_platform.sources.shop_db.datasets import CUSTOMERS, ORDER_ITEMS, ORDERS
from data_platform.sources.shop_db.erased import anonymise_customers, erased_subjects
from data_platform.sources.shop_db.tables import customers, order_items, orders

EVENT_TIME = "_event_time"

DaySelect = Callable[[dt.datetime, dt.datetime], sa.Select]
"""``select(start, end)``: the dataset's source columns and its event time (labelled
``_event_time``) of the rows whose event time is in ``[start, end)``."""


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


def select_by_event_time(dataset: Dataset, table: sa.Table) -> DaySelect:
    """The rows of ``table`` whose ``dataset.event_time`` column is in the window, in time
    order: the select of a table that carries its own event time (orders)."""
    time = table.c[dataset.event_time]

    def select(start: dt.datetime, end: dt.datetime) -> sa.Select:
        columns = [table.c[name] for name in dataset.source_schema.names]
        return (
            sa.select(*columns, time.label(EVENT_TIME))
            .where(time >= start, time < end)
            .order_by(time, *(table.c[k] for k in dataset.key))
        )

    return select


def daily_table_asset(
    dataset: Dataset, table: sa.Table, kinds: set[str], partitions, select: DaySelect
) -> AssetsDefinition:
    """The daily-partitioned ingest of ``dataset`` from the shop database's ``table``: each
    batch of days is one ``select`` (see :data:`DaySelect`); a table missing a column holds
    its days back."""
    schema = pa.schema([*dataset.source_schema, pa.field(EVENT_TIME, TIMESTAMP)])

    @raw_asset(
        dataset, f"the shop database's table {table.name}", kinds, partitions, monitored=True
    )
    def _asset(
        context: AssetExecutionContext,
        shop_db: ShopDatabaseResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
    ) -> MaterializeResult:
        report = source_report(shop_db, table)

        def extract(days: list[dt.date]):
            if report.missing:
                return held_back_batch(dataset, report.message, days), []
            start = dt.datetime.combine(days[0], dt.time())
            end = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time())
            rows = shop_db.fetch_arrow(select(start, end), schema)
            # The day is computed here, not in SQL: date functions differ between SQLite and
            # PostgreSQL.
            day = rows[EVENT_TIME].cast(pa.date32()) if rows.num_rows else pa.array([], pa.date32())
            rows = rows.drop_columns([EVENT_TIME]).append_column(PARTITION_COLUMN, day)
            return table_batch(dataset, rows, report.source, days), []

        return load_daily(context, dataset, extract, lake, warehouse, quality, [report])

    return _asset


def _order_items_by_order_time(start: dt.datetime, end: dt.datetime) -> sa.Select:
    # An item has no time of its own: it belongs to its order's day.
    return (
        sa.select(
            order_items.c.id,
            order_items.c.order_id,
            order_items.c.sku,
            orders.c.ordered_at.label(EVENT_TIME),
        )
        .join(orders, orders.c.id == order_items.c.order_id)
        .where(orders.c.ordered_at >= start, orders.c.ordered_at < end)
        .order_by(orders.c.ordered_at, order_items.c.id)
    )


# How far before the latest updated_at loaded a load reads again: a transaction of the shop
# that committed after the previous load with an earlier updated_at (a slow checkout, a clock
# a little behind) is not missed. Rows read again without a new updated_at are no version.
LOOKBACK = dt.timedelta(hours=1)


class CustomersLoad(Config):
    """How ``raw/customers`` reads the shop's table (run configuration)."""

    full_reload: bool = Field(
        default=False,
        description=(
            "Read every customer, not only the rows changed since the last load (by "
            "updated_at): after a fault in the source's updated_at, or to check the copy."
        ),
    )


def changed_customers(
    shop_db: ShopDatabaseResource, warehouse: WarehouseResource, full_reload: bool
) -> tuple[pa.Table, dict]:
    """The customers a load screens: the current rows of ``raw.customers`` still in the
    source and unchanged, and the source's rows changed since (``updated_at`` at or after
    the latest one loaded, less :data:`LOOKBACK`: a row written in the same instant after the
    last load, or committed late with an older time, is read again, and is no new version if
    its ``updated_at`` is the one loaded), with every row
    the warehouse does not hold (new, or kept in quarantine last time). Every row when
    ``full_reload`` or on the first load. A key the source no longer holds is left out: the
    loader records its deletion. Also the extract's figures for the materialization."""
    names = CUSTOMERS.source_schema.names
    select = sa.select(*(customers.c[n] for n in names)).order_by(customers.c.id)
    ids_schema = pa.schema([CUSTOMERS.source_schema.field("id")])
    live = set(shop_db.fetch_arrow(sa.select(customers.c.id), ids_schema)["id"].to_pylist())
    current = None
    if not full_reload and warehouse.table_exists(RAW_SCHEMA, CUSTOMERS.name):
        current = warehouse.query(f"select * from {CUSTOMERS.table}")
    if not current:
        rows = shop_db.fetch_arrow(select, CUSTOMERS.source_schema)
        return rows, {"extract": "full", "rows_extracted": rows.num_rows}
    since = max(r[UPDATED_AT] for r in current if r[UPDATED_AT] is not None) - LOOKBACK
    unknown = sorted(live - {r["id"] for r in current})
    changed = customers.c[UPDATED_AT] >= since
    if unknown:
        changed = changed | customers.c.id.in_(unknown)
    rows = shop_db.fetch_arrow(select.where(changed), CUSTOMERS.source_schema)
    read = set(rows["id"].to_pylist())
    kept = [{n: r.get(n) for n in names} for r in current if r["id"] in live - read]
    carried = pa.Table.from_pylist(kept, CUSTOMERS.source_schema)
    extracted = {
        "extract": f"changed since {since.isoformat(sep=' ')}",
        "rows_extracted": rows.num_rows,
    }
    return pa.concat_tables([carried, rows]), extracted


def build_assets(settings: Settings) -> list[AssetsDefinition]:
    """The shop-database ingests, with daily partitions from the settings' start; the
    configured warehouse engine shows among the assets' kinds."""
    partitions = daily_partitions(settings.partition_start.isoformat())
    kinds = {"sql", "parquet", settings.warehouse.engine}

    @raw_asset(CUSTOMERS, "the shop database's table customers", kinds)
    def customers_raw(
        context: AssetExecutionContext,
        config: CustomersLoad,
        shop_db: ShopDatabaseResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
        quality: QualityPolicy,
        pseudonyms: PseudonymKeyResource,
    ) -> MaterializeResult:
        report = source_report(shop_db, customers)
        # Nothing can be selected from a table missing a column: the dataset is held back.
        if report.missing:
            batch, extracted = held_back_batch(CUSTOMERS, report.message), {}
        else:
            table, extracted = changed_customers(shop_db, warehouse, config.full_reload)
            # Customers erased on request stay erased while the shop still holds them.
            subjects = erased_subjects(warehouse)
            table = anonymise_customers(table, pseudonyms.secret(), subjects)
            batch = table_batch(CUSTOMERS, table, report.source)
        context.log.info(f"raw.customers: {extracted}")
        return load_whole(context, CUSTOMERS, batch, lake, warehouse, quality, [report], extracted)

    return [
        customers_raw,
        daily_table_asset(ORDERS, orders, kinds, partitions, select_by_event_time(ORDERS, orders)),
        daily_table_asset(ORDER_ITEMS, order_items, kinds, partitions, _order_items_by_order_time),
        *(lake_files_check(d) for d in (CUSTOMERS, ORDERS, ORDER_ITEMS)),
    ]
