"""Broken input through the real raw assets, on a state folder of their own.

Each case breaks one source the way real deliveries break (a landing file, or rows of the
shop database), materializes the raw asset that reads it (real files, real DuckDB warehouse,
real Dagster run with its blocking checks) and asserts:

- the outcome the policy gives: ``load`` (tolerated), ``quarantine`` (the bad rows held back,
  the rest loaded, ``raw_contract`` fails with WARN only) or ``hold`` (the partition or table
  held back, ``raw_contract`` fails with ERROR and the step fails);
- the quarantine record names the source file (or table), the row (line or key) and the
  column, with the rule;
- the ``conservation`` check passes: rows read = rows loaded + rows quarantined;
- the data already in the warehouse is unharmed: the raw table is exactly as before, but for
  rows of the original that the case itself broke;
- the code location still loads.

Afterwards the source is repaired and the same partition re-run: the raw table is back to what
it was and the partition's quarantine is empty (a corrected re-delivery clears it).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import AssetCheckSeverity, AssetKey, Definitions

from data_platform.core.lake_layout import (
    landing_daily_path,
    landing_reference_path,
    quarantine_partition_path,
)
from data_platform.core.settings import HOME, Settings
from data_platform.definitions import build_definitions
from data_platform.headless import execute
from data_platform.sources.shop_db.tables import customers, order_items, orders
from tests import in_process
from tests.conftest import BIN
from tests.mart_compare import MART_KEYS, differences, read_mart
from tests.oracle import compute_marts

FILE_ROW_COLUMN = "file_row_column"


class Platform(in_process.Platform):
    """The module's state folder, and in-process runs of single raw assets."""

    def load(self, dataset: str, day: dt.date | None = None) -> Outcome:
        result = self.materialize([AssetKey(["raw", dataset])], day)
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        return Outcome(result.success, checks)

    def raw_rows(self, dataset: str) -> list[dict]:
        return self.warehouse.query(f"select * from raw.{dataset}")

    def quarantine(self, dataset: str, day: dt.date | None) -> list[dict]:
        where = f"where _partition_date = date '{day}'" if day else ""
        return self.warehouse.query(f"select * from quarantine.{dataset} {where}")


@dataclass
class Outcome:
    success: bool
    checks: dict


@dataclass
class Case:
    """One kind of broken input: which raw asset reads it, how to break the source, and what
    the policy must make of it."""

    name: str
    dataset: str
    outcome: str  # load | quarantine | hold
    rule: str | None  # the rule of the quarantine record expected (None: no record)
    column: str | None = None  # the column the record names
    line: Callable[[Sources], int | None] | None = None  # the line it names (files)
    key: str | None = None  # the key it names (database rows)
    changed_keys: Callable[[Sources], set[str]] = field(default=lambda s: set())
    drift: str | None = None  # a word the schema_drift check must name
    daily: bool = False


