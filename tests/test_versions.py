"""Change capture's pure parts: which rows of a load are new versions, and the landing
files' edits the simulator and the history tests make."""

from __future__ import annotations

import datetime as dt

import pytest

from data_platform.loading.versions import Latest, keys_of, version_changes, versions_schema
from data_platform.sources.landing.changes import Change, edit_csv
from data_platform.sources.landing.datasets import PRODUCTS, STORES, SUPPLIES

T = dt.datetime
LOADED = dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC)


def product(sku: str, price: int, at: T) -> dict:
    return {"sku": sku, "name": sku, "type": "jaffle", "price": price, "description": None,
            "updated_at": at}  # fmt: skip


def rows(*products: dict):
    import pyarrow as pa

    return pa.Table.from_pylist(list(products), PRODUCTS.source_schema)


def test_a_version_is_a_new_key_or_a_new_updated_at_and_a_missing_key_a_deletion():
    day = T(2018, 9, 1)
    latest = {
        ("A",): Latest(day, False),  # unchanged
        ("B",): Latest(day, False),  # a new updated_at
        ("C",): Latest(day, False),  # gone from the file
        ("D",): Latest(day, True),  # deleted before, back now
        ("Q",): Latest(day, False),  # its row is in quarantine: not deleted
    }
    load = rows(
        product("A", 100, day), product("B", 120, T(2018, 9, 5)), product("D", 90, day),
        product("E", 80, T(2018, 9, 6)),
    )  # fmt: skip
    previous = {("A",): {**product("A", 105, day)}}  # A's price edited without its updated_at
    live = {(k,) for k in "ABDEQ"}
    changes = version_changes(PRODUCTS, load, live, latest, previous, LOADED, "run-1")
    got = {(r["sku"], r["_change"]) for r in changes.rows.to_pylist()}
    assert got == {("B", "changed"), ("C", "deleted"), ("D", "created"), ("E", "created")}
    assert changes.rows.schema == versions_schema(PRODUCTS)
    assert (changes.created, changes.changed, changes.deleted) == (2, 1, 1)
    assert changes.changed_without_updated_at == 1
    deletion = next(r for r in changes.rows.to_pylist() if r["_change"] == "deleted")
    assert deletion["price"] is None and deletion["updated_at"] is None
    assert {r["_loaded_at"] for r in changes.rows.to_pylist()} == {T(2026, 12, 3, 6)}
    assert {r["_load_id"] for r in changes.rows.to_pylist()} == {"run-1"}


def test_the_first_load_creates_every_key():
    load = rows(product("A", 100, T(2018, 9, 1)))
    changes = version_changes(PRODUCTS, load, {("A",)}, {}, None, LOADED, "run-0")
    assert [r["_change"] for r in changes.rows.to_pylist()] == ["created"]


def supply(id_: str, sku: str, cost: int, at: T) -> dict:
    return {"id": id_, "name": id_, "cost": cost, "perishable": False, "sku": sku,
            "updated_at": at}  # fmt: skip


def test_a_key_of_several_columns_is_one_key():
    import pyarrow as pa

    day, later = T(2018, 9, 1), T(2018, 9, 9)
    load = pa.Table.from_pylist(
        [supply("S1", "A", 7, later), supply("S1", "B", 7, day), supply("S2", "A", 4, day)],
        SUPPLIES.source_schema,
    )
    assert keys_of(load, SUPPLIES) == {("S1", "A"), ("S1", "B"), ("S2", "A")}
    latest = {k: Latest(day, False) for k in (("S1", "A"), ("S1", "B"), ("S2", "B"))}
    changes = version_changes(SUPPLIES, load, keys_of(load, SUPPLIES), latest, None, LOADED, "r")
    got = {(r["id"], r["sku"], r["_change"]) for r in changes.rows.to_pylist()}
    # S1 in A changed, S2 is new in A and gone from B; S1 in B unchanged.
    assert got == {("S1", "A", "changed"), ("S2", "A", "created"), ("S2", "B", "deleted")}


STORES_CSV = (
    b"id,name,opened_at,tax_rate,updated_at\r\n"
    b"s1,Philadelphia,2018-09-01T00:00:00,0.06,2018-09-01 00:00:00\r\n"
    b"s2,Brooklyn,2019-03-12T00:00:00,0.04,2018-09-01 00:00:00\r\n"
)


