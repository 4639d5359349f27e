"""Independent oracle for the dbt marts.

This module recomputes every mart (dim_customers, dim_products, dim_stores,
fct_orders, fct_daily_store_sales, fct_customer_activity) straight from the
jafgen CSVs using only the Python standard library: ``csv``, ``decimal``,
``datetime`` and ``collections``.

It deliberately avoids pandas, DuckDB and SQL. The marts under test are built
by dbt SQL on DuckDB; if the oracle used the same engine or the same
join/group-by formulation, a shared mistake (a fan-out join, a wrong
COALESCE, integer division, float rounding, a time-zone cast) could
silently appear on both sides and the comparison would prove nothing.
Here the logic is plain loops and dictionaries, money is kept in integer
cents until the very end and then turned into ``Decimal`` exactly
(quantized to 0.01), so a mismatch points at the SQL.

Conventions of the returned rows: money -> ``Decimal`` with two places,
dates -> ``datetime.date``, timestamps -> naive ``datetime.datetime``,
counts -> ``int``, flags -> ``bool``, nulls -> ``None``.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

CENT = Decimal("0.01")

# column -> parser for each raw file (columns not listed stay strings)
_PARSERS = {
    "raw_customers": {},
    "raw_orders": {
        "ordered_at": datetime.fromisoformat,
        "subtotal": int,
        "tax_paid": int,
        "order_total": int,
    },
    "raw_items": {},
    "raw_products": {"price": int},
    "raw_stores": {"opened_at": datetime.fromisoformat, "tax_rate": Decimal},
    "raw_supplies": {"cost": int, "perishable": lambda s: s == "True"},
    "raw_tweets": {"tweeted_at": datetime.fromisoformat},
}


def dollars(cents: int) -> Decimal:
    """Exact conversion of integer cents to a Decimal dollar amount (0.01)."""
    return Decimal(cents).scaleb(-2).quantize(CENT)


def read_csvs(csv_dir: str | Path) -> dict[str, list[dict]]:
    """Read the seven raw_*.csv files into typed rows, keyed by file stem.

    Money stays in integer cents, timestamps become naive datetimes,
    tax_rate a Decimal of the CSV text, perishable a bool.
    """
    out = {}
    for name, parsers in _PARSERS.items():
        with open(Path(csv_dir) / f"{name}.csv", newline="", encoding="utf-8") as fh:
            out[name] = [
                {k: parsers.get(k, str)(v) for k, v in row.items()} for row in csv.DictReader(fh)
            ]
    return out


def index_by(rows: list[dict], *key_cols: str) -> dict[tuple, dict]:
    """Map ``tuple(row[c] for c in key_cols)`` -> row; raise on duplicate keys."""
    out: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[c] for c in key_cols)
        if key in out:
            raise ValueError(f"duplicate key {key!r} for columns {key_cols}")
        out[key] = row
    return out


def _round_half_up_div(cents: int, n: int) -> Decimal:
    """(cents / n) rounded half-up to a whole cent, in integer arithmetic, as dollars."""
    q = (2 * abs(cents) + n) // (2 * n)
    return dollars(q if cents >= 0 else -q)


def compute_marts(csv_dir: str | Path, pseudonym_key: bytes) -> dict[str, list[dict]]:
    """Recompute all six marts from the CSVs in ``csv_dir``; customers are pseudonymised
    with HMAC-SHA256 under ``pseudonym_key`` (the standard library's ``hmac``), and their
    contact details are those the seed made up for them (``people.contact_details``, the
    source's own data, not the marts' logic)."""
    # The seed's generator of the shop's contact details: what the source holds.
    from data_platform.sources.shop_db.people import contact_details

    def key_of(customer_id: str) -> str:
        return hmac.new(pseudonym_key, customer_id.encode(), hashlib.sha256).hexdigest()

    raw = read_csvs(csv_dir)
    orders, tweets = raw["raw_orders"], raw["raw_tweets"]

    # ---- products: supply cost per sku (every supply row for that sku)
    supply_cents: dict[str, int] = defaultdict(int)
    for s in raw["raw_supplies"]:
        supply_cents[s["sku"]] += s["cost"]
    products = {p["sku"]: p for p in raw["raw_products"]}
    dim_products = [
        {
            "sku": p["sku"],
            "product_name": p["name"],
            "product_type": p["type"],
            "price": dollars(p["price"]),
            "supply_cost": dollars(supply_cents[p["sku"]]),
            "gross_margin": dollars(p["price"] - supply_cents[p["sku"]]),
            "is_food_item": p["type"] == "jaffle",
            "is_drink_item": p["type"] == "beverage",
        }
        for p in raw["raw_products"]
    ]

    # ---- stores
    dim_stores = [
        {
            "store_id": s["id"],
            "store_name": s["name"],
            "opened_at": s["opened_at"],
            "tax_rate": s["tax_rate"],
        }
        for s in raw["raw_stores"]
    ]
    store_name = {s["id"]: s["name"] for s in raw["raw_stores"]}

    # ---- items aggregated per order (unknown skus count as items, cost 0)
    empty = {"items": 0, "food": 0, "drink": 0, "cost": 0, "margin": 0}
    per_order = defaultdict(lambda: dict(empty))
    for it in raw["raw_items"]:
        agg = per_order[it["order_id"]]
        ptype = products.get(it["sku"], {}).get("type")
        agg["items"] += 1
        agg["food"] += ptype == "jaffle"
        agg["drink"] += ptype == "beverage"
        agg["cost"] += supply_cents[it["sku"]] if it["sku"] in products else 0
        if it["sku"] in products:
            # One version per product here: its price is the price of every day.
            agg["margin"] += products[it["sku"]]["price"] - supply_cents[it["sku"]]
    tax_rate = {s["id"]: s["tax_rate"] for s in raw["raw_stores"]}

    # ---- customer order sequence: by ordered_at, then order id (string)
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for o in orders:
        by_customer[o["customer"]].append(o)
    order_number = {}
    for cust_orders in by_customer.values():
        cust_orders.sort(key=lambda o: (o["ordered_at"], o["id"]))
        for n, o in enumerate(cust_orders, start=1):
            order_number[o["id"]] = n

    fct_orders = []
    for o in orders:
        agg = per_order.get(o["id"], empty)
        fct_orders.append(
            {
                "order_id": o["id"],
                "customer_key": key_of(o["customer"]),
                "store_id": o["store_id"],
                "ordered_at": o["ordered_at"],
                "order_date": o["ordered_at"].date(),
                "subtotal": dollars(o["subtotal"]),
                "tax_paid": dollars(o["tax_paid"]),
                "order_total": dollars(o["order_total"]),
                "item_count": agg["items"],
                "food_item_count": agg["food"],
                "drink_item_count": agg["drink"],
                "supply_cost": dollars(agg["cost"]),
                "gross_margin": dollars(agg["margin"]),
                "tax_rate": tax_rate.get(o["store_id"]),
                "is_food_order": agg["food"] > 0,
                "is_drink_order": agg["drink"] > 0,
                "customer_order_number": order_number[o["id"]],
            }
        )

    # ---- daily store sales
    daily = defaultdict(lambda: {"n": 0, "custs": set(), "sub": 0, "tax": 0, "tot": 0})
    for o in orders:
        d = daily[(o["ordered_at"].date(), o["store_id"])]
        d["n"] += 1
        d["custs"].add(o["customer"])
        d["sub"] += o["subtotal"]
        d["tax"] += o["tax_paid"]
        d["tot"] += o["order_total"]
    fct_daily = [
        {
            "order_date": day,
            "store_id": sid,
            "store_name": store_name.get(sid),
            "order_count": d["n"],
            "customer_count": len(d["custs"]),
            "revenue_pretax": dollars(d["sub"]),
            "tax_collected": dollars(d["tax"]),
            "revenue": dollars(d["tot"]),
            "avg_order_value": _round_half_up_div(d["tot"], d["n"]),
        }
        for (day, sid), d in sorted(daily.items())
    ]

    # ---- customers and their activity
    tweets_by_user: dict[str, list[datetime]] = defaultdict(list)
    for t in tweets:
        tweets_by_user[t["user_id"]].append(t["tweeted_at"])
    dim_customers, fct_activity = [], []
    for c in raw["raw_customers"]:
        cid, co = c["id"], by_customer.get(c["id"], [])
        times = [o["ordered_at"] for o in co]
        contact = contact_details(cid, c["name"] or None)
        dim_customers.append(
            {
                "customer_key": key_of(cid),
                "email_domain": contact["email"].rpartition("@")[2].lower(),
                "city": contact["city"],
                "postcode_area": contact["postcode"][:3],
                "first_order_date": min(times).date() if times else None,
                "most_recent_order_date": max(times).date() if times else None,
                "lifetime_order_count": len(co),
                "lifetime_spend_pretax": dollars(sum(o["subtotal"] for o in co)),
                "lifetime_spend": dollars(sum(o["order_total"] for o in co)),
                "customer_type": "returning" if len(co) > 1 else "new",
            }
        )
        events = times + tweets_by_user.get(cid, [])
        fct_activity.append(
            {
                "customer_key": key_of(cid),
                "order_count": len(co),
                "tweet_count": len(tweets_by_user.get(cid, [])),
                "event_count": len(events),
                "active_days": len({e.date() for e in events}),
                "first_event_at": min(events) if events else None,
                "last_event_at": max(events) if events else None,
            }
        )

    return {
        "dim_customers": dim_customers,
        "dim_products": dim_products,
        "dim_stores": dim_stores,
        "fct_orders": fct_orders,
        "fct_daily_store_sales": fct_daily,
        "fct_customer_activity": fct_activity,
    }