class Sources:
    """The original sources of the module, and the edits the cases make to them."""

    def __init__(self, platform: Platform):
        self.platform = platform
        lake = platform.lake
        self.originals = {
            name: lake.read_bytes(landing_reference_path(name))
            for name in ("products", "stores", "supplies")
        }
        tweet_files = [f.path for f in lake.list_files("landing/tweets")]
        sizes = {p: lake.read_bytes(p).count(b"\n") for p in tweet_files}
        busiest = max(sizes, key=sizes.get)
        self.tweet_day = dt.date.fromisoformat(busiest.rsplit("/", 1)[1].removesuffix(".jsonl"))
        self.other_day = self.tweet_day - dt.timedelta(days=1)
        for day in (self.tweet_day, self.other_day):
            self.originals[day] = lake.read_bytes(landing_daily_path("tweets", day))
        with platform.shop_db.engine().connect() as conn:
            day_counts = conn.execute(
                sa.select(sa.func.date(orders.c.ordered_at), sa.func.count()).group_by(
                    sa.func.date(orders.c.ordered_at)
                )
            ).all()
            self.order_day = dt.date.fromisoformat(str(max(day_counts, key=lambda r: r[1])[0]))
            self.an_order = (
                conn.execute(
                    sa.select(orders).where(
                        sa.func.date(orders.c.ordered_at) == str(self.order_day)
                    )
                )
                .first()
                ._asdict()
            )
        self.added_orders: list[str] = []
        self.added_items: list[str] = []
        self.added_customers: list[str] = []

    # -- landing files ------------------------------------------------------------------
    def csv_lines(self, name: str) -> list[str]:
        return self.originals[name].decode().splitlines()

    def write_csv(self, name: str, data: bytes | list[str]) -> None:
        if isinstance(data, list):
            data = ("\n".join(data) + "\n").encode()
        self.platform.lake.write_bytes(landing_reference_path(name), data)

    def tweets(self, day: dt.date | None = None) -> list[dict]:
        text = self.originals[day or self.tweet_day].decode()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def write_tweets(self, lines: list[str | bytes | dict], day: dt.date | None = None) -> None:
        encoded = [
            line
            if isinstance(line, bytes)
            else (line if isinstance(line, str) else json.dumps(line)).encode()
            for line in lines
        ]
        path = landing_daily_path("tweets", day or self.tweet_day)
        self.platform.lake.write_bytes(path, b"\n".join(encoded) + b"\n")

    def new_tweet(self, **overrides) -> dict:
        added = {"id": "t-broken-0001", "content": "a tweet added by the test"}
        return {**self.tweets()[0], **added, **overrides}

    # -- shop database ------------------------------------------------------------------
    def add_order(self, **overrides) -> None:
        row = dict(self.an_order)
        row.update(id=f"o-broken-{len(self.added_orders):04d}", **overrides)
        self.platform.shop_db.upsert(orders, [row])
        self.added_orders.append(row["id"])

    def add_item(self, **overrides) -> None:
        row = {"id": "i-broken-0001", "order_id": self.an_order["id"], "sku": "JAF-001"}
        row.update(overrides)
        self.platform.shop_db.upsert(order_items, [row])
        self.added_items.append(row["id"])

    def add_customer(self, **overrides) -> None:
        row = {"id": f"c-broken-{len(self.added_customers):04d}", "name": "Ann Example"}
        row.update(overrides)
        self.platform.shop_db.upsert(customers, [row])
        self.added_customers.append(row["id"])

    def restore(self) -> None:
        for name, data in self.originals.items():
            if isinstance(name, str):
                self.write_csv(name, data)
            else:
                self.platform.lake.write_bytes(landing_daily_path("tweets", name), data)
        with self.platform.shop_db.engine().begin() as conn:
            conn.execute(sa.delete(orders).where(orders.c.id.in_(self.added_orders)))
            conn.execute(sa.delete(order_items).where(order_items.c.id.in_(self.added_items)))
            conn.execute(sa.delete(customers).where(customers.c.id.in_(self.added_customers)))
        self.added_orders, self.added_items, self.added_customers = [], [], []


# --- the cases: how each breaks its source ---------------------------------------------------


def _products_line(s: Sources, extra: str) -> list[str]:
    # The row's updated_at (the contract requires one) is the seeded rows'.
    return [*s.csv_lines("products"), f"{extra},2018-09-01 00:00:00"]


def _supplies_plus(s: Sources, row: str) -> list[str]:
    """The supplies file with ``row`` appended; a row of id, name, cost, perishable and sku only
    is dated as the file's first row (a delivery dates every row: the versioned file's last
    column)."""
    lines = s.csv_lines("supplies")
    if row.count(",") < lines[0].count(","):
        row = f"{row},{lines[1].rsplit(',', 1)[1]}"
    return [*lines, row]


def broken_quoting(s: Sources):
    lines = s.csv_lines("products")
    lines[3] = lines[3].replace(",", ',"', 1)  # a quote opened and never closed
    s.write_csv("products", lines)


def other_delimiter(s: Sources):
    s.write_csv("stores", [line.replace(",", ";") for line in s.csv_lines("stores")])


