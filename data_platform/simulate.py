"""The demo shop, live: ``data-platform simulate`` keeps it going in real time.

Each flush (every ``--flush-seconds``) simulates the visits of the time since the last one.
It writes their orders and items into the shop database and publishes their web events
through the event broker (:class:`~data_platform.resources.events.EventBrokerResource`; one
landing file per flush on the file backend). A visit is one session: ``session_started``,
one or more ``page_viewed``, some ``product_viewed`` and ``added_to_cart``, and for a
converting visit ``checkout_completed``, carrying the id and total of the order written with
``ordered_at`` = the checkout's event time as naive UTC. The payload is issue 13's contract.

What a visit is made of comes from what is seeded (:func:`load_shop`): the customers of the
shop database, the stores and products of the landing CSVs in the lake (``landing/stores/
stores.csv``, ``landing/products/products.csv``), only the stores opened by now. Totals follow
the orders contract (:mod:`data_platform.sources.shop_db.datasets`): the subtotal is the sum
of the items' prices (integer cents), the tax is the subtotal times the store's rate, rounded
half up to a cent, and ``order_total = subtotal + tax_paid``. Anonymous visitors (no
customer) browse and never check out.

It also changes the shop now and then (``--no-changes``: never): on average
:data:`CHANGES_PER_HOUR` changes an hour, each a product's price (5 to 15 % up or down, to 10
cents), an open store's tax rate (half a point up or down) or a supply's cost (5 to 25 %, in
every product using the supply), written to the landing file with
``updated_at`` = now (:mod:`data_platform.sources.landing.changes`), or a customer's move or
new e-mail address, or the deletion of a customer without orders at their request, in the
shop database (:mod:`data_platform.sources.shop_db.changes`). The next orders use the new
figures, as the shop's tills would. :func:`make_change` is pure.

On request it also makes what production makes by accident (:class:`Faults`): late events
(event time 1 minute to 4 hours in the past), duplicates (the same payload as a second
message), out-of-order publication (a flush's messages shuffled) and malformed messages (not
JSON, truncated JSON, no event_id, an unknown event_type, a bad event_time, a checkout
without order_id).

:func:`simulate_visits` is the pure part (the same ``now``, shop and seeded ``rng`` give the
same batch); :func:`write_batch` puts a batch in the shop database and on the broker;
:func:`run` is the command's loop, :func:`burst` its benchmark mode.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from data_platform.core.errors import PlatformError
from data_platform.core.lake_layout import landing_reference_path
from data_platform.sources.landing.changes import Change, apply_change
from data_platform.sources.landing.datasets import MAX_TAX_RATE, PRODUCTS, STORES, SUPPLIES
from data_platform.sources.shop_db.changes import CustomerChange, apply_customer_change
from data_platform.sources.shop_db.tables import customers, order_items, orders

EVENT_TYPES = (
    "session_started",
    "page_viewed",
    "product_viewed",
    "added_to_cart",
    "checkout_completed",
)
MALFORMED_KINDS = (
    "not_json",
    "truncated_json",
    "missing_event_id",
    "unknown_event_type",
    "bad_event_time",
    "checkout_without_order_id",
)
PAGES = ("/", "/menu", "/stores", "/about", "/cart", "/account")
# Shares of visits: by a known customer (the rest anonymous), and of those, converting.
CUSTOMER_SHARE = 0.6
CONVERSION = 0.5
# A visit's events spread over up to this many seconds before the flush's now.
VISIT_SECONDS = 120
LATE_SECONDS = (60, 4 * 3600)
STATUS_SECONDS = 10
# Changes an hour, on average: a few a day, as a shop's back office and customers make them.
CHANGES_PER_HOUR = 1.0
# Shares of changes: a price, a tax rate, a supply's cost, a customer's deletion; the rest are
# customers' moves and new e-mail addresses.
PRICE_CHANGE_SHARE = 0.35
TAX_CHANGE_SHARE = 0.1
SUPPLY_COST_SHARE = 0.1
DELETION_SHARE = 0.05
_SEED_HINT = "run `data-platform seed --years 1` (or `data-platform seed --from-csv DIR`) first"


@dataclass(frozen=True)
class Store:
    id: str
    tax_rate: float


@dataclass(frozen=True)
class Product:
    sku: str
    price: int  # cents


@dataclass(frozen=True)
class Supply:
    id: str
    cost: int  # cents, per product made (the same in every product using the supply)


@dataclass(frozen=True)
class Shop:
    """What visits are made of: customer ids, stores open now, products with their prices;
    and what changes make use of: the supplies' costs."""

    customers: tuple[str, ...]
    stores: tuple[Store, ...]
    products: tuple[Product, ...]
    # Customers without orders: the only ones the simulator deletes at their request (a
    # customer with orders is the erasure's to pseudonymise, not the simulator's to drop).
    without_orders: tuple[str, ...] = ()
    supplies: tuple[Supply, ...] = ()


