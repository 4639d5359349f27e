"""``data-platform seed --changes``: a past of changes laid down through the platform's own
change capture (:mod:`data_platform.seed_history`).

The plan is pure and checked on its own (periods, moments, one change per key and period,
only the kinds a replay can date honestly). The command is run for real on the session's
small jafgen CSVs in a state folder of its own: what the versioned ingests recorded is
compared with the sources (the shop database, the supplies landing file, the seeded CSVs),
the history dimensions built from it hold a version per change valid from its moment in the
past, and a second replay on the same folder is refused with nothing changed.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import defaultdict

import pytest
import sqlalchemy as sa
from dagster import AssetKey, AssetSelection

from data_platform.automation.declarative import BATCH_MODELS
from data_platform.core.pseudonyms import pseudonym
from data_platform.core.settings import HOME, Settings
from data_platform.seed_history import CUSTOMER_SHARE, PERIOD_DAYS, plan
from data_platform.simulate import Product, Shop, Store, Supply
from data_platform.sources.landing.changes import Change
from data_platform.sources.landing.datasets import SUPPLIES
from data_platform.sources.shop_db.changes import CustomerChange
from tests import in_process
from tests.test_seed import seed

D = dt.date
T = dt.datetime
SHOP = Shop(
    customers=tuple(f"c-{i:03}" for i in range(200)),
    stores=(Store("s-1", 0.06),),
    products=(Product("JAF-001", 500),),
    supplies=tuple(Supply(f"SUP-{i:03}", 10 * i) for i in range(1, 21)),
)
HISTORY_DIMS = [AssetKey(["marts", "dim_customers_history"])]
SUPPLIES_HISTORY = AssetKey(["staging", "int_supplies_history"])


# -- the plan (pure) ------------------------------------------------------------------------


def test_the_plan_covers_the_history_in_periods_after_its_first_day():
    periods = plan(SHOP, D(2025, 1, 1), D(2025, 3, 31))
    assert periods[0].first == T(2025, 1, 2)
    assert periods[-1].end == T(2025, 4, 1)
    assert [p.end for p in periods[:-1]] == [p.first for p in periods[1:]]
    assert all(p.end - p.first <= dt.timedelta(days=PERIOD_DAYS) for p in periods)
    for period in periods:
        moments = [c.at for c in period.changes]
        assert moments == sorted(moments)
        assert all(period.first <= at < period.end for at in moments)
    # A history of one day has nothing after its first day.
    assert plan(SHOP, D(2025, 1, 1), D(2025, 1, 1)) == []
    with pytest.raises(ValueError, match="period_days 0"):
        plan(SHOP, D(2025, 1, 1), D(2025, 3, 31), period_days=0)


def test_the_plan_changes_no_key_twice_in_a_period_and_only_what_a_replay_can_date():
    periods = plan(SHOP, D(2025, 1, 1), D(2025, 12, 31))
    kinds = set()
    for period in periods:
        customers = [c.customer_id for c in period.changes if isinstance(c, CustomerChange)]
        supplies = [c.key for c in period.changes if isinstance(c, Change)]
        assert len(customers) == len(set(customers))
        assert len(supplies) == len(set(supplies))
        # A full period: its share of the customers.
        if period.end - period.first == dt.timedelta(days=PERIOD_DAYS):
            assert len(customers) == round(len(SHOP.customers) * CUSTOMER_SHARE)
        for change in period.changes:
            if isinstance(change, CustomerChange):
                kinds.add(change.kind)
            else:
                assert change.dataset is SUPPLIES and set(change.set) == {"cost"}
                assert not change.delete
                kinds.add("supply")
    # No deletions, no prices, no tax rates (the module's docstring says why).
    assert kinds == {"move", "email", "supply"}


def test_supply_costs_move_from_their_previous_cost_and_the_plan_is_reproducible():
    periods = plan(SHOP, D(2025, 1, 1), D(2026, 12, 31), seed=7)
    cost = {s.id: s.cost for s in SHOP.supplies}
    changed = 0
    for change in (c for p in periods for c in p.changes if isinstance(c, Change)):
        (supply_id,) = change.key
        new = change.set["cost"]
        assert 0.75 * cost[supply_id] - 1 <= new <= 1.25 * cost[supply_id] + 1
        assert new != cost[supply_id] or cost[supply_id] < 10
        cost[supply_id] = new
        changed += 1
    assert changed > 20
    assert plan(SHOP, D(2025, 1, 1), D(2026, 12, 31), seed=7) == periods
    assert plan(SHOP, D(2025, 1, 1), D(2026, 12, 31), seed=8) != periods


def test_a_short_last_period_has_fewer_changes():
    # 30 days, then one: a day's share of the customers is 200 * 0.02 / 30, rounded: none.
    periods = plan(SHOP, D(2025, 1, 1), D(2025, 2, 1))
    assert [p.end - p.first for p in periods] == [dt.timedelta(days=30), dt.timedelta(days=1)]
    assert not [c for c in periods[1].changes if isinstance(c, CustomerChange)]


# -- the command, for real ------------------------------------------------------------------


@pytest.fixture(scope="module")
def replayed(tmp_path_factory, small_csv_dir):
    """The small CSVs seeded with ``--changes`` into a state folder of their own, and the
    history models built from what the versioned ingests recorded (in-process)."""
    home = tmp_path_factory.mktemp("seed-changes") / "home"
    result = seed(home, "--from-csv", str(small_csv_dir), "--changes")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    platform = in_process.Platform(Settings.from_environ({HOME: str(home)}))
    graph = platform.defs.resolve_asset_graph()
    models = (
        AssetSelection.assets(*HISTORY_DIMS, SUPPLIES_HISTORY).upstream() & BATCH_MODELS
    ).resolve(graph)
    built = platform.materialize(sorted(models))
    assert built.success, [e.message for e in built.all_events if e.is_failure][:3]
    return platform, result, small_csv_dir


def query(platform, sql: str) -> list[dict]:
    return platform.warehouse.query(sql)


def printed(result, pattern: str) -> int:
    found = re.search(pattern, result.stdout)
    assert found, result.stdout[-2000:]
    return int(found.group(1))


def test_each_change_is_a_version_dated_in_the_past_and_the_sources_end_in_the_last(replayed):
    platform, result, _ = replayed
    versions = query(
        platform,
        "select id, city, email, updated_at, _change, _loaded_at from raw.customers_versions "
        "order by id, updated_at",
    )
    changed = [v for v in versions if v["_change"] == "changed"]
    assert len(changed) == printed(result, r"(\d+) customer change\(s\) and")
    assert len(changed) > 10
    assert not [v for v in versions if v["_change"] == "deleted"]
    first = min(v["updated_at"] for v in versions)
    for version in changed:
        # Dated at its moment in the past, after the seeded version, long before its load.
        assert first < version["updated_at"] < version["_loaded_at"] - dt.timedelta(days=1)
    by_id = defaultdict(list)
    for version in versions:
        by_id[version["id"]].append(version)
    engine = sa.create_engine(f"sqlite:///{platform.settings.home / 'shop.db'}")
    with engine.connect() as conn:
        shop = {r.id: r for r in conn.execute(sa.text("select * from customers"))}
    engine.dispose()
    assert set(by_id) == set(shop)
    for customer_id, history in by_id.items():
        assert [v["_change"] for v in history] == ["created"] + ["changed"] * (len(history) - 1)
        latest = history[-1]
        row = shop[customer_id]
        assert (latest["city"], latest["email"]) == (row.city, row.email)
        assert latest["updated_at"] == dt.datetime.fromisoformat(str(row.updated_at))


def test_a_supply_cost_change_is_a_version_of_every_product_using_the_supply(replayed):
    platform, result, csv_dir = replayed
    with (csv_dir / "raw_supplies.csv").open(newline="") as handle:
        skus = defaultdict(set)
        for row in csv.DictReader(handle):
            skus[row["id"]].add(row["sku"])
    changed = query(
        platform,
        "select id, sku, cost, updated_at from raw.supplies_versions where _change = 'changed'",
    )
    changes = defaultdict(set)
    for version in changed:
        changes[(version["id"], version["updated_at"])].add(version["sku"])
    assert len(changes) == printed(result, r"and (\d+) supply cost\(s\)")
    assert changes
    for (supply_id, _), changed_skus in changes.items():
        assert changed_skus == skus[supply_id]
    # The landing file ends with each (supply, sku)'s latest version.
    landing = platform.settings.home / "lake" / "landing" / "supplies" / "supplies.csv"
    with landing.open(newline="") as handle:
        final = {(r["id"], r["sku"]): int(r["cost"]) for r in csv.DictReader(handle)}
    latest = {}
    for version in sorted(changed, key=lambda v: v["updated_at"]):
        latest[(version["id"], version["sku"])] = int(version["cost"])
    assert all(final[key] == cost for key, cost in latest.items())


def test_the_history_dimensions_hold_a_version_per_change_valid_from_its_moment(replayed):
    platform, _, _ = replayed
    secret = platform.settings.pseudonym_secret()
    versions = defaultdict(list)
    for row in query(
        platform, "select id, updated_at from raw.customers_versions order by updated_at"
    ):
        versions[pseudonym(secret, row["id"])].append(row["updated_at"])
    dims = defaultdict(list)
    for row in query(
        platform,
        "select customer_key, valid_from, valid_to, is_current from marts.dim_customers_history "
        "order by valid_from",
    ):
        dims[row["customer_key"]].append(row)
    assert set(dims) == set(versions)
    moved = 0
    for key, rows in dims.items():
        # The first version from the beginning, each later one from its change's moment.
        assert [r["valid_from"] for r in rows[1:]] == versions[key][1:]
        assert [r["valid_to"] for r in rows[:-1]] == [r["valid_from"] for r in rows[1:]]
        assert [r["is_current"] for r in rows] == [False] * (len(rows) - 1) + [True]
        moved += len(rows) > 1
    assert moved > 10
    supply_rows = query(
        platform,
        "select supply_id, sku, count(*) as n from staging.int_supplies_history "
        "group by supply_id, sku having count(*) > 1",
    )
    assert supply_rows


def test_a_second_replay_on_the_same_state_folder_is_refused_with_nothing_changed(replayed):
    platform, _, csv_dir = replayed
    count = "select count(*) as n from raw.customers_versions"
    before = query(platform, count)[0]["n"]
    landing = platform.settings.home / "lake" / "landing" / "supplies" / "supplies.csv"
    supplies = landing.read_bytes()
    again = seed(platform.settings.home, "--from-csv", str(csv_dir), "--changes")
    assert again.returncode == 2, again.stdout[-2000:] + again.stderr[-2000:]
    assert "already recorded" in again.stderr and "fresh state folder" in again.stderr
    assert query(platform, count)[0]["n"] == before
    assert landing.read_bytes() == supplies