def latin1_row(s: Sources):
    lines = _supplies_plus(s, "SUP-990,crème fraîche,50,True,JAF-001")
    s.write_csv("supplies", ("\n".join(lines) + "\n").encode("latin-1"))


def byte_order_mark(s: Sources):
    s.write_csv("products", b"\xef\xbb\xbf" + s.originals["products"])


def truncated(s: Sources):
    data = s.originals["supplies"].rstrip(b"\n")
    s.write_csv("supplies", data[: data.rfind(b",") - 2])  # cut inside the second-last value


def empty_file(s: Sources):
    s.write_csv("products", b"")


def header_only(s: Sources):
    s.write_csv("stores", [s.csv_lines("stores")[0]])


def extra_column(s: Sources):
    lines = s.csv_lines("products")
    s.write_csv("products", [lines[0] + ",allergens"] + [line + ",none" for line in lines[1:]])


def missing_column(s: Sources):
    lines = s.csv_lines("supplies")
    position = lines[0].split(",").index("perishable")
    s.write_csv(
        "supplies",
        [",".join(v for i, v in enumerate(line.split(",")) if i != position) for line in lines],
    )


def renamed_column(s: Sources):
    lines = s.csv_lines("products")
    lines[0] = lines[0].replace("price", "price_cents")
    s.write_csv("products", lines)


def wrong_type(s: Sources):
    s.write_csv("supplies", _supplies_plus(s, "SUP-991,napkins,12.5O,False,JAF-001"))


def negative_price(s: Sources):
    s.write_csv("products", _products_line(s, "JAF-990,sad jaffle,jaffle,-500,a refund"))


def unknown_product_type(s: Sources):
    s.write_csv("products", _products_line(s, "BEV-990,scone,pastry,300,not on the menu"))


def absurd_cost(s: Sources):
    s.write_csv("supplies", _supplies_plus(s, "SUP-992,golden spoon,99999999,False,JAF-001"))


def duplicate_key_in_file(s: Sources):
    first = s.csv_lines("supplies")[1].split(",")
    first[2] = str(int(first[2]) + 1)
    s.write_csv("supplies", _supplies_plus(s, ",".join(first)))


def jsonl_broken_line(s: Sources):
    s.write_tweets([*s.tweets(), '{"id": "t-cut", "user_id": "c1", "tweeted_at": '])


def jsonl_null_key(s: Sources):
    s.write_tweets([*s.tweets(), s.new_tweet(id=None)])


def jsonl_duplicate_event(s: Sources):
    s.write_tweets([*s.tweets(), s.tweets()[0]])


def jsonl_conflicting_duplicate(s: Sources):
    s.write_tweets([*s.tweets(), {**s.tweets()[0], "content": "edited"}])


def jsonl_key_from_other_day(s: Sources):
    other = s.tweets(s.other_day)[0]
    tweeted_at = f"{s.tweet_day}T12:00:00"
    s.write_tweets([*s.tweets(), {**other, "tweeted_at": tweeted_at}])


def jsonl_time_zone(s: Sources):
    s.write_tweets([*s.tweets(), s.new_tweet(tweeted_at=f"{s.tweet_day}T12:00:00+02:00")])


def jsonl_invalid_date(s: Sources):
    s.write_tweets([*s.tweets(), s.new_tweet(tweeted_at="2018-02-30T12:00:00")])


def jsonl_outside_partition(s: Sources):
    later = s.tweet_day + dt.timedelta(days=3)
    s.write_tweets([*s.tweets(), s.new_tweet(tweeted_at=f"{later}T12:00:00")])


def jsonl_long_string(s: Sources):
    s.write_tweets([*s.tweets(), s.new_tweet(content="jaffle " * 20_000)])


def jsonl_not_utf8(s: Sources):
    line = json.dumps(s.new_tweet(content="café")).encode().replace(b"caf\\u00e9", b"caf\xe9")
    s.write_tweets([*s.tweets(), line])


