"""The shop database's raw datasets: customers, orders and order items, one contract each.

Orders and order items are daily-partitioned by the order's ``ordered_at`` date; customers are
captured by change on every run (by ``updated_at``, deletions by their ids; versioned).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from data_platform.core.datasets import (
    MAX_ORDER_CENTS,
    Dataset,
    Reference,
    RowRule,
    cents,
    key,
    text,
    timestamp,
)

EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path
PHONE_LENGTH = 32
POSTCODE_LENGTH = 16
TOTAL_ADDS_UP = "order_total = subtotal + tax_paid"


def _total_adds_up(rows: pa.Table) -> pa.ChunkedArray:
    # Nulls are the nullability check's to report.
    total = pc.add(rows["subtotal"], rows["tax_paid"])
    return pc.fill_null(pc.equal(rows["order_total"], total), True)


CUSTOMERS = Dataset(
    "customers",
    "Customers of the shop database, captured by change (updated_at) on every run, every "
    "version kept in raw.customers_versions. One row per customer, "
    "with how to reach them: personal data, classified per column (see Pii); the marts hold "
    "none of it but a keyed pseudonym and generalised values.",
    columns=(
        key("id", "The customer's id (text, the shop's primary key).", unique=True, pii="direct"),
        # Required: the shop's application asks every customer for a name, so a nameless row
        # is a defect to see (quarantined, rule not_nullable, column name), not a customer
        # to show as blank or as "None". Its orders wait in quarantine with it (unknown
        # customer) until the name is supplied and the day re-run.
        text("name", "The customer's full name (required).", pii="direct"),
        # Contact details are optional in the shop's sign-up form.
        text("email", "The customer's e-mail address.", EMAIL_LENGTH, nullable=True, pii="direct"),
        text("phone", "The customer's phone number, as typed.", PHONE_LENGTH, True, pii="direct"),
        text("street", "Street and number of the postal address.", nullable=True, pii="direct"),
        text("city", "City of the postal address.", nullable=True, pii="quasi"),
        text("postcode", "Postcode of the postal address.", POSTCODE_LENGTH, True, pii="quasi"),
        timestamp("updated_at", "When the shop last changed the customer's row"),
    ),
    key=("id",),
    versioned=True,
)

ORDERS = Dataset(
    "orders",
    "Orders of the shop database, one daily partition per ordered_at date. One row per order.",
    columns=(
        key("id", "The order's id (the shop's primary key).", unique=True),
        key("customer", "The id of the customer who ordered (raw/customers).", pii="direct"),
        timestamp("ordered_at", "When the order was placed"),
        key("store_id", "The id of the store that took the order (raw/stores)."),
        cents("subtotal", "Price of the items before tax", MAX_ORDER_CENTS),
        cents("tax_paid", "Tax on the order", MAX_ORDER_CENTS),
        cents("order_total", "subtotal + tax_paid", MAX_ORDER_CENTS),
    ),
    key=("id",),
    event_time="ordered_at",
    references=(Reference("customer", "customers", "id"), Reference("store_id", "stores", "id")),
    row_rules=(RowRule(TOTAL_ADDS_UP, "order_total", _total_adds_up),),
)

ORDER_ITEMS = Dataset(
    "order_items",
    "Order items of the shop database, partitioned by their order's ordered_at date. One row "
    "per item (one product of one order).",
    columns=(
        key("id", "The item's id (the shop's primary key).", unique=True),
        key("order_id", "The id of the item's order (raw/orders, same day)."),
        key("sku", "The product's stock keeping unit (raw/products)."),
    ),
    key=("id",),
    event_time="ordered_at",  # the parent order's time
    references=(
        Reference("order_id", "orders", "id", same_partition=True),
        Reference("sku", "products", "sku"),
    ),
)

DATASETS = (CUSTOMERS, ORDERS, ORDER_ITEMS)
