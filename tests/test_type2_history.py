"""Type 2 history and point in time, against an independent computation from a change log.

A copy of the session's state folder after its full run (every product and store once,
valid from the beginning), then a sequence of changes to the landing files, each followed by
a run of the platform's ``all_assets_job`` (in-process, on the state folder's own instance)
over the reference ingests and the models between them and ``fct_orders``:

1. a price change on 2018-09-15, a tax-rate change on 2018-09-20, a supply's cost change on
   2018-09-17 (in every product using it), a new product, a customer moving and another
   changing e-mail address; then a backfill of 2018-09-10..2018-10-15: the price and cost
   changes fall inside the backfilled range;
2. later changes (the price again on 2018-10-01, the tax rate on 2018-10-05, the supply's
   cost again, a supply taken out of one product, the new product deleted, the customer
   moving again, a customer deleted at their request); then a re-run
   of the old partition 2018-09-16 alone: its figures stay those of its day, and the
   customers' load reads only the rows changed since the previous one;
3. the days after the later changes, re-run, reading every customer (the full reload): their
   figures follow them; nothing unchanged is a new version.

After each step the history dimensions and the facts the run built are compared with what
plain Python derives from the change log this test applied and the seeded CSVs (no SQL, no
reading of the models' own logic): every version's interval, the current rows, each order's
gross margin (its items' prices of that moment less the supply costs of that moment) and tax
rate, and
``raw.customers`` against the shop's table.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import AssetKey, AssetSelection, DagsterInstance

from data_platform.automation.declarative import BATCH_MODELS
from data_platform.core.partitions import partition_range_tags
from data_platform.core.pseudonyms import pseudonym
from data_platform.core.settings import HOME, Settings
from data_platform.sources.landing.changes import Change, apply_change
from data_platform.sources.landing.datasets import PRODUCTS, STORES, SUPPLIES
from data_platform.sources.shop_db.changes import CustomerChange, apply_customer_change
from data_platform.sources.shop_db.people import contact_details
from data_platform.sources.shop_db.tables import customers
from tests import in_process
from tests.conftest import SETTINGS
from tests.oracle import dollars, read_csvs

T = dt.datetime
BEGINNING = T(1900, 1, 1)
FCT_ORDERS = AssetKey(["marts", "fct_orders"])
CUSTOMERS = AssetKey(["raw", "customers"])
REFERENCE = (
    AssetKey(["raw", "products"]),
    AssetKey(["raw", "stores"]),
    AssetKey(["raw", "supplies"]),
)
VERSIONED = (*REFERENCE, CUSTOMERS)
CURRENT = [
    AssetKey(["staging", f"stg_{name}"]) for name in ("customers", "products", "stores", "supplies")
]
# The as-is dimension the products' history is compared with.
DIM_PRODUCTS = AssetKey(["marts", "dim_products"])
HISTORY_DIMS = [
    AssetKey(["marts", f"dim_{name}_history"]) for name in ("customers", "products", "stores")
]
NEW_SKU = "JAF-900"


class History:
    """The copied platform, the change log applied to it, and what Python expects of it."""

    def __init__(self, home: Path, csv_dir: Path):
        self.platform = in_process.Platform(Settings.from_environ({HOME: str(home)}))
        self.platform.instance = DagsterInstance.from_config(
            str(self.platform.settings.dagster_home)
        )
        self.raw = read_csvs(csv_dir)
        self.log: list[Change] = []
        self.deleted_between: dict[str, tuple[T, T]] = {}
        graph = self.platform.defs.resolve_asset_graph()
        # The versioned ingests and the batch models between them and the history dimensions
        # and fct_orders, with the current staging views the history tests compare with (the
        # other raw assets and marts hold still).
        self.selection = sorted(
            (
                AssetSelection.assets(*VERSIONED).downstream()
                & AssetSelection.assets(
                    FCT_ORDERS, DIM_PRODUCTS, *HISTORY_DIMS, *CURRENT
                ).upstream()
                & (BATCH_MODELS | AssetSelection.assets(*VERSIONED))
            ).resolve(graph)
        )

    def change(self, *changes: Change | CustomerChange) -> None:
        for change in changes:
            if isinstance(change, CustomerChange):
                apply_customer_change(self.platform.shop_db, change)
            else:
                apply_change(self.platform.lake, change)
            self.log.append(change)

    def run(self, first: str, last: str, full_reload: bool = False) -> None:
        """``all_assets_job`` over the reference ingests and the models down to fct_orders,
        for the days ``first..last``; the deletions it finds are dated within the run."""
        started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        job = self.platform.defs.resolve_job_def("all_assets_job")
        tags = partition_range_tags(first, last) if first != last else None
        result = job.execute_in_process(
            instance=self.platform.instance,
            asset_selection=self.selection,
            partition_key=first if first == last else None,
            tags=tags,
            run_config={"ops": {"raw__customers": {"config": {"full_reload": full_reload}}}},
            raise_on_error=False,
        )
        assert result.success, [e.message for e in result.all_events if e.is_failure][:3]
        failed = [
            (c.asset_key, c.check_name)
            for c in result.get_asset_check_evaluations()
            if not c.passed
        ]
        assert failed == []
        ended = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for change in self.log:
            key = change.customer_id if isinstance(change, CustomerChange) else change.key
            deleted = (
                change.kind == "delete" if isinstance(change, CustomerChange) else change.delete
            )
            if deleted and key not in self.deleted_between:
                self.deleted_between[key] = (started, ended)

    def query(self, sql: str) -> list[dict]:
        return self.platform.warehouse.query(sql)

    # -- what the change log says, in plain Python --------------------------------------

    def versions(self, dataset, base: list[dict], key: str) -> dict[str, list[dict]]:
        """Each key's versions: the seeded row, valid from the beginning, then each change of
        the log in order; a deleted key's last version ends with ``deleted=True``."""
        out: dict[str, list[dict]] = {row[key]: [dict(row, _from=BEGINNING)] for row in base}
        for change in (c for c in self.log if getattr(c, "dataset", None) is dataset):
            versions = out.setdefault(change.key, [])
            if change.delete:
                versions[-1]["_deleted"] = True
                continue
            latest = dict(versions[-1]) if versions else {}
            latest.pop("_deleted", None)
            first = not versions
            versions.append({**latest, **change.set, "_from": BEGINNING if first else change.at})
        return out

    def supply_versions(self) -> dict[tuple, list[dict]]:
        """Each (supply, sku)'s versions: the seeded row, then each change of the log that
        names it, by its whole key or by its supply id alone (every product using it)."""
        out: dict[tuple, list[dict]] = {
            (row["id"], row["sku"]): [dict(row, _from=BEGINNING)]
            for row in self.raw["raw_supplies"]
        }
        for change in (c for c in self.log if getattr(c, "dataset", None) is SUPPLIES):
            for key, versions in out.items():
                if key[: len(change.key)] != tuple(change.key):
                    continue
                if change.delete:
                    versions[-1]["_deleted"] = True
                    continue
                versions.append({**versions[-1], **change.set, "_from": change.at})
        return out

    def supply_cents_at(self, sku: str, at: T) -> int:
        """The product's supply cost at ``at``: its supplies' costs valid then. A supply taken
        out of the product counts until the load that found it gone (the source does not say
        when), which is after every order of these tests."""
        return sum(
            int(self.value_at(versions, "cost", at))
            for (_, s), versions in self.supply_versions().items()
            if s == sku
        )

    def expected_supplies_history(self) -> dict[tuple, dict]:
        return intervals(
            {f"{i}/{s}": v for (i, s), v in self.supply_versions().items()},
            lambda v: {"supply_cost": dollars(int(v["cost"]))},
        )

    def assert_supplies_history(self) -> None:
        rows = self.query(
            "select *, supply_id || '/' || sku as k from staging.int_supplies_history"
        )
        got = {(r["k"], r["valid_from"]): r for r in rows}
        expected = self.expected_supplies_history()
        assert set(got) == set(expected)
        for at, want in expected.items():
            if want["is_deleted"]:
                want = {**want, "valid_to": got[at]["valid_to"]}
                started, ended = self.deleted_between[tuple(at[0].split("/"))]
                assert started <= got[at]["valid_to"] <= ended
            assert {k: got[at][k] for k in want} == want, at

    def value_at(self, versions: list[dict], column: str, at: T):
        valid = [v for v in versions if v["_from"] <= at]
        return valid[-1][column] if valid else None

    def expected_products_history(self) -> dict[tuple, dict]:
        versions = self.versions(PRODUCTS, self.raw["raw_products"], "sku")
        return intervals(
            versions, lambda v: {"price": dollars(int(v["price"])), "product_name": v["name"]}
        )

    def expected_orders(self, first: dt.date, last: dt.date) -> dict[str, dict]:
        products = self.versions(PRODUCTS, self.raw["raw_products"], "sku")
        stores = self.versions(STORES, self.raw["raw_stores"], "id")
        items = defaultdict(list)
        for item in self.raw["raw_items"]:
            items[item["order_id"]].append(item["sku"])
        out = {}
        for order in self.raw["raw_orders"]:
            at = order["ordered_at"]
            if not first <= at.date() <= last:
                continue
            margin = sum(
                int(self.value_at(products[sku], "price", at)) - self.supply_cents_at(sku, at)
                for sku in items[order["id"]]
            )
            rate = self.value_at(stores[order["store_id"]], "tax_rate", at)
            out[order["id"]] = {"gross_margin": dollars(margin), "tax_rate": Decimal(str(rate))}
        return out

    # -- comparisons ------------------------------------------------------------------

    def assert_history(self, mart: str, key: str, expected: dict[tuple, dict]) -> list[dict]:
        """The history mart's rows are ``expected`` (by key and valid_from); its rows."""
        rows = self.query(f"select * from marts.{mart}")
        got = {(r[key], r["valid_from"]): r for r in rows}
        assert set(got) == set(expected)
        for at, want in expected.items():
            row = got[at]
            if want["is_deleted"]:
                # The source does not say when a row went: the load that found it gone.
                started, ended = self.deleted_between[at[0]]
                assert started <= row["valid_to"] <= ended, (at, row["valid_to"])
                want = {**want, "valid_to": row["valid_to"]}
            assert {k: row[k] for k in want} == want, at
        return rows

    def assert_products_history(self) -> None:
        rows = self.assert_history("dim_products_history", "sku", self.expected_products_history())
        # As-is: the current rows are dim_products, attribute for attribute.
        current = {r["sku"]: r["price"] for r in rows if r["is_current"]}
        dim = {r["sku"]: r["price"] for r in self.query("select * from marts.dim_products")}
        assert current == dim

    def assert_stores_history(self) -> None:
        got = self.query("select * from marts.dim_stores_history order by store_id, valid_from")
        stores = self.versions(STORES, self.raw["raw_stores"], "id")
        expected = [
            (sid, v["_from"], Decimal(str(v["tax_rate"])), i == len(vs) - 1)
            for sid, vs in sorted(stores.items())
            for i, v in enumerate(vs)
        ]
        assert [(r["store_id"], r["valid_from"], r["tax_rate"], r["is_current"]) for r in got] == (
            expected
        )
        by_store = defaultdict(list)
        for r in got:
            by_store[r["store_id"]].append(r)
        for rows in by_store.values():  # no overlap, no gap: each ends where the next begins
            assert [r["valid_to"] for r in rows[:-1]] == [r["valid_from"] for r in rows[1:]]
            assert rows[-1]["valid_to"] is None

    def expected_customers_history(self) -> dict[tuple, dict]:
        """From the seeded customers (contact details of version 0) and the log's changes."""
        versions = {
            c["id"]: [{**contact_details(c["id"], c["name"]), "_from": BEGINNING}]
            for c in self.raw["raw_customers"]
        }
        names = {c["id"]: c["name"] for c in self.raw["raw_customers"]}
        for change in (c for c in self.log if isinstance(c, CustomerChange)):
            history = versions[change.customer_id]
            if change.kind == "delete":
                history[-1]["_deleted"] = True
                continue
            details = contact_details(change.customer_id, names[change.customer_id], change.version)
            moved = {"city": details["city"], "postcode": details["postcode"]}
            history.append({**history[-1], **(moved if change.kind == "move" else {}),
                            "_from": change.at})  # fmt: skip
        return intervals(
            versions, lambda v: {"city": v["city"], "postcode_area": v["postcode"][:3]}
        )

    def assert_customers(self) -> None:
        # The mart holds the keyed pseudonym of each id, under the state folder's secret.
        secret = self.platform.settings.pseudonym_secret()
        expected = {
            (pseudonym(secret, cid), at): row
            for (cid, at), row in self.expected_customers_history().items()
        }
        self.deleted_between.update(
            {
                pseudonym(secret, k): v
                for k, v in list(self.deleted_between.items())
                if isinstance(k, str)  # a supply's key is a tuple: not a customer
            }
        )
        self.assert_history("dim_customers_history", "customer_key", expected)
        # raw.customers is the shop's table as it is now, row for row, after loads of changes.
        with self.platform.shop_db.engine().connect() as conn:
            shop = [dict(r._mapping) for r in conn.execute(sa.select(customers))]
        raw = self.query("select * from raw.customers")
        assert sorted(raw, key=lambda r: r["id"]) == sorted(shop, key=lambda r: r["id"])

    def rows_extracted(self) -> int:
        event = self.platform.instance.get_latest_materialization_event(CUSTOMERS)
        return event.asset_materialization.metadata["rows_extracted"].value

    def assert_orders(self, first: dt.date, last: dt.date) -> None:
        expected = self.expected_orders(first, last)
        got = {
            r["order_id"]: {"gross_margin": r["gross_margin"], "tax_rate": r["tax_rate"]}
            for r in self.query(
                "select order_id, gross_margin, tax_rate from marts.fct_orders "
                f"where order_date between date '{first}' and date '{last}'"
            )
        }
        assert len(got) == len(expected) > 0
        wrong = [(k, expected[k], got[k]) for k in expected if got[k] != expected[k]]
        assert wrong == [], wrong[:5]


