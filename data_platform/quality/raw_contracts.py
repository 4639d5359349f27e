"""pandera contracts for every raw dataset, and how their failures are reported.

Each ``DataFrameModel`` states the columns' types, nullability, the uniqueness of the key and
value ranges (money, in integer cents, is never negative). :func:`validate` runs one on an
Arrow batch and returns a :class:`Violations` that asset checks turn into metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera.errors import SchemaErrors
from pandera.typing import Series

from data_platform.ingestion import contracts

SAMPLE_SIZE = 5


class Customers(pa.DataFrameModel):
    """``raw.customers``: one row per customer of the shop database."""

    id: Series[str] = pa.Field(unique=True)
    name: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = True


class Orders(pa.DataFrameModel):
    """``raw.orders``: one row per order; money in cents."""

    id: Series[str] = pa.Field(unique=True)
    customer: Series[str]
    ordered_at: Series[pd.Timestamp]
    store_id: Series[str]
    subtotal: Series[pd.Int64Dtype] = pa.Field(ge=0)
    tax_paid: Series[pd.Int64Dtype] = pa.Field(ge=0)
    order_total: Series[pd.Int64Dtype] = pa.Field(ge=0)

    class Config:
        strict = True


class OrderItems(pa.DataFrameModel):
    """``raw.order_items``: one row per item of an order."""

    id: Series[str] = pa.Field(unique=True)
    order_id: Series[str]
    sku: Series[str]

    class Config:
        strict = True


class Products(pa.DataFrameModel):
    """``raw.products``: one row per sku; price in cents."""

    sku: Series[str] = pa.Field(unique=True)
    name: Series[str]
    type: Series[str] = pa.Field(isin=["jaffle", "beverage"])
    price: Series[pd.Int64Dtype] = pa.Field(ge=0)
    description: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = True


class Stores(pa.DataFrameModel):
    """``raw.stores``: one row per store; tax_rate a fraction (0.06 = 6 %)."""

    id: Series[str] = pa.Field(unique=True)
    name: Series[str]
    opened_at: Series[pd.Timestamp]
    tax_rate: Series[float] = pa.Field(ge=0, lt=1)

    class Config:
        strict = True


class Supplies(pa.DataFrameModel):
    """``raw.supplies``: one row per (supply, sku); cost in cents."""

    id: Series[str]
    name: Series[str]
    cost: Series[pd.Int64Dtype] = pa.Field(ge=0)
    perishable: Series[bool]
    sku: Series[str]

    class Config:
        strict = True
        unique = ["id", "sku"]  # noqa: RUF012 (pandera reads a list)


class Tweets(pa.DataFrameModel):
    """``raw.tweets``: one row per tweet about the shop by a customer."""

    id: Series[str] = pa.Field(unique=True)
    user_id: Series[str]
    tweeted_at: Series[pd.Timestamp]
    content: Series[str] = pa.Field(nullable=True)

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


@dataclass
class Violations:
    """What a contract found wrong in the data it was run on (empty when all is well)."""

    rows_checked: int = 0
    failing_rows: int = 0
    failures_by_check: dict[str, int] = field(default_factory=dict)
    sample: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures_by_check

    def merge(self, other: Violations) -> None:
        self.rows_checked += other.rows_checked
        self.failing_rows += other.failing_rows
        for check, count in other.failures_by_check.items():
            self.failures_by_check[check] = self.failures_by_check.get(check, 0) + count
        self.sample = (self.sample + other.sample)[:SAMPLE_SIZE]


def to_pandas(table: pyarrow.Table) -> pd.DataFrame:
    """Arrow to pandas as the contracts expect it: nullable integers, nanosecond timestamps."""
    return table.to_pandas(
        types_mapper={pyarrow.int64(): pd.Int64Dtype()}.get, coerce_temporal_nanoseconds=True
    )


def validate(dataset: str, table: pyarrow.Table, source: str) -> Violations:
    """Run the contract of ``dataset`` on ``table`` (read from ``source``, a file or table).

    Returns the violations; never raises for bad data. The sample names the source, the row
    (0-based within the batch), the column, the failed check and the offending value.
    """
    frame = to_pandas(
        table.drop_columns([contracts.PARTITION_COLUMN])
        if contracts.PARTITION_COLUMN in table.column_names
        else table
    )
    result = Violations(rows_checked=len(frame))
    try:
        MODELS[dataset].validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        result.failing_rows = int(cases["index"].dropna().nunique()) or len(cases)
        for (column, check), group in cases.groupby(["column", "check"], dropna=False):
            result.failures_by_check[f"{column}: {check}"] = len(group)
        for case in cases.head(SAMPLE_SIZE).itertuples():
            result.sample.append(
                {
                    "source": source,
                    "row": None if pd.isna(case.index) else int(case.index),
                    "column": case.column,
                    "check": str(case.check),
                    "value": None if pd.isna(case.failure_case) else str(case.failure_case),
                }
            )
    return result