@dataclass(frozen=True)
class Faults:
    """The faults to produce: shares (0 to 1) of events late, duplicated and malformed, and
    whether a flush's messages are published shuffled."""

    late_share: float = 0.0
    duplicate_share: float = 0.0
    malformed_share: float = 0.0
    out_of_order: bool = False


@dataclass
class Batch:
    """What :func:`simulate_visits` made: ``events`` (payloads in publication order, faults
    included), the shop rows (``orders``, ``items``: dicts of the shop tables' columns) and
    ``counts`` (``visits``, ``events`` (the good ones, late included), ``late``,
    ``duplicate``, ``malformed``, ``malformed:<kind>``)."""

    events: list[bytes] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


def load_shop(resources, now: dt.datetime) -> Shop:
    """The seeded shop: customers from ``resources["shop_db"]``, stores (opened by ``now``)
    and products from the landing CSVs of ``resources["lake"]``. Raises
    :class:`~data_platform.core.errors.PlatformError` (exit code 2) when any is missing."""
    shop_db, lake = resources["shop_db"], resources["lake"]
    if not shop_db.has_table(customers.name):
        raise PlatformError(f"no customers in the shop database: {_SEED_HINT}", exit_code=2)
    with shop_db.engine().connect() as conn:
        ids = tuple(conn.execute(sa.select(customers.c.id).order_by(customers.c.id)).scalars())
        without_orders = ids
        if shop_db.has_table(orders.name):
            ordering = sa.select(orders.c.customer).distinct()
            quiet = sa.select(customers.c.id).where(customers.c.id.not_in(ordering))
            without_orders = tuple(sorted(conn.execute(quiet).scalars()))

    def rows(dataset: str) -> list[dict]:
        path = landing_reference_path(dataset)
        if not lake.exists(path):
            raise PlatformError(f"no {path} in the lake: {_SEED_HINT}", exit_code=2)
        return list(csv.DictReader(io.StringIO(lake.read_bytes(path).decode("utf-8"))))

    naive_now = now.astimezone(dt.UTC).replace(tzinfo=None)
    stores = tuple(
        Store(r["id"], float(r["tax_rate"]))
        for r in rows("stores")
        if dt.datetime.fromisoformat(r["opened_at"]) <= naive_now
    )
    products = tuple(Product(r["sku"], int(r["price"])) for r in rows("products"))
    # One cost per supply id (jafgen lists a supply once per product, at the same cost).
    costs = {r["id"]: int(r["cost"]) for r in rows("supplies")}
    supplies = tuple(Supply(i, c) for i, c in sorted(costs.items()))
    if not ids or not stores or not products:
        missing = [
            n
            for n, v in (("customers", ids), ("open stores", stores), ("products", products))
            if not v
        ]
        raise PlatformError(
            f"the seeded shop has no {', '.join(missing)}: {_SEED_HINT}", exit_code=2
        )
    return Shop(ids, stores, products, without_orders, supplies)


