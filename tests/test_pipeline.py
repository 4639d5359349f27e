"""The whole graph on real data: seed, headless run, marts against an independent oracle."""

import csv
import datetime as dt

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from data_platform.core.lake_layout import raw_partition_path
from tests.conftest import SETTINGS, TEST_DAYS
from tests.mart_compare import MART_KEYS, differences, mart_column_types, read_mart
from tests.oracle import compute_marts

MONEY = {
    "dim_customers": ["lifetime_spend_pretax", "lifetime_spend"],
    "dim_products": ["price", "supply_cost", "gross_margin"],
    "fct_orders": ["subtotal", "tax_paid", "order_total", "supply_cost"],
    "fct_daily_store_sales": ["revenue_pretax", "tax_collected", "revenue", "avg_order_value"],
}


def warehouse() -> str:
    """The session's warehouse URL (a DuckDB file)."""
    return SETTINGS.warehouse_url


def warehouse_file() -> str:
    return SETTINGS.warehouse.path


@pytest.fixture(scope="module")
def oracle(seeded):
    return compute_marts(seeded, SETTINGS.pseudonym_secret())


def test_headless_run_succeeds(full_run):
    assert full_run.returncode == 0, full_run.stdout[-3000:] + full_run.stderr[-3000:]
    assert "SUCCESS" in full_run.stdout
    assert " 0 failed" in full_run.stdout


@pytest.mark.parametrize("mart", sorted(MART_KEYS))
def test_mart_equals_independent_computation(full_run, oracle, mart):
    actual = read_mart(warehouse(), mart)
    assert len(actual) == len(oracle[mart])
    assert differences(oracle[mart], actual, MART_KEYS[mart]) == []


@pytest.mark.parametrize("mart", sorted(MONEY))
def test_money_is_decimal_dollars(full_run, mart):
    types = mart_column_types(warehouse(), mart)
    for column in MONEY[mart]:
        assert types[column] == "DECIMAL(18,2)", (mart, column, types[column])


def test_customers_without_orders_are_kept(full_run, oracle):
    rows = read_mart(warehouse(), "dim_customers")
    without = [r for r in rows if r["lifetime_order_count"] == 0]
    assert without, "the test data should hold customers who have not ordered yet"
    assert all(r["first_order_date"] is None and r["customer_type"] == "new" for r in without)


def test_raw_tables_hold_every_source_row(full_run, seeded):
    expected = {
        "customers": "raw_customers.csv",
        "orders": "raw_orders.csv",
        "order_items": "raw_items.csv",
        "products": "raw_products.csv",
        "stores": "raw_stores.csv",
        "supplies": "raw_supplies.csv",
        "tweets": "raw_tweets.csv",
    }
    with duckdb.connect(warehouse_file(), read_only=True) as conn:
        for table, name in expected.items():
            with (seeded / name).open(newline="") as handle:
                source_rows = sum(1 for _ in csv.DictReader(handle))
            (loaded,) = conn.execute(f"select count(*) from raw.{table}").fetchone()
            assert loaded == source_rows, table


def test_lake_has_a_parquet_file_per_partition(full_run, resources):
    lake = resources["lake"]
    start = dt.date(2018, 9, 1)
    total = 0
    for offset in range(TEST_DAYS):
        day = start + dt.timedelta(days=offset)
        table = lake.read_parquet(raw_partition_path("orders", day))
        assert set(table.column("_partition_date").to_pylist()) <= {day}
        total += table.num_rows
    with duckdb.connect(warehouse_file(), read_only=True) as conn:
        assert total == conn.execute("select count(*) from raw.orders").fetchone()[0]


def test_instance_records_every_partition(full_run):
    instance = DagsterInstance.get()
    materialized = instance.get_materialized_partitions(AssetKey(["raw", "orders"]))
    expected = {(dt.date(2018, 9, 1) + dt.timedelta(days=i)).isoformat() for i in range(TEST_DAYS)}
    assert expected <= materialized
    event = instance.get_latest_materialization_event(AssetKey(["raw", "customers"]))
    assert event.asset_materialization.metadata["dagster/row_count"].value > 0