def test_edit_csv_changes_adds_and_removes_rows_keeping_the_rest():
    at = T(2018, 9, 20)
    edited = edit_csv(STORES_CSV, Change(STORES, "s1", at, {"tax_rate": 0.065}))
    assert edited == STORES_CSV.replace(
        b"0.06,2018-09-01 00:00:00\r\ns2", b"0.065,2018-09-20 00:00:00\r\ns2"
    )
    removed = edit_csv(edited, Change(STORES, "s2", at, delete=True))
    assert removed.count(b"\r\n") == 2 and b"s2" not in removed
    added = edit_csv(removed, Change(STORES, "s3", at, {"name": "Chicago", "tax_rate": 0.05}))
    assert added.endswith(b"s3,Chicago,,0.05,2018-09-20 00:00:00\r\n")
    with pytest.raises(KeyError):
        edit_csv(STORES_CSV, Change(STORES, "s9", at, delete=True))
    with pytest.raises(ValueError, match="no column colour"):
        edit_csv(STORES_CSV, Change(STORES, "s1", at, {"colour": "red"}))


SUPPLIES_CSV = (
    b"id,name,cost,perishable,sku,updated_at\n"
    b"S1,knife,7,False,A,2018-09-01 00:00:00\n"
    b"S1,knife,7,False,B,2018-09-01 00:00:00\n"
    b"S2,napkin,4,False,A,2018-09-01 00:00:00\n"
)


def test_a_supply_changes_in_every_product_using_it():
    at = T(2018, 9, 20)
    edited = edit_csv(SUPPLIES_CSV, Change(SUPPLIES, ("S1",), at, {"cost": 8}))
    assert edited.decode().splitlines()[1:] == [
        "S1,knife,8,False,A,2018-09-20 00:00:00",
        "S1,knife,8,False,B,2018-09-20 00:00:00",
        "S2,napkin,4,False,A,2018-09-01 00:00:00",
    ]
    one = edit_csv(SUPPLIES_CSV, Change(SUPPLIES, ("S2", "A"), at, delete=True))
    assert b"S2" not in one and one.count(b"\n") == 3
    added = edit_csv(SUPPLIES_CSV, Change(SUPPLIES, ("S2", "B"), at, {"name": "napkin",
                                                                       "cost": 4}))  # fmt: skip
    assert added.endswith(b"S2,napkin,4,,B,2018-09-20 00:00:00\n")
    with pytest.raises(KeyError):  # a row is added by its whole key only
        edit_csv(SUPPLIES_CSV, Change(SUPPLIES, ("S9",), at, {"cost": 1}))


def test_the_simulator_changes_prices_tax_rates_and_customers():
    import random

    from data_platform.simulate import Product, Shop, Store, Supply, make_change
    from data_platform.sources.shop_db.changes import CustomerChange

    shop = Shop(
        ("c1", "c2"), (Store("s1", 0.06),), (Product("JAF-001", 1100),), ("c2",),
        (Supply("SUP-001", 40),),
    )  # fmt: skip
    now = dt.datetime(2026, 12, 3, 6, 30, tzinfo=dt.UTC)
    made = [make_change(random.Random(seed), shop, now) for seed in range(200)]
    assert made == [make_change(random.Random(seed), shop, now) for seed in range(200)]
    kinds = set()
    for change, after in made:
        if isinstance(change, CustomerChange):
            kinds.add(change.kind)
            assert change.at == T(2026, 12, 3, 6, 30)
            if change.kind == "delete":  # only a customer without orders, gone from the shop
                assert change.customer_id == "c2" and after.customers == ("c1",)
            continue
        kinds.add(change.dataset.name)
        assert change.at == T(2026, 12, 3, 6, 30)
        if change.dataset is PRODUCTS:
            price = change.set["price"]
            assert price % 10 == 0 and 1100 * 0.85 - 10 <= price <= 1100 * 1.15 + 10
            assert after.products == (Product("JAF-001", price),)
        elif change.dataset is SUPPLIES:
            cost = change.set["cost"]
            assert change.key == ("SUP-001",) and 30 <= cost <= 50 and cost != 40
            assert after.supplies == (Supply("SUP-001", cost),)
        else:
            assert change.set["tax_rate"] in (0.055, 0.065)
            assert after.stores == (Store("s1", change.set["tax_rate"]),)
    assert kinds == {"products", "stores", "supplies", "move", "email", "delete"}
