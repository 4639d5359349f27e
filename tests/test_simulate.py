"""The live shop simulator: events against the contract, checkouts against the orders it
writes to a real SQLite shop database, fault shares, and the command run for a few seconds
against a seeded state folder, stopped by SIGINT."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_platform.resources import EventBrokerResource, LakeResource, ShopDatabaseResource
from data_platform.simulate import (
    EVENT_TYPES,
    MALFORMED_KINDS,
    Faults,
    Options,
    Product,
    Shop,
    Store,
    burst,
    run,
    simulate_visits,
    tax_cents,
    write_batch,
)
from data_platform.sources.shop_db.tables import order_items, orders
from tests.conftest import BIN

NOW = dt.datetime(2026, 12, 2, 10, 41, 7, 123456, tzinfo=dt.UTC)
SHOP = Shop(
    customers=tuple(f"customer-{i}" for i in range(20)),
    stores=(Store("store-a", 0.06), Store("store-b", 0.0475)),
    products=(Product("JAF-001", 1100), Product("BEV-001", 400), Product("JAF-005", 1299)),
)
FIELDS = {
    "event_id",
    "event_type",
    "event_time",
    "session_id",
    "visitor_id",
    "customer_id",
    "store_id",
    "page",
    "product_id",
    "order_id",
    "order_total",
}


def _parse_time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    assert moment.utcoffset() == dt.timedelta(0), text
    return moment


def check_contract(event: dict) -> None:
    """One event as issue 13's contract has it (an independent reading of the contract)."""
    assert set(event) == FIELDS
    assert event["event_type"] in EVENT_TYPES
    assert event["event_time"].endswith("Z") and _parse_time(event["event_time"])
    for key in ("event_id", "session_id", "visitor_id", "store_id"):
        assert isinstance(event[key], str) and event[key]
    kind = event["event_type"]
    assert (event["page"] is not None) == (kind == "page_viewed")
    assert (event["product_id"] is not None) == (kind in ("product_viewed", "added_to_cart"))
    assert (event["order_id"] is not None) == (kind == "checkout_completed")
    assert (event["order_total"] is not None) == (kind == "checkout_completed")
    if kind == "checkout_completed":
        assert isinstance(event["order_total"], int) and event["customer_id"] is not None


def test_events_follow_the_contract_and_visits_make_sense():
    batch = simulate_visits(300, NOW, random.Random(7), SHOP)
    events = [json.loads(p) for p in batch.events]
    assert len(events) == batch.counts["events"] and batch.counts["visits"] == 300
    for event in events:
        check_contract(event)
        assert _parse_time(event["event_time"]) <= NOW
    assert len({e["event_id"] for e in events}) == len(events)
    times = [_parse_time(e["event_time"]) for e in events]
    assert times == sorted(times)  # no faults asked: published in event time order
    sessions: dict[str, list[dict]] = {}
    for event in events:
        sessions.setdefault(event["session_id"], []).append(event)
    assert len(sessions) == 300
    anonymous = converting = 0
    for visit in sessions.values():
        kinds = [e["event_type"] for e in visit]
        assert kinds[0] == "session_started" and "page_viewed" in kinds
        assert len({(e["visitor_id"], e["customer_id"], e["store_id"]) for e in visit}) == 1
        if visit[0]["customer_id"] is None:
            anonymous += 1
            assert "checkout_completed" not in kinds
        if "checkout_completed" in kinds:
            converting += 1
            assert kinds[-1] == "checkout_completed" and "added_to_cart" in kinds
    assert 60 < anonymous < 180 and 40 < converting < 150
    assert converting == len(batch.orders)
    # Reproducible: the same seed, the same batch.
    assert simulate_visits(300, NOW, random.Random(7), SHOP).events == batch.events