def tax_cents(subtotal: int, rate: float) -> int:
    """Tax in cents on ``subtotal`` cents at ``rate`` (0.06 = 6 %), rounded half up."""
    exact = Decimal(subtotal) * Decimal(str(rate))
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def event_time_text(moment: dt.datetime) -> str:
    """``moment`` (tz-aware) as the contract writes it: ``2026-12-02T10:41:07.123456Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _visitor(customer_id: str) -> str:
    # A customer's browser keeps its visitor id from visit to visit.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"jaffle-shop/visitor/{customer_id}"))


def simulate_visits(
    n_visits: int,
    now: dt.datetime,
    rng: random.Random,
    shop: Shop,
    faults: Faults = Faults(),
) -> Batch:
    """``n_visits`` visits ending by ``now`` (tz-aware), their orders and items, and their
    events as payloads with ``faults`` applied (see :class:`Batch`). Pure: no I/O, the same
    arguments (and ``rng`` state) give the same batch."""
    batch = Batch()
    timed: list[tuple[dt.datetime, int, dict]] = []  # (time before faults, order, event)
    for _ in range(n_visits):
        batch.counts["visits"] += 1
        for event in _visit(now, rng, shop, batch):
            timed.append((event.pop("_at"), len(timed), event))
    timed.sort(key=lambda t: (t[0], t[1]))  # publication in event time, ties by visit order
    for _, _, event in timed:
        if rng.random() < faults.late_share:
            late = dt.timedelta(seconds=rng.uniform(*LATE_SECONDS))
            moment = dt.datetime.fromisoformat(event["event_time"]) - late
            event["event_time"] = event_time_text(moment)
            if event["event_type"] == "checkout_completed":
                _order(batch, event["order_id"])["ordered_at"] = moment.replace(tzinfo=None)
            batch.counts["late"] += 1
        if rng.random() < faults.malformed_share:
            kind = _malformed_kind(rng, event)
            payload = _malformed(kind, event, rng)
            batch.counts["malformed"] += 1
            batch.counts[f"malformed:{kind}"] += 1
        else:
            payload = json.dumps(event, separators=(",", ":")).encode()
            batch.counts["events"] += 1
        batch.events.append(payload)
        if rng.random() < faults.duplicate_share:
            batch.events.append(payload)
            batch.counts["duplicate"] += 1
    if faults.out_of_order:
        rng.shuffle(batch.events)
    return batch


def _order(batch: Batch, order_id: str) -> dict:
    return next(o for o in reversed(batch.orders) if o["id"] == order_id)


def _visit(now: dt.datetime, rng: random.Random, shop: Shop, batch: Batch) -> list[dict]:
    """One visit's events in time order, each with its time under ``_at``; a converting
    visit's order and items go into ``batch``."""
    customer = rng.choice(shop.customers) if rng.random() < CUSTOMER_SHARE else None
    converts = customer is not None and rng.random() < CONVERSION
    store = rng.choice(shop.stores)
    visitor = _visitor(customer) if customer else _uuid(rng)
    session = _uuid(rng)
    steps: list[tuple[str, dict]] = [("session_started", {})]
    steps += [("page_viewed", {"page": rng.choice(PAGES)}) for _ in range(rng.randint(1, 4))]
    viewed = [rng.choice(shop.products) for _ in range(rng.randint(0, 3))]
    steps += [("product_viewed", {"product_id": p.sku}) for p in viewed]
    carted = [p for p in viewed if rng.random() < 0.5]
    if converts:
        carted += [rng.choice(shop.products) for _ in range(rng.randint(0 if carted else 1, 2))]
    steps += [("added_to_cart", {"product_id": p.sku}) for p in carted]
    span = rng.uniform(5, VISIT_SECONDS)
    start = now - dt.timedelta(seconds=span)
    gaps = sorted(rng.uniform(0, span) for _ in range(len(steps)))
    moments = [start] + [start + dt.timedelta(seconds=g) for g in gaps[1:]]
    if converts:
        steps.append(("checkout_completed", {}))
        moments.append(now)
    events = []
    for (kind, extra), moment in zip(steps, moments, strict=True):
        event = {
            "event_id": _uuid(rng),
            "event_type": kind,
            "event_time": event_time_text(moment),
            "session_id": session,
            "visitor_id": visitor,
            "customer_id": customer,
            "store_id": store.id,
            "page": None,
            "product_id": None,
            "order_id": None,
            "order_total": None,
            **extra,
            "_at": moment,
        }
        if kind == "checkout_completed":
            event["order_id"], event["order_total"] = _checkout(
                batch, rng, customer, store, carted, moment
            )
        events.append(event)
    return events


def _checkout(batch, rng, customer, store, carted, moment) -> tuple[str, int]:
    order_id = _uuid(rng)
    subtotal = sum(p.price for p in carted)
    tax = tax_cents(subtotal, store.tax_rate)
    batch.orders.append(
        {
            "id": order_id,
            "customer": customer,
            # The shop's timestamps are zone-less; the demo shop's are UTC.
            "ordered_at": moment.astimezone(dt.UTC).replace(tzinfo=None),
            "store_id": store.id,
            "subtotal": subtotal,
            "tax_paid": tax,
            "order_total": subtotal + tax,
        }
    )
    batch.items += [{"id": _uuid(rng), "order_id": order_id, "sku": p.sku} for p in carted]
    return order_id, subtotal + tax


def _malformed_kind(rng: random.Random, event: dict) -> str:
    kinds = list(MALFORMED_KINDS)
    if event["event_type"] != "checkout_completed":
        kinds.remove("checkout_without_order_id")
    return rng.choice(kinds)


