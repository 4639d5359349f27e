"""pandera contracts for every raw dataset, run on every batch a raw ingest reads.

Each ``DataFrameModel`` states the columns' types, nullability, the uniqueness of the key and
value ranges: money in integer cents is never negative nor absurd (bounds below), totals add
up, product types are known, texts have a sane length. :func:`row_failures` runs one and
returns the failing rows with their column, check and value, which the quarantine policy
(:mod:`data_platform.quality.quarantine`) turns into quarantine records.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pandera.typing import Series

from data_platform.ingestion import contracts
from data_platform.quality.quarantine import Failure

# Upper bounds that no real row reaches (jafgen's largest order is under $100): above them a
# value is a unit or entry error.
MAX_ORDER_CENTS = 1_000_000  # $10,000
MAX_PRICE_CENTS = 100_000  # $1,000
KEY_LENGTH = {"max_value": 64}
NAME_LENGTH = {"max_value": 200}
TEXT_LENGTH = {"max_value": 2_000}
TOTAL_ADDS_UP = "order_total = subtotal + tax_paid"
# Dataframe-wide checks, and the column their failures are reported on.
CHECK_COLUMNS = {TOTAL_ADDS_UP: "order_total"}


class Customers(pa.DataFrameModel):
    """``raw.customers``: one row per customer of the shop database."""

    id: Series[str] = pa.Field(unique=True, str_length=KEY_LENGTH)
    name: Series[str] = pa.Field(nullable=True, str_length=NAME_LENGTH)

    class Config:
        strict = True


class Orders(pa.DataFrameModel):
    """``raw.orders``: one row per order; money in cents."""

    id: Series[str] = pa.Field(unique=True, str_length=KEY_LENGTH)
    customer: Series[str] = pa.Field(str_length=KEY_LENGTH)
    ordered_at: Series[pd.Timestamp]
    store_id: Series[str] = pa.Field(str_length=KEY_LENGTH)
    subtotal: Series[pd.Int64Dtype] = pa.Field(ge=0, le=MAX_ORDER_CENTS)
    tax_paid: Series[pd.Int64Dtype] = pa.Field(ge=0, le=MAX_ORDER_CENTS)
    order_total: Series[pd.Int64Dtype] = pa.Field(ge=0, le=MAX_ORDER_CENTS)

    @pa.dataframe_check(name=TOTAL_ADDS_UP)
    def total_adds_up(cls, frame: pd.DataFrame) -> pd.Series:
        # Nulls are the nullability check's to report.
        total = frame["subtotal"] + frame["tax_paid"]
        return (frame["order_total"] == total).fillna(True).astype(bool)

    class Config:
        strict = True


class OrderItems(pa.DataFrameModel):
    """``raw.order_items``: one row per item of an order."""

    id: Series[str] = pa.Field(unique=True, str_length=KEY_LENGTH)
    order_id: Series[str] = pa.Field(str_length=KEY_LENGTH)
    sku: Series[str] = pa.Field(str_length=KEY_LENGTH)

    class Config:
        strict = True


class Products(pa.DataFrameModel):
    """``raw.products``: one row per sku; price in cents."""

    sku: Series[str] = pa.Field(unique=True, str_length=KEY_LENGTH)
    name: Series[str] = pa.Field(str_length=NAME_LENGTH)
    type: Series[str] = pa.Field(isin=["jaffle", "beverage"])
    price: Series[pd.Int64Dtype] = pa.Field(ge=0, le=MAX_PRICE_CENTS)
    description: Series[str] = pa.Field(nullable=True, str_length=TEXT_LENGTH)

    class Config:
        strict = True


class Stores(pa.DataFrameModel):
    """``raw.stores``: one row per store; tax_rate a fraction (0.06 = 6 %, at most 25 %)."""

    id: Series[str] = pa.Field(unique=True, str_length=KEY_LENGTH)
    name: Series[str] = pa.Field(str_length=NAME_LENGTH)
    opened_at: Series[pd.Timestamp]
    tax_rate: Series[float] = pa.Field(ge=0, le=0.25)

    class Config:
        strict = True


class Supplies(pa.DataFrameModel):
    """``raw.supplies``: one row per (supply, sku); cost in cents."""

    id: Series[str] = pa.Field(str_length=KEY_LENGTH)
    name: Series[str] = pa.Field(str_length=NAME_LENGTH)
    cost: Series[pd.Int64Dtype] = pa.Field(ge=0, le=MAX_PRICE_CENTS)
    perishable: Series[pd.BooleanDtype]
    sku: Series[str] = pa.Field(str_length=KEY_LENGTH)

    class Config:
        strict = True
        unique = ["id", "sku"]  # noqa: RUF012 (pandera reads a list)


class Tweets(pa.DataFrameModel):
    """``raw.tweets``: one row per tweet about the shop by a customer."""

    id: Series[str] = pa.Field(unique=True, str_length=KEY_LENGTH)
    user_id: Series[str] = pa.Field(str_length=KEY_LENGTH)
    tweeted_at: Series[pd.Timestamp]
    content: Series[str] = pa.Field(nullable=True, str_length=TEXT_LENGTH)

    class Config:
        strict = True


MODELS: dict[str, type[pa.DataFrameModel]] = {
    contracts.CUSTOMERS.name: Customers,
    contracts.ORDERS.name: Orders,
    contracts.ORDER_ITEMS.name: OrderItems,
    contracts.PRODUCTS.name: Products,
    contracts.STORES.name: Stores,
    contracts.SUPPLIES.name: Supplies,
    contracts.TWEETS.name: Tweets,
}


def row_failures(dataset: str, frame: pd.DataFrame) -> dict[int, list[Failure]]:
    """Run the contract of ``dataset`` on ``frame`` (typed rows, no lineage columns) and return
    the failures by row index (``frame``'s index). A failure that names no row (a column of
    the wrong type) is charged to every row: none of them can be trusted."""
    try:
        MODELS[dataset].validate(frame, lazy=True)
    except SchemaErrors as errors:
        return _by_row(errors.failure_cases, frame.index)
    return {}


def _by_row(cases: pd.DataFrame, index: pd.Index) -> dict[int, list[Failure]]:
    found: dict[int, list[Failure]] = {}
    seen: set[tuple[int, str]] = set()
    for case in cases.itertuples():
        check = str(case.check)
        column = CHECK_COLUMNS.get(check, case.column)
        if column != case.column and not _is_missing(case.index):
            continue  # a dataframe check reports every column of a row: keep its own column
        value = None if _is_missing(case.failure_case) else str(case.failure_case)
        rows = index if _is_missing(case.index) else [int(case.index)]
        for row in rows:
            if (row, check) in seen:
                continue  # a dataframe check reports each of its columns; keep one
            seen.add((row, check))
            found.setdefault(row, []).append(Failure(check, column, value, _explain(check)))
    return found


def _is_missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _explain(check: str) -> str:
    if check == "not_nullable":
        return "missing value"
    if check in ("field_uniqueness", "multiple_fields_uniqueness"):
        return "key shared by rows with different values"
    return f"fails {check}"