def test_checkouts_match_the_orders_in_a_shop_database(tmp_path):
    shop_db = ShopDatabaseResource(url=f"sqlite:///{tmp_path / 'shop.db'}")
    broker = EventBrokerResource(lake=LakeResource(url=str(tmp_path / "lake")))
    batch = simulate_visits(200, NOW, random.Random(3), SHOP, Faults(late_share=0.2))
    write_batch(batch, {"shop_db": shop_db, "events": broker})

    with shop_db.engine().connect() as conn:
        written = {r.id: r for r in conn.execute(sa.select(orders))}
        items = conn.execute(sa.select(order_items)).all()
    [source] = {m.source for m in broker.fetch(100_000).messages}
    published = [json.loads(line) for line in broker.lake.read_bytes(source).splitlines()]
    checkouts = [e for e in published if e["event_type"] == "checkout_completed"]
    assert checkouts and {e["order_id"] for e in checkouts} == set(written)
    prices = {p.sku: p.price for p in SHOP.products}
    rates = {s.id: s.tax_rate for s in SHOP.stores}
    carts: dict[str, list[str]] = {}
    for event in published:
        if event["event_type"] == "added_to_cart":
            carts.setdefault(event["session_id"], []).append(event["product_id"])
    for event in checkouts:
        order = written[event["order_id"]]
        # ordered_at: the checkout's event time (late ones too), naive UTC.
        assert order.ordered_at == _parse_time(event["event_time"]).replace(tzinfo=None)
        assert (order.customer, order.store_id) == (event["customer_id"], event["store_id"])
        skus = sorted(i.sku for i in items if i.order_id == order.id)
        assert skus == sorted(carts[event["session_id"]])
        assert order.subtotal == sum(prices[s] for s in skus)
        assert order.tax_paid == tax_cents(order.subtotal, rates[order.store_id])
        assert order.order_total == order.subtotal + order.tax_paid == event["order_total"]


def test_tax_rounds_half_up():
    assert tax_cents(1100, 0.06) == 66
    assert tax_cents(1050, 0.05) == 53  # 52.5
    assert tax_cents(1299, 0.0475) == 62  # 61.7025


def test_faults_appear_in_the_requested_shares():
    faults = Faults(late_share=0.1, duplicate_share=0.05, malformed_share=0.08, out_of_order=True)
    batch = simulate_visits(3000, NOW, random.Random(11), SHOP, faults)
    counts = batch.counts
    messages = len(batch.events)
    produced = counts["events"] + counts["malformed"]  # before duplicates
    assert messages == produced + counts["duplicate"]
    assert abs(counts["late"] / produced - 0.1) < 0.015
    assert abs(counts["duplicate"] / produced - 0.05) < 0.01
    assert abs(counts["malformed"] / produced - 0.08) < 0.012

    good, late, malformed = [], 0, Counter()
    for payload in batch.events:
        try:
            event = json.loads(payload)
        except ValueError:
            malformed["not JSON"] += 1
            continue
        try:
            check_contract(event)
        except (AssertionError, ValueError, TypeError, KeyError, AttributeError):
            malformed["breaks the contract"] += 1
            continue
        good.append(event)
        if NOW - _parse_time(event["event_time"]) > dt.timedelta(seconds=130):
            late += 1
    # Every malformed message is caught by an independent reading of the contract.
    assert sum(malformed.values()) == counts["malformed"] + _duplicated_malformed(batch)
    assert all(counts[f"malformed:{kind}"] > 0 for kind in MALFORMED_KINDS)
    assert abs(late / len(good) - 0.1) < 0.02
    for event in good:  # late: 1 minute to 4 hours back, beyond a visit's 2 minutes
        assert NOW - _parse_time(event["event_time"]) < dt.timedelta(hours=4, minutes=3)
    counted = Counter(batch.events)
    assert sum(n - 1 for n in counted.values() if n > 1) >= counts["duplicate"] - 5
    times = [_parse_time(e["event_time"]) for e in good]
    assert times != sorted(times)  # shuffled


def _duplicated_malformed(batch) -> int:
    """Malformed messages published a second time (a duplicate of a malformed payload)."""
    seen, again = set(), 0
    for payload in batch.events:
        if payload in seen:
            try:
                check_contract(json.loads(payload))
            except (AssertionError, ValueError, TypeError, KeyError, AttributeError):
                again += 1
        seen.add(payload)
    return again