def _malformed(kind: str, event: dict, rng: random.Random) -> bytes:
    """``event`` broken the way ``kind`` says, as the bytes to publish."""
    broken = dict(event)
    if kind == "not_json":
        return f"<html><body>502 Bad Gateway (request {_uuid(rng)})</body></html>".encode()
    if kind == "truncated_json":
        text = json.dumps(event).encode()
        return text[: rng.randint(len(text) // 2, len(text) - 2)]
    if kind == "missing_event_id":
        broken.pop("event_id")
    elif kind == "unknown_event_type":
        broken["event_type"] = "page_scrolled"
    elif kind == "bad_event_time":
        broken["event_time"] = rng.choice(["yesterday at noon", "2026-13-45T25:61:00Z", 1700000000])
    elif kind == "checkout_without_order_id":
        broken["order_id"] = None
    return json.dumps(broken, separators=(",", ":")).encode()


# -- writing and running ----------------------------------------------------------------


def write_batch(batch: Batch, resources) -> None:
    """Put ``batch``'s orders and items into ``resources["shop_db"]`` (one transaction,
    upserted by key), then publish its events on ``resources["events"]``: a checkout's order
    exists before its event. Raises the resources' faults."""
    if batch.orders:
        shop_db = resources["shop_db"]
        shop_db.create_tables(orders.metadata)
        shop_db.upsert_all({orders: batch.orders, order_items: batch.items})
    publish_events(batch.events, resources["events"])


def publish_events(payloads: list[bytes], broker) -> None:
    """Publish ``payloads`` on ``broker`` in one call (one landing file on the file backend);
    durable when it returns."""
    broker.publish(payloads)


@dataclass(frozen=True)
class Options:
    """The command's options: ``rate`` orders per minute, ``duration`` seconds (None: until
    stopped), ``flush_seconds``, ``seed`` (None: fresh randomness), ``faults``, ``changes``
    (reference changes at :data:`CHANGES_PER_HOUR`)."""

    rate: float = 3.0
    duration: float | None = None
    flush_seconds: float = 2.0
    seed: int | None = None
    faults: Faults = Faults()
    changes: bool = True


def _status(totals: Counter, started: float) -> str:
    faults = ", ".join(f"{totals[k]} {k}" for k in ("late", "duplicate", "malformed") if totals[k])
    return (
        f"simulate: {time.monotonic() - started:.0f} s: {totals['messages']} messages "
        f"({totals['events']} events{', ' + faults if faults else ''}), {totals['orders']} "
        f"orders, {totals['visits']} visits"
    )


def run(
    resources,
    options: Options,
    stop: threading.Event,
    say: Callable[[str], None] = print,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Counter:
    """Simulate the shop in real time until ``stop`` is set or ``options.duration`` passes;
    return the totals. Every flush writes what accumulated; a flush whose publication fails
    (a broker restarting) is kept and published with the next one, and the last flush is
    done before returning. Says a status line every :data:`STATUS_SECONDS`."""
    rng = random.Random(options.seed)
    # Its own randomness: the visits of a seeded run stay the same with changes on or off.
    change_rng = random.Random(None if options.seed is None else options.seed + 1)
    shop = load_shop(resources, clock())
    # Visits per minute for the rate of orders (a share of visits converts).
    visits_per_minute = options.rate / (CUSTOMER_SHARE * CONVERSION)
    started = time.monotonic()
    deadline = None if options.duration is None else started + options.duration
    last, carry, totals = clock(), 0.0, Counter()
    waiting = Batch()
    next_status = started + STATUS_SECONDS
    say(
        f"simulate: {options.rate:g} orders/min on the {resources['events'].backend} broker, "
        f"flush every {options.flush_seconds:g} s; stop with Ctrl-C"
    )
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        wait = (
            options.flush_seconds
            if remaining is None
            else max(0.0, min(options.flush_seconds, remaining))
        )
        stopping = stop.wait(wait) or (deadline is not None and time.monotonic() >= deadline)
        now = clock()
        carry += visits_per_minute * (now - last).total_seconds() / 60
        last = now
        n = int(carry)
        carry -= n
        if options.changes and change_rng.random() < CHANGES_PER_HOUR * wait / 3600:
            change, shop = make_change(change_rng, shop, now)
            say(f"simulate: {apply_any_change(resources, change)}")
            totals["changes"] += 1
        batch = simulate_visits(n, now, rng, shop, options.faults)
        waiting.events += batch.events
        waiting.orders += batch.orders
        waiting.items += batch.items
        waiting.counts += batch.counts
        try:
            write_batch(waiting, resources)
        except PlatformError as error:
            if stopping:
                raise
            say(
                f"simulate: publishing {len(waiting.events)} messages failed, kept for the next flush: {error}"
            )
        else:
            totals += waiting.counts
            totals["messages"] += len(waiting.events)
            totals["orders"] += len(waiting.orders)
            waiting = Batch()
        if stopping or time.monotonic() >= next_status:
            say(_status(totals, started))
            next_status = time.monotonic() + STATUS_SECONDS
        if stopping:
            return totals


def make_change(
    rng: random.Random, shop: Shop, now: dt.datetime
) -> tuple[Change | CustomerChange, Shop]:
    """A change at ``now`` and the shop after it (pure): a product's price, an open store's
    tax rate, a supply's cost (in every product using it), a customer's move or new e-mail
    address, or (rarely) the deletion of a customer without orders at their request (module
    docstring)."""
    at = now.astimezone(dt.UTC).replace(tzinfo=None)
    pick = rng.random()
    if pick < PRICE_CHANGE_SHARE:
        product = rng.choice(shop.products)
        factor = 1 + rng.choice((-1, 1)) * rng.uniform(0.05, 0.15)
        price = max(10, round(product.price * factor / 10) * 10)
        products = tuple(Product(p.sku, price) if p == product else p for p in shop.products)
        change = Change(PRODUCTS, product.sku, at, {"price": price})
        return change, replace(shop, products=products)
    if pick < PRICE_CHANGE_SHARE + TAX_CHANGE_SHARE:
        store = rng.choice(shop.stores)
        step = rng.choice((-0.005, 0.005))
        rate = round(min(MAX_TAX_RATE, max(0.0, store.tax_rate + step)), 4)
        stores = tuple(Store(s.id, rate) if s == store else s for s in shop.stores)
        return Change(STORES, store.id, at, {"tax_rate": rate}), replace(shop, stores=stores)
    if pick < PRICE_CHANGE_SHARE + TAX_CHANGE_SHARE + SUPPLY_COST_SHARE and shop.supplies:
        supply = rng.choice(shop.supplies)
        factor = 1 + rng.choice((-1, 1)) * rng.uniform(0.05, 0.25)
        cost = max(1, round(supply.cost * factor))
        supplies = tuple(Supply(s.id, cost) if s == supply else s for s in shop.supplies)
        change = Change(SUPPLIES, (supply.id,), at, {"cost": cost})
        return change, replace(shop, supplies=supplies)
    # A version number from the time: a later change gets later details.
    version = int(at.timestamp())
    if pick >= 1 - DELETION_SHARE and shop.without_orders:
        gone = rng.choice(shop.without_orders)
        after = replace(
            shop,
            customers=tuple(c for c in shop.customers if c != gone),
            without_orders=tuple(c for c in shop.without_orders if c != gone),
        )
        return CustomerChange(gone, "delete", at), after
    kind = "move" if rng.random() < 0.6 else "email"
    return CustomerChange(rng.choice(shop.customers), kind, at, version), shop


def apply_any_change(resources, change: Change | CustomerChange) -> str:
    """Write ``change`` to its source; what it did, in a few words."""
    if isinstance(change, CustomerChange):
        apply_customer_change(resources["shop_db"], change)
        return f"customer {change.customer_id}: {change.kind} (updated_at {change.at})"
    path = apply_change(resources["lake"], change)
    values = ", ".join(f"{k} {v}" for k, v in change.set.items())
    key = change.key if isinstance(change.key, str) else " ".join(change.key)
    return f"{path}: {change.dataset.name} {key}: {values} (updated_at {change.at})"


def burst(
    resources, n_events: int, options: Options, say: Callable[[str], None] = print
) -> Counter:
    """Publish about ``n_events`` events (whole visits, at least ``n_events``) as fast as
    possible, in publications of up to 10,000 messages, with their orders; return the totals."""
    rng = random.Random(options.seed)
    now = dt.datetime.now(dt.UTC)
    shop = load_shop(resources, now)
    totals: Counter = Counter()
    started = time.monotonic()
    while totals["messages"] < n_events:
        batch = Batch()
        while len(batch.events) < min(10_000, n_events - totals["messages"]):
            part = simulate_visits(50, dt.datetime.now(dt.UTC), rng, shop, options.faults)
            batch.events += part.events
            batch.orders += part.orders
            batch.items += part.items
            batch.counts += part.counts
        write_batch(batch, resources)
        totals += batch.counts
        totals["messages"] += len(batch.events)
        totals["orders"] += len(batch.orders)
    seconds = time.monotonic() - started
    say(f"{_status(totals, started)}; {totals['messages'] / max(seconds, 1e-9):,.0f} messages/s")
    return totals
