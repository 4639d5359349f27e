"""The stream marts on real dbt builds, against an independent computation from the rows.

A fresh warehouse (a DuckDB file; PostgreSQL too) gets raw tables written by the platform's
own warehouse writer: a shop (two stores, customers, the orders of the closed days) and
raw.web_events per the contract, loaded in two micro-batches, the second one late: events
whose windows the first build already holds, with a later ``_loaded_at``. Then ``dbt build``
runs the whole project through the platform's dbt resource, as the Dagster steps do, and
after each build the stream marts are compared, every row and column, with
:mod:`tests.stream_oracle` (plain Python over the same rows, not the models' SQL):

1. first micro-batch: fct_store_activity_5min, fct_daily_conversion and store_sales_live;
2. the late micro-batch: the incremental build restates exactly the windows it touches, and
   the table equals the from-scratch computation over every row;
3. the nightly batch loads the orders of the day that was live: store_sales_live shows that
   day from the batch fact, with the figures the stream showed;
4. a full refresh gives the incremental build's table.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from data_platform.core.child_process import DBT_WRAPPER
from data_platform.core.pseudonyms import hmac_pads
from data_platform.loading.versions import versions_schema
from data_platform.resources.dbt import WarehouseDbtCliResource, dbt_project
from data_platform.resources.warehouse import Replacement, WarehouseResource
from data_platform.sources import DATASETS
from data_platform.sources.web_events.datasets import RAW_SCHEMA
from data_platform.transformation.dbt_assets import OPERATIONS_TAG
from tests.conftest import BIN
from tests.mart_compare import differences, read_mart
from tests.servers import postgres_database
from tests.stream_oracle import KEYS, activity_5min, daily_conversion, store_sales_live

STORES = {"store-phl": "Philadelphia", "store-bkn": "Brooklyn"}
CUSTOMERS = [f"customer-{n}" for n in range(12)]
SKUS = ["JAF-001", "JAF-002", "BEV-001"]
PAGES = ["/", "/menu", "/about", "/cart"]
# Three UTC days: the first closed from the start, the second closed by the nightly run of
# step 3, the third live throughout.
DAYS = [dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2026, 12, 3)]
LOADED_1 = dt.datetime(2026, 12, 3, 18, 0, 0, 123456)
LOADED_2 = dt.datetime(2026, 12, 3, 18, 0, 31, 654321)


@dataclass
class Shop:
    """What the test writes: the events (contract rows, without the lineage columns) and the
    shop's orders (raw.orders rows), with the order ids no order was written for."""

    events: list[dict]
    orders: list[dict]
    missing_orders: set[str]


def visit(rng: random.Random, store: str, start: dt.datetime, n: int) -> tuple[list, dict | None]:
    """One visit's events from ``start`` (a session: started, 1-3 page views, product views,
    carts, and a checkout for some of the customers' visits) and its order, if it converts."""
    session = f"session-{n}"
    customer = rng.choice(CUSTOMERS) if rng.random() < 0.7 else None
    at = start
    events = []

    def event(kind: str, **fields) -> None:
        nonlocal at
        row = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_type": kind,
            "event_time": at,
            "session_id": session,
            "visitor_id": f"visitor-{n % 40}",
            "customer_id": customer,
            "store_id": store,
            "page": None,
            "product_id": None,
            "order_id": None,
            "order_total": None,
        }
        events.append({**row, **fields})
        at += dt.timedelta(seconds=rng.randint(5, 200), microseconds=rng.randint(0, 999_999))

    event("session_started")
    for _ in range(rng.randint(1, 3)):
        event("page_viewed", page=rng.choice(PAGES))
    carts = 0
    for _ in range(rng.randint(0, 3)):
        sku = rng.choice(SKUS)
        event("product_viewed", product_id=sku)
        if rng.random() < 0.5:
            event("added_to_cart", product_id=sku)
            carts += 1
    if not (carts and customer and rng.random() < 0.7):
        return events, None
    subtotal = rng.randint(300, 4_000)
    tax = subtotal * 6 // 100
    order = {
        "id": f"order-{n}",
        "customer": customer,
        "store_id": store,
        "subtotal": subtotal,
        "tax_paid": tax,
        "order_total": subtotal + tax,
    }
    event("checkout_completed", order_id=order["id"], order_total=order["order_total"])
    # The simulator writes the order with ordered_at = the checkout's event time (naive UTC).
    order["ordered_at"] = events[-1]["event_time"]
    return events, order