def intervals(versions: dict[str, list[dict]], attributes) -> dict[tuple, dict]:
    """``{(key, valid_from): row}`` of the versions by key (each with ``_from``, and
    ``_deleted`` on a deleted key's last): ``attributes(version)`` and the interval columns.
    A deleted key's last ``valid_to`` is the load's, checked apart."""
    rows = {}
    for key, history in versions.items():
        for i, version in enumerate(history):
            last = i == len(history) - 1
            deleted = version.get("_deleted", False)
            rows[(key, version["_from"])] = {
                **attributes(version),
                "valid_to": None if last else history[i + 1]["_from"],
                "is_current": last and not deleted,
                "is_deleted": deleted,
            }
    return rows


@pytest.fixture(scope="module")
def history(tmp_path_factory, full_run, seeded) -> History:
    """A copy of the session's state folder after its full run (warehouse, lake, instance)."""
    assert full_run.returncode == 0, full_run.stdout[-3000:]
    home = tmp_path_factory.mktemp("type2") / "home"
    shutil.copytree(SETTINGS.home, home, ignore=shutil.ignore_patterns("logs", "*.lock"))
    return History(home, seeded)


D = dt.date


def test_history_and_point_in_time_follow_the_change_log(history):
    stores = history.raw["raw_stores"]
    busiest = max(
        {s["id"] for s in stores},
        key=lambda sid: sum(o["store_id"] == sid for o in history.raw["raw_orders"]),
    )
    sku = "JAF-001"
    ordering = {o["customer"] for o in history.raw["raw_orders"]}
    tweeting = {t["user_id"] for t in history.raw["raw_tweets"]}
    ids = sorted(c["id"] for c in history.raw["raw_customers"])
    mover, writer = sorted(ordering)[:2]
    # Deleted at their request: a customer without orders or tweets (the erasure of one with
    # orders is another story: their orders stay).
    leaver = next(c for c in ids if c not in ordering | tweeting)
    # The full run saw every seeded row once: one version each, valid from the beginning.
    history.assert_products_history()
    history.assert_stores_history()
    history.assert_supplies_history()
    history.assert_customers()
    supply = "SUP-001"  # in every jaffle
    costs = {s["cost"] for s in history.raw["raw_supplies"] if s["id"] == supply}
    assert len(costs) == 1 and sum(s["id"] == supply for s in history.raw["raw_supplies"]) > 1
    cost = costs.pop()
    # Another supply, taken out of one product later.
    taken_out = next((s["id"], s["sku"]) for s in history.raw["raw_supplies"] if s["id"] != supply)

    # 1. Changes, then a backfill whose range holds the price change.
    history.change(
        Change(
            PRODUCTS,
            NEW_SKU,
            T(2018, 9, 12, 8),
            {"name": "the history jaffle", "type": "jaffle", "price": 1500, "description": None},
        ),
        Change(PRODUCTS, sku, T(2018, 9, 15, 12), {"price": 1250}),
        Change(STORES, busiest, T(2018, 9, 20), {"tax_rate": 0.065}),
        Change(SUPPLIES, (supply,), T(2018, 9, 17, 7, 45), {"cost": cost + 3}),
        CustomerChange(mover, "move", T(2018, 9, 14, 10), 1),
        CustomerChange(writer, "email", T(2018, 9, 18, 16), 1),
    )
    history.run("2018-09-10", "2018-10-15")
    history.assert_products_history()
    history.assert_stores_history()
    history.assert_supplies_history()
    history.assert_customers()
    history.assert_orders(D(2018, 9, 1), D(2018, 10, 15))  # before 09-10: no change yet
    before_rerun = history.query("select * from marts.fct_orders order by order_id")

    # 2. Later changes, then the old day 2018-09-16 alone: the prices and rate of its day.
    history.change(
        Change(PRODUCTS, sku, T(2018, 10, 1), {"price": 990}),
        Change(STORES, busiest, T(2018, 10, 5, 9, 30), {"tax_rate": 0.07}),
        Change(PRODUCTS, NEW_SKU, T(2018, 10, 6), delete=True),
        Change(SUPPLIES, (supply,), T(2018, 10, 4), {"cost": cost - 2}),
        Change(SUPPLIES, taken_out, T(2018, 10, 4), delete=True),
        CustomerChange(mover, "move", T(2018, 10, 2), 2),
        CustomerChange(leaver, "delete", T(2018, 10, 3)),
    )
    history.run("2018-09-16", "2018-09-16")
    # Change capture: the rows changed since the latest updated_at loaded (the e-mail change
    # of 09-18, read again at the watermark, and no new version; the move of 10-02).
    assert history.rows_extracted() == 2
    history.assert_products_history()
    history.assert_stores_history()
    history.assert_supplies_history()
    history.assert_customers()
    history.assert_orders(D(2018, 9, 16), D(2018, 9, 16))
    # The re-run changed nothing of its day (the later changes are later) nor of others.
    assert history.query("select * from marts.fct_orders order by order_id") == before_rerun

    # 3. The days after the later changes, again, reading every customer (full reload): they
    # follow them. Nothing new was seen, so no version is added.
    count = (
        "select (select count(*) from raw.products_versions) as p, "
        "(select count(*) from raw.customers_versions) as c"
    )
    versions = history.query(count)
    history.run("2018-09-25", "2018-10-15", full_reload=True)
    assert history.query(count) == versions
    assert history.rows_extracted() == len(ids) - 1
    history.assert_customers()
    history.assert_orders(D(2018, 9, 1), D(2018, 10, 15))
    # raw.products is the current state; raw.products_versions every version it saw.
    kinds = history.query(
        "select _change as c, count(*) as n from raw.products_versions group by 1"
    )
    seeded = len(history.raw["raw_products"])
    assert {r["c"]: r["n"] for r in kinds} == {"created": seeded + 1, "changed": 2, "deleted": 1}
    # A supply's cost change is a version in every product using it.
    uses = sum(s["id"] == supply for s in history.raw["raw_supplies"])
    kinds = history.query(
        "select _change as c, count(*) as n from raw.supplies_versions group by 1"
    )
    rows = len(history.raw["raw_supplies"])
    assert {r["c"]: r["n"] for r in kinds} == {"created": rows, "changed": 2 * uses, "deleted": 1}
    live = {r["sku"] for r in history.query("select sku from raw.products")}
    assert NEW_SKU not in live and len(live) == seeded