def _seeded_resources(tmp_path: Path, seeded_csv: Path) -> tuple[dict, dict]:
    """A state folder of its own, seeded by the command from the test CSVs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_PLATFORM_", "DAGSTER"))}
    env["DATA_PLATFORM_HOME"] = str(tmp_path / "home")
    env["DATA_PLATFORM_PARTITION_START"] = "2018-09-01"
    seed = subprocess.run(
        [str(BIN / "data-platform"), "seed", "--from-csv", str(seeded_csv)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "landing files written" in seed.stdout, seed.stdout + seed.stderr
    resources = {
        "lake": LakeResource(url=str(tmp_path / "home" / "lake")),
        "shop_db": ShopDatabaseResource(url=f"sqlite:///{tmp_path / 'home' / 'shop.db'}"),
    }
    resources["events"] = EventBrokerResource(lake=resources["lake"])
    return env, resources


def _order_count(shop_db: ShopDatabaseResource) -> int:
    return shop_db.fetch_one(sa.select(sa.func.count()).select_from(orders))[0]


def test_run_loop_and_burst_on_the_seeded_shop(tmp_path, small_csv_dir):
    _, resources = _seeded_resources(tmp_path, small_csv_dir)
    before = _order_count(resources["shop_db"])
    stop, lines = threading.Event(), []
    options = Options(rate=600, duration=None, flush_seconds=0.5, seed=5)
    stopper = threading.Timer(2.2, stop.set)
    stopper.start()
    totals = run(resources, options, stop, say=lines.append)
    assert lines[0].startswith("simulate: 600 orders/min on the files broker")
    assert "messages" in lines[-1] and len(lines) <= 4  # a status line, not one per event
    files = resources["lake"].list_paths("landing/events/")
    assert 3 <= len(files) <= 7  # one file per flush
    assert _order_count(resources["shop_db"]) - before == totals["orders"] > 5
    pending = resources["events"].lag().pending
    assert pending == totals["messages"] == totals["events"]
    # Customers and stores come from what is seeded.
    seeded_customers = {
        r.split(",")[0] for r in (small_csv_dir / "raw_customers.csv").read_text().splitlines()
    }
    for message in resources["events"].fetch(100_000).messages:
        event = json.loads(message.data)
        check_contract(event)
        assert event["customer_id"] is None or event["customer_id"] in seeded_customers

    totals = burst(resources, 5_000, Options(seed=1), say=lines.append)
    assert totals["messages"] >= 5_000 and "messages/s" in lines[-1]
    assert resources["events"].lag().pending == pending + totals["messages"]


def test_command_runs_and_stops_cleanly_on_sigint(tmp_path, small_csv_dir):
    env, resources = _seeded_resources(tmp_path, small_csv_dir)
    process = subprocess.Popen(
        [
            str(BIN / "data-platform"),
            "simulate",
            "--rate",
            "300",
            "--flush-seconds",
            "1",
            "--seed",
            "2",
            "--malformed-share",
            "0.1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while not resources["lake"].list_paths("landing/events/"):  # running: it published
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no events published within 90 s"
        time.sleep(0.2)
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, out + err
    assert "Traceback" not in err
    last = out.strip().splitlines()[-1]
    assert last.startswith("simulate: ") and "malformed" in last
    published = len(resources["events"].fetch(100_000).messages)
    assert f"{published} messages" in last  # the last flush was published before exiting


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--late-share", "1.5"], "expected a share from 0 to 1"),
        (["--rate", "0"], "expected a number above 0"),
        (["--burst", "0"], "--burst 0: expected at least 1"),
    ],
)
def test_command_refuses_bad_options(tmp_path, args, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_PLATFORM_", "DAGSTER"))}
    env["DATA_PLATFORM_HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "shop.db").touch()
    result = subprocess.run(
        [str(BIN / "data-platform"), "simulate", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr
