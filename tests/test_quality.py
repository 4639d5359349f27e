"""pandera contracts on raw data, and a failing blocking check stopping the models below."""

import datetime as dt
import os

import duckdb
import pyarrow as pa

from data_platform.headless import execute
from data_platform.ingestion import contracts
from data_platform.lake_layout import landing_reference_path
from data_platform.quality.raw_contracts import validate
from data_platform.resources import from_environment


def orders(**overrides) -> pa.Table:
    row = {
        "id": "o1",
        "customer": "c1",
        "ordered_at": dt.datetime(2018, 9, 1, 10),
        "store_id": "s1",
        "subtotal": 700,
        "tax_paid": 42,
        "order_total": 742,
        "_partition_date": dt.date(2018, 9, 1),
    }
    return pa.Table.from_pylist(
        [row, {**row, "id": "o2", **overrides}], schema=contracts.ORDERS.schema
    )


def test_clean_rows_pass():
    assert validate("orders", orders(), "shop_db.orders").passed


def test_contract_names_row_column_and_value():
    result = validate("orders", orders(subtotal=-5, customer=None), "shop_db.orders")
    assert not result.passed
    assert result.failing_rows == 1
    assert set(result.failures_by_check) == {
        "subtotal: greater_than_or_equal_to(0)",
        "customer: not_nullable",
    }
    assert {
        "source": "shop_db.orders",
        "row": 1,
        "column": "subtotal",
        "check": "greater_than_or_equal_to(0)",
        "value": "-5",
    } in result.sample


def test_duplicate_keys_fail():
    result = validate("orders", orders(id="o1"), "shop_db.orders")
    assert "id: field_uniqueness" in result.failures_by_check


def test_unknown_product_type_fails():
    table = pa.Table.from_pylist(
        [{"sku": "X-1", "name": "x", "type": "pastry", "price": 100, "description": None}],
        schema=pa.schema([f for f in contracts.PRODUCTS.schema]),
    )
    assert (
        "type: isin(['jaffle', 'beverage'])" in validate("products", table, "f").failures_by_check
    )


def test_blocking_check_stops_the_models_below(full_run):
    """A landing file with a negative price fails raw/products and dbt does not run."""
    _, lake = from_environment()
    path = landing_reference_path("products")
    original = lake.read_bytes(path)
    warehouse = os.environ["DATA_PLATFORM_WAREHOUSE_PATH"]
    with duckdb.connect(warehouse, read_only=True) as conn:
        sku, price = conn.execute(
            "select sku, price from marts.dim_products order by sku limit 1"
        ).fetchone()
    lines = original.decode().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{sku},"))
    fields = lines[index].split(",")
    fields[3] = "-" + fields[3]
    lines[index] = ",".join(fields)
    lake.write_bytes(path, ("\n".join(lines) + "\n").encode())
    try:
        summary = execute("reference_files_job")
        assert not summary.success
        assert summary.failed_steps == ["raw__products"]
        assert any("raw/products:raw_contract" in c and "price" in c for c in summary.checks_failed)
        with duckdb.connect(warehouse, read_only=True) as conn:
            # The mart was not rebuilt from the bad file.
            assert (
                conn.execute(
                    "select price from marts.dim_products where sku = ?", [sku]
                ).fetchone()[0]
                == price
            )
    finally:
        lake.write_bytes(path, original)
        assert execute("reference_files_job").success
