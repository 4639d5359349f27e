"""A raw table an earlier version of the platform created gains the columns a newer contract
added, in the load's transaction, on both engines (a state folder survives the upgrade)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from data_platform.resources.warehouse import Replacement, WarehouseResource

OLD = pa.table({"sku": ["JAF-001"], "price": [1100]})
NEW = pa.table(
    {
        "sku": ["JAF-001", "JAF-002"],
        "price": [1200, 900],
        "updated_at": pa.array([dt.datetime(2026, 12, 1), None], pa.timestamp("us")),
        "is_seasonal": [True, False],
    }
)


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_load_adds_the_columns_an_older_table_lacks(engine, tmp_path, postgres_url):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}" if engine == "duckdb" else postgres_url
    warehouse = WarehouseResource(url=url)
    warehouse.replace(Replacement("raw", "products_grow", OLD))
    warehouse.replace(Replacement("raw", "products_grow", NEW))
    rows = warehouse.query(
        "select sku, price, updated_at, is_seasonal from raw.products_grow order by sku"
    )
    assert rows == [
        {
            "sku": "JAF-001",
            "price": 1200,
            "updated_at": dt.datetime(2026, 12, 1),
            "is_seasonal": True,
        },
        {"sku": "JAF-002", "price": 900, "updated_at": None, "is_seasonal": False},
    ]
    # The old batch's shape again: the added columns stay, null for its rows.
    warehouse.replace(Replacement("raw", "products_grow", OLD))
    assert warehouse.query("select sku, updated_at from raw.products_grow") == [
        {"sku": "JAF-001", "updated_at": None}
    ]