def jsonl_renamed_field(s: Sources):
    s.write_tweets(
        [{("created_at" if k == "tweeted_at" else k): v for k, v in t.items()} for t in s.tweets()]
    )


def jsonl_mostly_broken(s: Sources):
    tweets = s.tweets()
    half = len(tweets) // 2
    s.write_tweets([*tweets[:half], *(json.dumps(t)[:-5] for t in tweets[half:])])


def db_negative(s: Sources):
    s.add_order(subtotal=-500, tax_paid=0, order_total=-500)


def db_absurd(s: Sources):
    s.add_order(subtotal=500_000_000, tax_paid=0, order_total=500_000_000)


def db_total_mismatch(s: Sources):
    s.add_order(subtotal=1000, tax_paid=60, order_total=1100)


def db_null_customer(s: Sources):
    s.add_order(customer=None)


def db_orphan_store(s: Sources):
    s.add_order(store_id="no-such-store")


def db_orphan_product(s: Sources):
    s.add_item(sku="JAF-990")


def db_nameless_customer(s: Sources):
    # What the seed makes of an empty name field: NULL (tests/test_seed.py), not 'None'.
    s.add_customer(name=None)


def db_item_without_sku(s: Sources):
    s.add_item(sku=None)


def _appended(name: str) -> Callable[[Sources], int]:
    return lambda s: len(s.csv_lines(name)) + 1


def _appended_tweet(s: Sources) -> int:
    return len(s.tweets()) + 1


