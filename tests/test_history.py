"""History that ends yesterday: the whole-week shift, the seed that moves real jafgen data by it
(orders with their items, tweets, store openings), the record in ``history.json`` and the daily
partitions that start where the recorded history starts."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_platform.core import history, settings
from data_platform.core.history import History, HistoryMove, week_shift, yesterday_utc
from tests.test_seed import seed, snapshot

D = dt.date


@pytest.mark.parametrize(
    ("last", "end", "weeks"),
    [
        (D(2019, 8, 31), D(2019, 8, 31), 0),  # already ends there
        (D(2019, 8, 31), D(2019, 9, 1), 1),  # a day short: a whole week, six days to drop
        (D(2019, 8, 31), D(2019, 9, 7), 1),  # exactly a week
        (D(2019, 8, 31), D(2019, 9, 8), 2),
        (D(2019, 8, 31), D(2026, 12, 1), 379),  # to Saturday 2026-12-05
        (D(2030, 1, 10), D(2030, 1, 1), -1),  # later than the end's week: moved back
        (D(2030, 1, 7), D(2030, 1, 1), 0),  # within six days after the end: kept
    ],
)
def test_the_shift_is_the_smallest_whole_week_reaching_the_end(last, end, weeks):
    shift = week_shift(last, end)
    assert shift == dt.timedelta(weeks=weeks)
    moved = last + shift
    assert end <= moved <= end + dt.timedelta(days=6)
    assert moved.weekday() == last.weekday()
    assert last + shift - dt.timedelta(weeks=1) < end  # one week less would fall short


def test_a_moved_timestamp_keeps_its_form():
    move = HistoryMove(dt.timedelta(weeks=2), D(2018, 9, 20))
    assert move.moved_text("2018-09-01T00:00:00") == "2018-09-15T00:00:00"
    assert move.moved_text(" 2018-09-01 07:08:42.755232") == "2018-09-15 07:08:42.755232"
    assert move.moved_text("2018-09-01") == "2018-09-15"
    assert move.keeps(dt.datetime(2018, 9, 20, 23, 59)) and not move.keeps(dt.datetime(2018, 9, 21))
    with pytest.raises(ValueError):
        move.moved_text("2018-09-31T00:00:00")


def test_yesterday_is_the_utc_day_before():
    late_evening_in_new_york = dt.datetime(
        2026, 12, 2, 23, 30, tzinfo=dt.timezone(-dt.timedelta(hours=5))
    )
    assert yesterday_utc(late_evening_in_new_york) == D(2026, 12, 2)


def test_partitions_start_at_the_recorded_history_unless_set(tmp_path):
    home = tmp_path / "home"
    assert settings.Settings.from_environ({settings.HOME: str(home)}).partition_start == D(
        2018, 9, 1
    )
    history.write_history(home, History(D(2025, 12, 6), D(2026, 12, 1), 379))
    assert json.loads((home / "history.json").read_text())["first_day"] == "2025-12-06"
    assert not [p for p in home.iterdir() if p.name != "history.json"]  # no temporary left
    environ = {settings.HOME: str(home)}
    assert settings.Settings.from_environ(environ).partition_start == D(2025, 12, 6)
    explicit = {**environ, settings.PARTITION_START: "2024-01-01"}
    assert settings.Settings.from_environ(explicit).partition_start == D(2024, 1, 1)
    (home / "history.json").write_text('{"first_day": "2025-13-06", "last_day": "2026-12-01"}')
    with pytest.raises(settings.SettingsError, match=r"history\.json: .*month must be in 1\.\.12"):
        settings.Settings.from_environ(environ)
    # An explicit start does not need the file.
    assert settings.Settings.from_environ(explicit).partition_start == D(2024, 1, 1)


# --- the seed, through the command line, on real jafgen data ----------------------------------


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def shop(home: Path, query: str) -> list:
    engine = sa.create_engine(f"sqlite:///{home / 'shop.db'}")
    with engine.connect() as conn:
        result = conn.execute(sa.text(query)).all()
    engine.dispose()
    return result


def as_time(value) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


@pytest.fixture(scope="module")
def moved(tmp_path_factory, small_csv_dir):
    """The small jafgen CSVs (45 days from 2018-09-01) seeded with --end-yesterday into a home
    of their own. Yields the home, the days before and after the seed (around midnight UTC the
    command may have seen either) and the command's result."""
    home = tmp_path_factory.mktemp("moved") / "home"
    before = yesterday_utc()
    result = seed(home, "--from-csv", str(small_csv_dir), "--end-yesterday")
    assert result.returncode == 0, result.stderr
    return home, {before, yesterday_utc()}, result