def shop(seed: int = 13) -> Shop:
    """Visits at both stores over the three days, some on a window's first microsecond and some
    crossing midnight, and one converting visit on the first day whose order never reaches the
    shop's orders."""
    rng = random.Random(seed)
    events, orders, n = [], [], 0
    for day in DAYS:
        midnight = dt.datetime.combine(day, dt.time())
        starts = [midnight + dt.timedelta(seconds=rng.randint(0, 86_000)) for _ in range(30)]
        starts += [midnight + dt.timedelta(hours=10, minutes=5)]  # exactly a window's start
        if day != DAYS[-1]:
            starts.append(midnight + dt.timedelta(hours=23, minutes=58))  # into the next day
        for start in starts:
            for store in STORES:
                n += 1
                rows, order = visit(rng, store, start, n)
                events += rows
                if order and order["ordered_at"].date() in DAYS:
                    orders.append(order)
    # Visits crossing midnight of the last day would end after the test's "now".
    events = [e for e in events if e["event_time"].date() <= DAYS[-1]]
    orders = [o for o in orders if o["ordered_at"].date() <= DAYS[-1]]
    first_day = [o for o in orders if o["ordered_at"].date() == DAYS[0]]
    missing = {first_day[0]["id"]}
    return Shop(events, [o for o in orders if o["id"] not in missing], missing)


def late_split(events: list[dict], seed: int = 7) -> tuple[list[dict], list[dict]]:
    """The first micro-batch and the late one: a fifth of the events (of every type) of the
    last two days arrive late, published within the allowed lateness."""
    rng = random.Random(seed)
    late = {id(e) for e in events if e["event_time"].date() >= DAYS[1] and rng.random() < 0.2}
    return [e for e in events if id(e) not in late], [e for e in events if id(e) in late]


def loaded(events: list[dict], batch: str, at: dt.datetime, delay: dt.timedelta) -> list[dict]:
    """The rows the raw asset writes for a micro-batch's events."""
    return [
        {
            **e,
            "published_at": e["event_time"] + delay,
            "_partition_date": e["event_time"].date(),
            "_source": "nats:SHOP_EVENTS",
            "_source_row": row,
            "_batch_id": batch,
            "_loaded_at": at,
        }
        for row, e in enumerate(events, start=1)
    ]


def write(warehouse: WarehouseResource, table: str, rows: list[dict], schema: pa.Schema) -> None:
    """Append ``rows`` to ``raw.<table>`` (created with ``schema`` if missing)."""
    batch = pa.Table.from_pylist(rows, schema=schema)
    warehouse.replace(Replacement("raw", table, batch, "_partition_date", partitions=()))


def write_shop(warehouse: WarehouseResource, orders: list[dict]) -> None:
    """Every raw table of the batch side, as the raw assets leave them: the stores, the
    customers, the given orders; no items, products, supplies or tweets."""
    schemas = {d.name: d.schema for d in DATASETS if d.cadence != "streaming"}
    opened = dt.datetime(2016, 9, 1)
    rows = {
        "stores": [
            {"id": s, "name": name, "opened_at": opened, "tax_rate": 0.06}
            for s, name in STORES.items()
        ],
        "customers": [{"id": c, "name": f"Name of {c}"} for c in CUSTOMERS],
        "orders": [{**o, "_partition_date": o["ordered_at"].date()} for o in orders],
    }
    for name, schema in schemas.items():
        batch = pa.Table.from_pylist(rows.get(name, []), schema=schema)
        warehouse.replace(Replacement("raw", name, batch))
    # The versioned datasets' versions too, as a first load leaves them: each row created.
    for dataset in (d for d in DATASETS if d.versioned):
        created = [
            {**r, "_change": "created", "_loaded_at": opened, "_load_id": "write_shop"}
            for r in rows.get(dataset.name, [])
        ]
        batch = pa.Table.from_pylist(created, schema=versions_schema(dataset))
        warehouse.replace(Replacement("raw", dataset.versions_table, batch))


