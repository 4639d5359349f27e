"""Independent oracle for the stream marts.

Recomputes ``fct_store_activity_5min``, ``fct_daily_conversion`` and ``store_sales_live``
from rows of ``raw.web_events`` (dicts of the contract's columns: event_type, event_time as a
naive UTC datetime, order_total in integer cents, _loaded_at ...) and the shop's orders, in
plain Python: loops, sets and dictionaries, money in integer cents until it becomes an exact
``Decimal``, no SQL and no engine, so a mistake of the models' SQL (a window cut on the wrong
boundary, a session counted twice, a late event whose window is not restated) cannot be
shared by the oracle. Usable with the events a test published (the lead's end-to-end tests).

Conventions of the returned rows: as :mod:`tests.oracle` (money ``Decimal`` with two places,
dates ``datetime.date``, timestamps naive ``datetime.datetime``, counts ``int``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal

from tests.oracle import dollars

WINDOW = dt.timedelta(minutes=5)
KEYS = {
    "fct_store_activity_5min": ("store_id", "window_start"),
    "fct_daily_conversion": ("store_id", "event_date"),
    "store_sales_live": ("order_date", "store_id"),
}


def window_of(moment: dt.datetime) -> dt.datetime:
    """The start of the 5-minute window holding ``moment`` (naive UTC)."""
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def activity_5min(events: Iterable[Mapping]) -> list[dict]:
    """``fct_store_activity_5min``: one row per store and 5-minute window with an event."""
    windows: dict[tuple, dict] = {}
    for e in events:
        start = window_of(e["event_time"])
        w = windows.setdefault(
            (e["store_id"], start),
            {"sessions": set(), "counts": defaultdict(int), "cents": 0, "n": 0, "loaded": None},
        )
        kind = e["event_type"]
        w["counts"][kind] += 1
        w["n"] += 1
        if kind == "session_started":
            w["sessions"].add(e["session_id"])
        if kind == "checkout_completed":
            w["cents"] += e["order_total"]
        w["loaded"] = max(w["loaded"] or e["_loaded_at"], e["_loaded_at"])
    return [
        {
            "store_id": store,
            "window_start": start,
            "window_end": start + WINDOW,
            "window_date": start.date(),
            "sessions": len(w["sessions"]),
            "page_views": w["counts"]["page_viewed"],
            "product_views": w["counts"]["product_viewed"],
            "carts": w["counts"]["added_to_cart"],
            "checkouts": w["counts"]["checkout_completed"],
            "revenue_cents": w["cents"],
            "revenue": dollars(w["cents"]),
            "event_count": w["n"],
            "last_loaded_at": w["loaded"],
        }
        for (store, start), w in windows.items()
    ]


def _rate(part: int, whole: int) -> Decimal | None:
    """part / whole rounded half up at four places, exactly; None when whole is 0."""
    if whole == 0:
        return None
    return Decimal((2 * part * 10_000 + whole) // (2 * whole)).scaleb(-4)


def daily_conversion(events: Iterable[Mapping], orders: Iterable[Mapping]) -> list[dict]:
    """``fct_daily_conversion``: one row per store and UTC day with an event. ``orders`` are
    the shop's orders as raw.orders holds them (``id``, ``ordered_at``)."""
    events = list(events)
    orders = list(orders)
    order_ids = {o["id"] for o in orders}
    last_order_day = max((o["ordered_at"].date() for o in orders), default=None)
    started: dict[str, tuple] = {}
    steps: dict[str, set] = defaultdict(set)
    days: dict[tuple, dict] = {}
    for e in events:
        day = (e["store_id"], e["event_time"].date())
        row = days.setdefault(day, {"sessions": [], "checkouts": 0, "without": 0})
        steps[e["session_id"]].add(e["event_type"])
        if e["event_type"] == "session_started":
            started[e["session_id"]] = day
        if e["event_type"] == "checkout_completed":
            row["checkouts"] += 1
            row["without"] += e["order_id"] not in order_ids
    for session, day in started.items():
        days[day]["sessions"].append(steps[session])
    out = []
    for (store, day), row in days.items():
        sessions = row["sessions"]
        with_checkout = sum("checkout_completed" in s for s in sessions)
        loaded = last_order_day is not None and day <= last_order_day
        out.append(
            {
                "store_id": store,
                "event_date": day,
                "sessions": len(sessions),
                "sessions_with_product_view": sum("product_viewed" in s for s in sessions),
                "sessions_with_cart": sum("added_to_cart" in s for s in sessions),
                "sessions_with_checkout": with_checkout,
                "conversion_rate": _rate(with_checkout, len(sessions)),
                "checkouts": row["checkouts"],
                "orders_loaded": loaded,
                "checkouts_without_order": row["without"] if loaded else None,
            }
        )
    return out


def store_sales_live(
    events: Iterable[Mapping], orders: Iterable[Mapping], store_names: Mapping[str, str]
) -> list[dict]:
    """``store_sales_live``: the days up to the orders' last day from the orders (as the batch
    fact sums them), later days from the checkout events, one per order id (the earliest)."""
    orders = list(orders)
    last_order_day = max((o["ordered_at"].date() for o in orders), default=None)
    sales: dict[tuple, dict] = defaultdict(lambda: {"n": 0, "cents": 0})
    for o in orders:
        s = sales[(o["ordered_at"].date(), o["store_id"], "batch")]
        s["n"] += 1
        s["cents"] += o["order_total"]
    first_checkout: dict[str, Mapping] = {}
    for e in sorted(events, key=lambda e: (e["event_time"], e["event_id"])):
        if e["event_type"] == "checkout_completed":
            first_checkout.setdefault(e["order_id"], e)
    for e in first_checkout.values():
        day = e["event_time"].date()
        if last_order_day is None or day > last_order_day:
            s = sales[(day, e["store_id"], "stream")]
            s["n"] += 1
            s["cents"] += e["order_total"]
    return [
        {
            "order_date": day,
            "store_id": store,
            "store_name": store_names.get(store),
            "order_count": s["n"],
            "revenue": dollars(s["cents"]),
            "source": source,
        }
        for (day, store, source), s in sales.items()
    ]