CASES = [
    Case("broken CSV quoting", "products", "hold", "unreadable_file", None, lambda s: 2),
    Case("another delimiter", "stores", "hold", "missing_column", "id", lambda s: 2, drift="id"),
    Case("latin-1 row", "supplies", "quarantine", "encoding", "name", _appended("supplies")),
    Case("byte-order mark", "products", "load", None),
    Case(
        "truncated file",
        "supplies",
        "quarantine",
        "field_count",
        "updated_at",  # the row ends inside sku: the first column it lacks
        lambda s: len(s.csv_lines("supplies")),
        changed_keys=lambda s: {"|".join(s.csv_lines("supplies")[-1].split(",")[0::4])},
    ),
    Case("empty file", "products", "hold", None, drift="sku"),
    Case("header only", "stores", "hold", None),
    Case("extra column", "products", "load", None, drift="allergens"),
    Case(
        "missing column",
        "supplies",
        "hold",
        "missing_column",
        "perishable",
        lambda s: 2,
        drift="perishable",
    ),
    Case(
        "renamed column",
        "products",
        "hold",
        "missing_column",
        "price",
        lambda s: 2,
        drift="price_cents",
    ),
    Case(
        "wrong type 12.5O", "supplies", "quarantine", "type(int64)", "cost", _appended("supplies")
    ),
    Case(
        "negative price",
        "products",
        "quarantine",
        "greater_than_or_equal_to(0)",
        "price",
        _appended("products"),
    ),
    Case(
        "unknown product type",
        "products",
        "quarantine",
        "isin(['jaffle', 'beverage'])",
        "type",
        _appended("products"),
    ),
    Case(
        "absurd amount",
        "supplies",
        "quarantine",
        "less_than_or_equal_to(100000)",
        "cost",
        _appended("supplies"),
    ),
    Case(
        "duplicate key within a file",
        "supplies",
        "quarantine",
        "multiple_fields_uniqueness",
        "id",
        _appended("supplies"),
        changed_keys=lambda s: {"|".join(s.csv_lines("supplies")[1].split(",")[0::4])},
    ),
    Case(
        "JSON Lines broken line",
        "tweets",
        "quarantine",
        "malformed_json",
        None,
        _appended_tweet,
        daily=True,
    ),
    Case("null key", "tweets", "quarantine", "not_nullable", "id", _appended_tweet, daily=True),
    Case(
        "duplicate event",
        "tweets",
        "quarantine",
        "duplicate_row",
        "id",
        _appended_tweet,
        daily=True,
    ),
    Case(
        "duplicate key with other values",
        "tweets",
        "quarantine",
        "field_uniqueness",
        "id",
        _appended_tweet,
        changed_keys=lambda s: {s.tweets()[0]["id"]},
        daily=True,
    ),
    Case(
        "duplicate key across days",
        "tweets",
        "quarantine",
        "key_in_other_partition",
        "id",
        _appended_tweet,
        daily=True,
    ),
    Case(
        "timestamp with a time zone",
        "tweets",
        "quarantine",
        "time_zone",
        "tweeted_at",
        _appended_tweet,
        daily=True,
    ),
    Case(
        "invalid date",
        "tweets",
        "quarantine",
        "type(timestamp[us])",
        "tweeted_at",
        _appended_tweet,
        daily=True,
    ),
    Case(
        "date outside the partition",
        "tweets",
        "quarantine",
        "outside_partition",
        "tweeted_at",
        _appended_tweet,
        daily=True,
    ),
    Case(
        "very long string",
        "tweets",
        "quarantine",
        "str_length(None, 2000)",
        "content",
        _appended_tweet,
        daily=True,
    ),
    Case(
        "non-UTF-8 string",
        "tweets",
        "quarantine",
        "encoding",
        "content",
        _appended_tweet,
        daily=True,
    ),
    Case(
        "renamed JSON field",
        "tweets",
        "hold",
        "missing_column",
        "tweeted_at",
        lambda s: 1,
        drift="created_at",
        daily=True,
    ),
    Case("mostly broken file", "tweets", "hold", "malformed_json", None, None, daily=True),
    Case(
        "negative amount",
        "orders",
        "quarantine",
        "greater_than_or_equal_to(0)",
        "subtotal",
        key="o-broken-0000",
        daily=True,
    ),
    Case(
        "absurd amount in the database",
        "orders",
        "quarantine",
        "less_than_or_equal_to(1000000)",
        "subtotal",
        key="o-broken-0000",
        daily=True,
    ),
    Case(
        "totals that do not add up",
        "orders",
        "quarantine",
        "order_total = subtotal + tax_paid",
        "order_total",
        key="o-broken-0000",
        daily=True,
    ),
    Case(
        "null foreign key",
        "orders",
        "quarantine",
        "not_nullable",
        "customer",
        key="o-broken-0000",
        daily=True,
    ),
    Case(
        "orphan store",
        "orders",
        "quarantine",
        "unknown_reference",
        "store_id",
        key="o-broken-0000",
        daily=True,
    ),
    Case(
        "orphan product",
        "order_items",
        "quarantine",
        "unknown_reference",
        "sku",
        key="i-broken-0001",
        daily=True,
    ),
    Case(
        "customer without a name",
        "customers",
        "quarantine",
        "not_nullable",
        "name",
        key="c-broken-0000",
    ),
    Case(
        "item without a sku",
        "order_items",
        "quarantine",
        "not_nullable",
        "sku",
        key="i-broken-0001",
        daily=True,
    ),
]
BREAKS = {
    "broken CSV quoting": broken_quoting,
    "another delimiter": other_delimiter,
    "latin-1 row": latin1_row,
    "byte-order mark": byte_order_mark,
    "truncated file": truncated,
    "empty file": empty_file,
    "header only": header_only,
    "extra column": extra_column,
    "missing column": missing_column,
    "renamed column": renamed_column,
    "wrong type 12.5O": wrong_type,
    "negative price": negative_price,
    "unknown product type": unknown_product_type,
    "absurd amount": absurd_cost,
    "duplicate key within a file": duplicate_key_in_file,
    "JSON Lines broken line": jsonl_broken_line,
    "null key": jsonl_null_key,
    "duplicate event": jsonl_duplicate_event,
    "duplicate key with other values": jsonl_conflicting_duplicate,
    "duplicate key across days": jsonl_key_from_other_day,
    "timestamp with a time zone": jsonl_time_zone,
    "invalid date": jsonl_invalid_date,
    "date outside the partition": jsonl_outside_partition,
    "very long string": jsonl_long_string,
    "non-UTF-8 string": jsonl_not_utf8,
    "renamed JSON field": jsonl_renamed_field,
    "mostly broken file": jsonl_mostly_broken,
    "negative amount": db_negative,
    "absurd amount in the database": db_absurd,
    "totals that do not add up": db_total_mismatch,
    "null foreign key": db_null_customer,
    "orphan store": db_orphan_store,
    "orphan product": db_orphan_product,
    "customer without a name": db_nameless_customer,
    "item without a sku": db_item_without_sku,
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory, small_csv_dir: Path):
    """A state folder of its own, seeded with the session's data and loaded once in full."""
    home = tmp_path_factory.mktemp("broken-input-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME, str(home))
        subprocess.run(
            [str(BIN / "data-platform"), "seed", "--from-csv", str(small_csv_dir)],
            check=True,
            capture_output=True,
        )
        platform = Platform(Settings.from_environ())
        assert execute(platform.settings, "all_assets_job", platform.instance).success
        platform.sources = Sources(platform)
        yield platform


def _day(case: Case, s: Sources) -> dt.date | None:
    if not case.daily:
        return None
    return s.order_day if case.dataset in ("orders", "order_items") else s.tweet_day


def _keys(rows: list[dict], dataset: str) -> Counter:
    key = ("id", "sku") if dataset == "supplies" else ("sku",) if dataset == "products" else ("id",)
    return Counter("|".join(str(r[k]) for k in key) for r in rows)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_input(platform: Platform, case: Case):
    s = platform.sources
    day = _day(case, s)
    before = platform.raw_rows(case.dataset)
    BREAKS[case.name](s)
    try:
        outcome = platform.load(case.dataset, day)
        contract, conservation = outcome.checks["raw_contract"], outcome.checks["conservation"]
        drift = outcome.checks["schema_drift"]

        # The outcome the policy gives.
        if case.outcome == "hold":
            assert not outcome.success
            assert not contract.passed and contract.severity == AssetCheckSeverity.ERROR
            assert "not loaded" in contract.description
        elif case.outcome == "quarantine":
            assert outcome.success, contract.description
            assert not contract.passed and contract.severity == AssetCheckSeverity.WARN
        else:
            assert outcome.success and contract.passed
        assert conservation.passed, conservation.metadata
        if case.drift:
            assert not drift.passed and case.drift in str(drift.description) + str(
                drift.metadata["sources_with_drift"].value
            )
        else:
            assert drift.passed

        # The quarantine record names the source, the row and the column.
        records = platform.quarantine(case.dataset, day)
        if case.rule:
            source = (
                f"shop_db.{case.dataset}"
                if case.key
                else landing_daily_path("tweets", day)
                if day
                else landing_reference_path(case.dataset)
            )
            row = f"line {case.line(s)}" if case.line else f"key {case.key}" if case.key else ""
            record = next(
                (
                    r
                    for r in records
                    if row in r["message"]
                    and any(
                        f["rule"] == case.rule and f["column"] == case.column
                        for f in json.loads(r["failures"])
                    )
                ),
                None,
            )
            assert record, [r["message"] for r in records][:5]
            assert record["source"] == source and record["message"].startswith(source)
            if case.column:
                assert f", column {record['column_name']}:" in record["message"]
            assert json.loads(record["original"])
        if case.outcome == "hold":
            assert all(r["rule"] for r in records)

        # The data already in the warehouse is unharmed.
        after = platform.raw_rows(case.dataset)
        expected = _keys(before, case.dataset)
        if case.outcome != "hold":
            for changed in case.changed_keys(s):
                expected.pop(changed)
        assert _keys(after, case.dataset) == expected
        unchanged = {r_key: r for r in before if (r_key := _key(r, case.dataset)) in expected}
        assert all(unchanged[_key(r, case.dataset)] == r for r in after)

        # The code location still loads.
        Definitions.validate_loadable(build_definitions(platform.settings))
    finally:
        s.restore()
        repaired = platform.load(case.dataset, day)
    assert repaired.success
    assert _keys(platform.raw_rows(case.dataset), case.dataset) == _keys(before, case.dataset)
    assert platform.quarantine(case.dataset, day) == []


def _key(row: dict, dataset: str) -> str:
    return next(iter(_keys([row], dataset)))


def test_a_corrected_redelivery_clears_the_quarantine(platform: Platform):
    """A day's file with a broken line, then delivered again corrected and changed."""
    s = platform.sources
    day = s.tweet_day
    tweets = s.tweets()
    s.write_tweets([*tweets, "{not json"])
    try:
        assert platform.load("tweets", day).success
        assert len(platform.quarantine("tweets", day)) == 1
        assert platform.lake.exists(quarantine_partition_path("tweets", day))

        changed = {**tweets[0], "content": "corrected on re-delivery"}
        s.write_tweets([changed, *tweets[1:]])
        outcome = platform.load("tweets", day)
        assert outcome.success and outcome.checks["raw_contract"].passed
        assert platform.quarantine("tweets", day) == []
        assert not platform.lake.exists(quarantine_partition_path("tweets", day))
        contents = {
            r["id"]: r["content"]
            for r in platform.warehouse.query(
                f"select id, content from raw.tweets where _partition_date = date '{day}'"
            )
        }
        assert contents[tweets[0]["id"]] == "corrected on re-delivery"
        assert len(contents) == len(tweets)
    finally:
        s.restore()
        assert platform.load("tweets", day).success


def test_marts_equal_what_the_clean_rows_give(platform: Platform, small_csv_dir: Path):
    """Bad orders and items below the limit are quarantined, the day's run goes on through
    dbt, and every mart equals the oracle computed from the clean source rows alone."""
    s = platform.sources
    day = s.order_day
    s.add_order(subtotal=-500, tax_paid=0, order_total=-500)
    s.add_order(store_id="no-such-store")
    s.add_order(subtotal=1000, tax_paid=60, order_total=1100)
    s.add_item(sku="JAF-990")
    try:
        summary = execute(platform.settings, "daily_job", platform.instance, (day, day))
        assert summary.success, summary.checks_failed
        assert sorted(r["row_key"] for r in platform.quarantine("orders", day)) == [
            "o-broken-0000",
            "o-broken-0001",
            "o-broken-0002",
        ]
        assert [r["row_key"] for r in platform.quarantine("order_items", day)] == ["i-broken-0001"]
        expected = compute_marts(small_csv_dir, platform.settings.pseudonym_secret())
        for mart, key in MART_KEYS.items():
            actual = read_mart(platform.settings.warehouse_url, mart)
            assert differences(expected[mart], actual, key) == [], mart
    finally:
        s.restore()
        assert platform.load("orders", day).success
        assert platform.load("order_items", day).success


def test_a_held_back_partition_blocks_the_models_below(platform: Platform):
    """Too many bad orders in a day: raw.orders keeps the day's rows, the blocking check stops
    the run before dbt, the marts are untouched, and conservation still holds."""
    s = platform.sources
    day = s.order_day
    url = platform.settings.warehouse_url
    marts_before = {m: read_mart(url, m) for m in MART_KEYS}
    raw_before = platform.raw_rows("orders")
    for _ in range(20):
        s.add_order(tax_paid=-1)
    try:
        summary = execute(platform.settings, "daily_job", platform.instance, (day, day))
        assert not summary.success
        assert "raw__orders" in summary.failed_steps
        assert any("raw/orders:raw_contract" in c for c in summary.checks_failed)
        assert not any("conservation" in c for c in summary.checks_failed)
        assert _keys(platform.raw_rows("orders"), "orders") == _keys(raw_before, "orders")
        held = platform.quarantine("orders", day)
        assert len(held) == len([r for r in raw_before if r["_partition_date"] == day]) + 20
        assert {m: read_mart(url, m) for m in MART_KEYS} == marts_before
    finally:
        s.restore()
        assert platform.load("orders", day).success