def test_end_yesterday_moves_orders_by_whole_weeks_to_end_yesterday(moved, small_csv_dir):
    home, yesterdays, result = moved
    given = {
        r["id"]: dt.datetime.fromisoformat(r["ordered_at"])
        for r in rows(small_csv_dir / "raw_orders.csv")
    }
    seeded = {i: as_time(t) for i, t in shop(home, "select id, ordered_at from orders")}
    last = max(seeded.values()).date()
    assert last in yesterdays
    # One shift for every order, a whole number of weeks (so each keeps its weekday).
    shifts = {seeded[i] - given[i] for i in seeded}
    assert len(shifts) == 1
    (shift,) = shifts
    assert shift.days % 7 == 0 and shift.seconds == 0 and shift > dt.timedelta(0)
    # Exactly the orders that fall on yesterday or before are kept: none after, none lost.
    assert set(seeded) == {i for i, t in given.items() if (t + shift).date() <= last}
    # The fixture ends on a Monday: the shift overshoots yesterday, and a tail is dropped,
    # on every day but a Tuesday (yesterday a Monday: the shift lands on it, nothing dropped).
    overshoots = max(given.values()).date() + shift > last
    assert (len(given) > len(seeded)) == overshoots
    weekdays = collections.Counter(t.weekday() for t in seeded.values())
    assert weekdays == collections.Counter(given[i].weekday() for i in seeded)
    assert f"dates moved by {shift.days // 7} week(s) to end on {last}" in result.stdout
    recorded = json.loads((home / "history.json").read_text())
    first = min(seeded.values()).date()
    assert recorded == {
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "shift_weeks": shift.days // 7,
    }


def test_items_follow_their_orders(moved, small_csv_dir):
    home, _, _ = moved
    kept = {i for (i,) in shop(home, "select id from orders")}
    given = rows(small_csv_dir / "raw_items.csv")
    items = {i: order for i, order in shop(home, "select id, order_id from order_items")}
    assert items == {r["id"]: r["order_id"] for r in given if r["order_id"] in kept}


def test_tweets_and_store_openings_move_by_the_same_weeks(moved, small_csv_dir):
    home, _, _ = moved
    shift = dt.timedelta(weeks=json.loads((home / "history.json").read_text())["shift_weeks"])
    last = dt.date.fromisoformat(json.loads((home / "history.json").read_text())["last_day"])
    landing = home / "lake" / "landing"
    tweets = {}
    for path in (landing / "tweets").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            tweet = json.loads(line)
            at = dt.datetime.fromisoformat(tweet["tweeted_at"])
            assert at.date().isoformat() == path.stem  # each in its (moved) day's file
            tweets[tweet["id"]] = at
    given = {
        r["id"]: dt.datetime.fromisoformat(r["tweeted_at"])
        for r in rows(small_csv_dir / "raw_tweets.csv")
    }
    assert tweets == {i: t + shift for i, t in given.items() if (t + shift).date() <= last}
    stores = {r["id"]: r["opened_at"] for r in rows(landing / "stores" / "stores.csv")}
    assert stores == {
        r["id"]: (dt.datetime.fromisoformat(r["opened_at"]) + shift).isoformat()
        for r in rows(small_csv_dir / "raw_stores.csv")
    }


def test_the_code_location_partitions_start_at_the_recorded_first_day(moved):
    from data_platform.definitions import build_definitions

    home, _, _ = moved
    first = json.loads((home / "history.json").read_text())["first_day"]
    defs = build_definitions(settings.Settings.from_environ({settings.HOME: str(home)}))
    graph = defs.resolve_asset_graph()
    starts = {
        node.partitions_def.get_first_partition_key()
        for node in graph.asset_nodes
        if node.partitions_def is not None
    }
    assert starts == {first}


def test_seeding_again_changes_nothing_and_another_shift_is_refused(moved, small_csv_dir):
    home, _, _ = moved
    before = snapshot(home)
    again = seed(home, "--from-csv", str(small_csv_dir), "--end-yesterday")
    assert again.returncode == 0, again.stderr
    assert "0 landing files written" in again.stdout
    assert snapshot(home) == before
    # 2018's dates into the moved history (in this process: the command's start is paid above).
    from data_platform.resources import open_resources
    from data_platform.seed import SeedError, seed_from_csv

    state = settings.Settings.from_environ({settings.HOME: str(home)})
    refused = r"history\.json: .* moved by \d+ week.*fresh state"
    with (
        open_resources(state, "lake", "shop_db") as resources,
        pytest.raises(SeedError, match=refused),
    ):
        seed_from_csv(small_csv_dir, resources, home=home)
    assert snapshot(home) == before


def test_seed_years_ends_yesterday_and_keeps_what_jafgen_generated(jafgen_home, jafgen_year):
    recorded = json.loads((jafgen_home / "history.json").read_text())
    (last,) = shop(jafgen_home, "select max(ordered_at) from orders")[0]
    assert as_time(last).date().isoformat() == recorded["last_day"]
    assert dt.date.fromisoformat(recorded["last_day"]) >= yesterday_utc() - dt.timedelta(days=1)
    first = dt.date.fromisoformat(recorded["first_day"])
    assert first.weekday() == D(2018, 9, 1).weekday()  # jafgen's first day, a Saturday
    # The generated folder stays as jafgen wrote it (the tests cut their fixtures from it).
    given = min(r["ordered_at"] for r in rows(jafgen_year / "raw_orders.csv"))
    assert given.startswith("2018-09-01")
