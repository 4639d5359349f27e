"""The landing zone's raw datasets: products, stores, supplies (CSV) and tweets (JSON Lines).

Reference data (products, stores, supplies) arrives as one CSV per dataset and is replaced in
full when a new file lands (``landing/<dataset>/<dataset>.csv``); tweets arrive as one JSON
Lines file per day (``landing/tweets/YYYY-MM-DD.jsonl``) and are daily-partitioned by that day.

Products, stores and supplies carry ``updated_at`` and are versioned: every load appends what
changed since the previous one (a new or changed ``updated_at``, a key missing from the new
file) to ``raw.<dataset>_versions`` (see :mod:`data_platform.loading.versions`); a supply's
key is its id and sku together.
"""

from __future__ import annotations

import pandera.pandas as pandera
import pyarrow as pa

from data_platform.core.datasets import (
    MAX_PRICE_CENTS,
    TEXT_LENGTH,
    Column,
    Dataset,
    cents,
    key,
    text,
    timestamp,
)

PRODUCT_TYPES = ("jaffle", "beverage")
MAX_TAX_RATE = 0.25

PRODUCTS = Dataset(
    "products",
    "Products the shops sell, from the landing file products.csv, replaced in full. One row "
    "per sku.",
    columns=(
        key("sku", "Stock keeping unit, the product's id.", unique=True),
        text("name", "The product's name."),
        Column(
            "type",
            pa.string(),
            f"The kind of product: {' or '.join(PRODUCT_TYPES)}.",
            checks=(pandera.Check.isin(list(PRODUCT_TYPES)),),
        ),
        cents("price", "Price before tax", MAX_PRICE_CENTS),
        text("description", "The menu's description.", TEXT_LENGTH, nullable=True),
        timestamp("updated_at", "When the product's row last changed, naive UTC"),
    ),
    key=("sku",),
    cadence="on_delivery",
    versioned=True,
)

STORES = Dataset(
    "stores",
    "The shop's stores, from the landing file stores.csv, replaced in full. One row per store.",
    columns=(
        key("id", "The store's id.", unique=True),
        text("name", "The store's name (its city)."),
        timestamp("opened_at", "When the store opened"),
        Column(
            "tax_rate",
            pa.float64(),
            "Sales tax as a fraction (0.06 = 6 %), at most 25 %.",
            checks=(pandera.Check.ge(0), pandera.Check.le(MAX_TAX_RATE)),
        ),
        timestamp("updated_at", "When the store's row last changed, naive UTC"),
    ),
    key=("id",),
    cadence="on_delivery",
    versioned=True,
)

SUPPLIES = Dataset(
    "supplies",
    "Supplies each product uses, from the landing file supplies.csv, replaced in full. One row "
    "per supply and sku (a supply is listed once per product that uses it).",
    columns=(
        key("id", "The supply's id (not unique alone: one row per product using it)."),
        text("name", "The supply's name."),
        cents("cost", "Cost of the supply per product made", MAX_PRICE_CENTS),
        Column("perishable", pa.bool_(), "Whether the supply perishes (true/false)."),
        key("sku", "The product that uses the supply (raw/products)."),
        timestamp("updated_at", "When the supply's row last changed, naive UTC"),
    ),
    key=("id", "sku"),
    composite_unique=True,
    cadence="on_delivery",
    versioned=True,
)

TWEETS = Dataset(
    "tweets",
    "Tweets about the shop, from one JSON Lines file per day in landing/tweets/, "
    "daily-partitioned by that day. One row per tweet.",
    columns=(
        key("id", "The tweet's id.", unique=True),
        key("user_id", "The customer who tweeted (raw/customers).", pii="direct"),
        timestamp("tweeted_at", "When it was tweeted, on the file's day"),
        text("content", "The tweet's text.", TEXT_LENGTH, nullable=True, pii="quasi"),
    ),
    key=("id",),
    event_time="tweeted_at",
)

REFERENCE = (PRODUCTS, STORES, SUPPLIES)
DAILY = (TWEETS,)
DATASETS = (*REFERENCE, *DAILY)
