"""The raw contract of the shop's web events (``raw.web_events``), as the event stream carries them.

One message is one JSON object (the payload of ``docs``: see README, "The live shop"):
``event_id``, ``event_type`` (one of :data:`EVENT_TYPES`), ``event_time`` (ISO 8601 with a
time zone, stored as UTC without zone), ``session_id``, ``visitor_id``, ``customer_id``
(``null`` for an anonymous visitor), ``store_id``, ``page`` (page views), ``product_id``
(product views and carts), ``order_id`` and ``order_total`` (integer cents; checkouts).

Grain of ``raw.web_events``: one row per accepted event (``event_id`` unique), daily-partitioned
by the UTC day of ``event_time``. Besides the payload's columns every row carries where it came
from (:data:`LINEAGE_COLUMNS`): when the broker took it (``published_at``, UTC), the message's
source and position (``_source``, ``_source_row``), the micro-batch and the load time.
"""

from __future__ import annotations

import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc

from data_platform.core.datasets import (
    MAX_ORDER_CENTS,
    TIMESTAMP,
    Column,
    Dataset,
    Reference,
    RowRule,
    key,
    text,
)

SESSION_STARTED = "session_started"
PAGE_VIEWED = "page_viewed"
PRODUCT_VIEWED = "product_viewed"
ADDED_TO_CART = "added_to_cart"
CHECKOUT_COMPLETED = "checkout_completed"
EVENT_TYPES = (SESSION_STARTED, PAGE_VIEWED, PRODUCT_VIEWED, ADDED_TO_CART, CHECKOUT_COMPLETED)
PRODUCT_EVENTS = (PRODUCT_VIEWED, ADDED_TO_CART)

CHECKOUT_HAS_ORDER = "checkout_has_order"
PRODUCT_EVENT_HAS_PRODUCT = "product_event_has_product"


def _checkout_has_order(rows: pa.Table) -> pa.ChunkedArray:
    is_checkout = pc.fill_null(pc.equal(rows["event_type"], CHECKOUT_COMPLETED), False)
    complete = pc.and_(pc.is_valid(rows["order_id"]), pc.is_valid(rows["order_total"]))
    return pc.or_(pc.invert(is_checkout), complete)


def _product_event_has_product(rows: pa.Table) -> pa.ChunkedArray:
    is_product = pc.fill_null(pc.is_in(rows["event_type"], pa.array(PRODUCT_EVENTS)), False)
    return pc.or_(pc.invert(is_product), pc.is_valid(rows["product_id"]))


WEB_EVENTS = Dataset(
    name="web_events",
    description=(
        "Web events of the shop's sites (sessions, page and product views, carts, checkouts), "
        "one row per event, daily-partitioned by the UTC day of event_time."
    ),
    columns=(
        key("event_id", "Identifier of the event, unique across the stream.", unique=True),
        Column(
            "event_type",
            pa.string(),
            f"What happened: one of {', '.join(EVENT_TYPES)}.",
            checks=(pandera.Check.isin(EVENT_TYPES),),
        ),
        Column("event_time", TIMESTAMP, "When it happened (timestamp, UTC, no time zone)."),
        key("session_id", "The visit (session) the event belongs to."),
        key("visitor_id", "The browser's anonymous visitor id (always set).", pii="quasi"),
        Column(
            "customer_id",
            pa.string(),
            "The shop customer signed in, null for an anonymous visitor.",
            nullable=True,
            checks=(pandera.Check.str_length(max_value=64),),
            pii="direct",
        ),
        key("store_id", "The store whose site the visit is on."),
        text("page", "The page path of a page view.", nullable=True),
        Column(
            "product_id",
            pa.string(),
            "The product (sku) viewed or put in the cart.",
            nullable=True,
            checks=(pandera.Check.str_length(max_value=64),),
        ),
        Column(
            "order_id",
            pa.string(),
            "The shop order a checkout created.",
            nullable=True,
            checks=(pandera.Check.str_length(max_value=64),),
        ),
        Column(
            "order_total",
            pa.int64(),
            "The checkout's order total (integer cents).",
            nullable=True,
            checks=(pandera.Check.ge(0), pandera.Check.le(MAX_ORDER_CENTS)),
        ),
    ),
    key=("event_id",),
    event_time="event_time",
    references=(
        Reference("store_id", "stores", "id"),
        Reference("product_id", "products", "sku"),
    ),
    row_rules=(
        RowRule(CHECKOUT_HAS_ORDER, "event_type", _checkout_has_order),
        RowRule(PRODUCT_EVENT_HAS_PRODUCT, "event_type", _product_event_has_product),
    ),
    cadence="streaming",
)

# Columns every loaded row carries besides the payload's, in this order after _partition_date.
LINEAGE_COLUMNS = pa.schema(
    [
        pa.field("published_at", TIMESTAMP),  # UTC: when the broker took the message
        pa.field("_source", pa.string()),  # "nats:<stream>" or the landing file's lake path
        pa.field("_source_row", pa.int64()),  # stream sequence, or 1-based line of the file
        pa.field("_batch_id", pa.string()),  # the micro-batch that loaded the row
        pa.field("_loaded_at", TIMESTAMP),  # UTC
    ]
)
RAW_SCHEMA = pa.unify_schemas([WEB_EVENTS.schema, LINEAGE_COLUMNS])

DATASETS = (WEB_EVENTS,)