def dbt_build(url: str, target: Path, *args: str) -> None:
    """``dbt build`` of the whole project on the warehouse at ``url`` (but the operations
    models, whose sources the Dagster instance fills: test_operations), through the
    platform's dbt resource (the dbt of the Dagster steps); fails the test with dbt's log on
    error."""
    dbt = WarehouseDbtCliResource(
        project_dir=dbt_project,
        dbt_executable=str(BIN / DBT_WRAPPER),
        warehouse_url=url,
        target_dir=str(target),
    )
    scope = [] if "--select" in args else ["--exclude", f"tag:{OPERATIONS_TAG}"]
    # What the Dagster steps do before dbt: the pseudonym key's pads in the warehouse.
    WarehouseResource(url=url).store_pseudonym_pads(*hmac_pads(b"the stream marts' test key"))
    invocation = dbt.cli(["build", *args, *scope], raise_on_error=False)
    if not invocation.wait().is_successful():
        log = (Path(invocation.target_path) / "dbt.log").read_text(errors="replace")
        pytest.fail(f"dbt build {' '.join(args)} failed:\n{log[-6000:]}")


# The marts read after each build: the stream marts and the batch fact the live view reads.
SEEN = (*KEYS, "fct_daily_store_sales")


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path_factory.mktemp('stream-duckdb') / 'warehouse.duckdb'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture(scope="module")
def stream(warehouse_url, tmp_path_factory) -> Iterator[dict]:
    """The four steps of the module's docstring on one warehouse; yields what each step saw."""
    target = tmp_path_factory.mktemp("dbt-target")
    warehouse = WarehouseResource(url=warehouse_url)
    data = shop()
    first, late = late_split(data.events)
    batch_1 = loaded(first, "batch-1", LOADED_1, dt.timedelta(seconds=2))
    batch_2 = loaded(late, "batch-2", LOADED_2, dt.timedelta(minutes=90))
    closed = [o for o in data.orders if o["ordered_at"].date() == DAYS[0]]
    write_shop(warehouse, closed)

    write(warehouse, "web_events", batch_1, RAW_SCHEMA)
    dbt_build(warehouse_url, target)
    seen = {"first": {m: read_mart(warehouse_url, m) for m in SEEN}}

    write(warehouse, "web_events", batch_2, RAW_SCHEMA)
    dbt_build(warehouse_url, target)
    seen["late"] = {m: read_mart(warehouse_url, m) for m in SEEN}

    nightly = [o for o in data.orders if o["ordered_at"].date() <= DAYS[1]]
    write_shop(warehouse, nightly)
    dbt_build(warehouse_url, target)
    seen["nightly"] = {m: read_mart(warehouse_url, m) for m in SEEN}

    dbt_build(warehouse_url, target, "--full-refresh", "--select", "fct_store_activity_5min")
    seen["full_refresh"] = {m: read_mart(warehouse_url, m) for m in SEEN}
    yield {
        "shop": data,
        "batch_1": batch_1,
        "rows": batch_1 + batch_2,
        "late": batch_2,
        "closed": closed,
        "nightly": nightly,
        "seen": seen,
    }


def check(rows: list[dict], mart: str, expected: list[dict]) -> None:
    problems = differences(expected, rows, KEYS[mart])
    assert len(rows) == len(expected), problems
    assert problems == []


def test_the_late_batch_restates_windows_the_first_build_holds(stream):
    """The scenario tests what it says: late rows fall in windows the first batch filled, and
    in windows of their own."""
    first = {
        (r["store_id"], r["window_start"])
        for r in stream["seen"]["first"]["fct_store_activity_5min"]
    }
    late = {(r["store_id"], r["window_start"]) for r in activity_5min(stream["late"])}
    assert len(late & first) >= 10 and late - first
    assert {e["event_type"] for e in stream["late"]} >= {"session_started", "checkout_completed"}


