"""Compare the marts in a warehouse (DuckDB or PostgreSQL) with expected rows, key by key,
every column, every value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from data_platform.resources.warehouse import WarehouseResource
from tests.oracle import index_by

MART_KEYS = {
    "dim_customers": ("customer_key",),
    "dim_products": ("sku",),
    "dim_stores": ("store_id",),
    "fct_orders": ("order_id",),
    "fct_daily_store_sales": ("order_date", "store_id"),
    "fct_customer_activity": ("customer_key",),
}


def read_mart(warehouse_url: str, mart: str) -> list[dict]:
    """Every row of ``marts.<mart>`` in the warehouse at ``warehouse_url``."""
    return WarehouseResource(url=warehouse_url).query(f"select * from marts.{mart}")


def mart_column_types(warehouse_url: str, mart: str) -> dict[str, str]:
    """``{column: data type}`` of a mart, as the engine's information schema names them."""
    rows = WarehouseResource(url=warehouse_url).query(
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = 'marts' and table_name = '{mart}'"
    )
    return {row["column_name"]: row["data_type"] for row in rows}


def differences(expected: list[dict], actual: list[dict], key: tuple[str, ...]) -> list[str]:
    """Human-readable differences (empty when equal): keys, columns and every value."""
    want, got = index_by(expected, *key), index_by(actual, *key)
    problems = []
    if missing := set(want) - set(got):
        problems.append(f"{len(missing)} keys missing, e.g. {sorted(missing)[:3]}")
    if extra := set(got) - set(want):
        problems.append(f"{len(extra)} unexpected keys, e.g. {sorted(extra)[:3]}")
    for k in sorted(set(want) & set(got)):
        w, g = want[k], got[k]
        if set(w) != set(g):
            problems.append(f"columns differ: expected {sorted(w)}, got {sorted(g)}")
            break
        for column, value in w.items():
            if not _same(value, g[column]):
                problems.append(f"{k} {column}: expected {value!r}, got {g[column]!r}")
        if len(problems) > 20:
            break
    return problems


def _same(expected, actual) -> bool:
    if isinstance(expected, Decimal):
        # Exact to the cent, and the warehouse must hand back a DECIMAL, not a float.
        return isinstance(actual, Decimal) and expected == actual
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if type(expected) is dt.date:
        return type(actual) is dt.date and expected == actual
    return expected == actual