def test_windows_of_the_first_batch_equal_the_independent_computation(stream):
    expected = activity_5min(stream["batch_1"])
    check(stream["seen"]["first"]["fct_store_activity_5min"], "fct_store_activity_5min", expected)


def test_late_events_restate_their_windows_as_a_computation_from_scratch(stream):
    expected = activity_5min(stream["rows"])
    rows = stream["seen"]["late"]["fct_store_activity_5min"]
    check(rows, "fct_store_activity_5min", expected)
    # Windows no late row touched kept the first build's rows (last_loaded_at says so).
    untouched = [r for r in rows if r["last_loaded_at"] == LOADED_1]
    assert untouched and len(untouched) < len(rows)


def test_a_build_without_new_events_and_a_full_refresh_keep_the_windows(stream):
    expected = activity_5min(stream["rows"])
    for step in ("nightly", "full_refresh"):
        check(stream["seen"][step]["fct_store_activity_5min"], "fct_store_activity_5min", expected)


def test_daily_conversion_equals_the_independent_computation(stream):
    shop_data = stream["shop"]
    for step, rows, orders in (
        ("first", stream["batch_1"], stream["closed"]),
        ("late", stream["rows"], stream["closed"]),
        ("nightly", stream["rows"], stream["nightly"]),
    ):
        expected = daily_conversion(rows, orders)
        check(stream["seen"][step]["fct_daily_conversion"], "fct_daily_conversion", expected)
    # The checkout whose order never reached the shop is flagged, and listed.
    final = {
        (r["store_id"], r["event_date"]): r
        for r in stream["seen"]["nightly"]["fct_daily_conversion"]
    }
    assert sum(r["checkouts_without_order"] or 0 for r in final.values()) == 1
    assert all(r["checkouts_without_order"] is None for k, r in final.items() if k[1] == DAYS[2])
    assert any(r["sessions_with_checkout"] for r in final.values())
    assert shop_data.missing_orders


def test_checkouts_whose_order_is_missing_are_listed(stream, warehouse_url):
    rows = WarehouseResource(url=warehouse_url).query(
        "select order_id from staging.int_checkouts_matched "
        "where not order_found and order_day_loaded"
    )
    assert {r["order_id"] for r in rows} == stream["shop"].missing_orders


def test_live_view_takes_closed_days_from_the_batch_and_later_days_from_the_stream(stream):
    for step, orders in (("first", stream["closed"]), ("nightly", stream["nightly"])):
        rows = stream["seen"][step]["store_sales_live"]
        expected = store_sales_live(
            stream["rows"] if step != "first" else stream["batch_1"], orders, STORES
        )
        check(rows, "store_sales_live", expected)
        last_closed = max(o["ordered_at"].date() for o in orders)
        assert {r["source"] for r in rows if r["order_date"] <= last_closed} == {"batch"}
        assert {r["source"] for r in rows if r["order_date"] > last_closed} == {"stream"}


def test_live_view_equals_the_batch_fact_for_a_closed_day(stream):
    """After the nightly run, the day that was live is the batch fact's, row for row; and its
    figures are those the stream showed for it before (every order of the day had its
    checkout event, so the two layers agree)."""
    live = stream["seen"]["nightly"]["store_sales_live"]
    fact = stream["seen"]["nightly"]["fct_daily_store_sales"]
    columns = ("order_date", "store_id", "store_name", "order_count", "revenue")
    for day in DAYS[:2]:
        from_fact = sorted(tuple(r[c] for c in columns) for r in fact if r["order_date"] == day)
        from_live = sorted(tuple(r[c] for c in columns) for r in live if r["order_date"] == day)
        assert from_fact and from_live == from_fact
    before = sorted(
        (r["store_id"], r["order_count"], r["revenue"])
        for r in stream["seen"]["late"]["store_sales_live"]
        if r["order_date"] == DAYS[1]
    )
    after = sorted(
        (r["store_id"], r["order_count"], r["revenue"]) for r in live if r["order_date"] == DAYS[1]
    )
    assert {
        r["source"]
        for r in stream["seen"]["late"]["store_sales_live"]
        if r["order_date"] == DAYS[1]
    } == {"stream"}
    assert before == after
