"""The pipeline monitor: its rules on small inputs, then real runs of ``raw/orders`` on a copy
of the session's built state: a step three times slower than its history, a day with half
its usual order items; each one alert with its figures and one recovery, through the real SMTP and HTTP
receivers of tests/test_alerts.py."""

from __future__ import annotations

import datetime as dt
import functools
import shutil
import sqlite3
import statistics

import dagster as dg
import pytest

from data_platform.core.settings import HOME, Settings
from data_platform.definitions import build_definitions
from data_platform.quality import monitor_rules as rules
from data_platform.resources.quality_policy import QualityPolicy
from tests import in_process
from tests.conftest import SETTINGS
from tests.test_alerts import alerts, both, channels, evaluate, received  # noqa: F401

ORDERS = dg.AssetKey(["raw", "orders"])
ITEMS = dg.AssetKey(["raw", "order_items"])


def test_row_volume_compares_a_day_with_its_weekday():
    day = dt.date(2026, 3, 30)  # a Monday
    weeks = {day - dt.timedelta(weeks=w): n for w, n in ((1, 100), (2, 112), (3, 106), (4, 118))}
    # The weekend between is much quieter: not part of the Monday's history.
    weekend = {day - dt.timedelta(days=d): 20 for d in (1, 2)}
    usual = rules.row_volume([day], {**weeks, **weekend, day: 110})
    assert usual.passed and usual.metadata == {"days_judged": 1, "days_unusual": 0}
    half = rules.row_volume([day], {**weeks, day: 54})
    assert not half.passed
    assert half.description.startswith("2026-03-30: 54 rows, usual 60..327 (median of the")
    # 0.61 times the median: the lowest ratio of six generated years, not an anomaly.
    assert rules.row_volume([day], {**weeks, day: 67}).passed
    assert not rules.row_volume([day], weeks).passed  # none at all
    assert not rules.row_volume([day], {**weeks, day: 400}).passed  # a spike
    # 0.46 times a median of 56 (a real Saturday of a CI run): too few rows to judge by
    # default; judged from a lower median, a count's noise (4 sigmas) still covers 0.55 times.
    saturdays = {day - dt.timedelta(weeks=w): n for w, n in ((1, 50), (2, 54), (3, 58), (4, 70))}
    assert rules.row_volume([day], {**saturdays, day: 26}).passed
    assert rules.row_volume([day], {**saturdays, day: 30}, min_median=50).passed
    assert not rules.row_volume([day], {**saturdays, day: 20}, min_median=50).passed
    # Too little history or too few rows to judge: passes, saying so.
    assert rules.row_volume([day], {day: 3}).description.startswith("not judged")
    few = {k: 10 for k in weeks}
    assert rules.row_volume([day], {**few, day: 1}).passed


def test_step_duration_needs_history_and_a_real_slowdown():
    history = [1.0, 1.1, 0.9, 1.0, 1.2, 1.0]
    assert rules.step_duration(3.0, 1, history, 1.0).passed is False
    assert "3.0 x the median 1.0 s" in rules.step_duration(3.0, 1, history, 1.0).description
    assert rules.step_duration(1.4, 1, history, 0.0).passed  # under 1.5 x
    assert rules.step_duration(3.0, 1, history, 10.0).passed  # 2 s over: noise
    assert rules.step_duration(30.0, 1, history[:4], 1.0).passed  # 4 runs: not judged
    assert rules.step_duration(30.0, 30, history, 1.0).description.startswith("not judged")


@pytest.fixture(scope="module")
def platform(tmp_path_factory, full_run) -> in_process.Platform:
    """A copy of the session's state after its full run, with its instance."""
    assert full_run.returncode == 0, full_run.stdout[-3000:]
    home = tmp_path_factory.mktemp("monitor") / "home"
    shutil.copytree(SETTINGS.home, home, ignore=shutil.ignore_patterns("logs", "*.lock"))
    platform = in_process.Platform(Settings.from_environ({HOME: str(home)}))
    platform.instance = dg.DagsterInstance.from_config(str(platform.settings.dagster_home))
    return platform


@functools.cache
def job_with(
    settings: Settings, delay: float, min_median: int = rules.MIN_MEDIAN_ROWS
) -> dg.JobDefinition:
    """The asset job under a quality policy whose step delay is ``delay`` (test only), whose
    monitor takes a second over the median as a slowdown and judges row counts from a median
    of ``min_median`` rows."""
    policy = QualityPolicy(
        monitor_min_extra_seconds=1.0,
        step_delay_seconds=delay,
        monitor_min_median_rows=min_median,
    )
    defs = build_definitions(settings, {"quality": policy})
    return defs.resolve_implicit_global_asset_job_def()


def run_asset(
    platform,
    key: dg.AssetKey,
    day: dt.date,
    delay: float = 0.0,
    min_median: int = rules.MIN_MEDIAN_ROWS,
) -> dg.DagsterRun:
    """One day of raw asset ``key``, its step ``delay`` seconds slower."""
    result = job_with(platform.settings, delay, min_median).execute_in_process(
        instance=platform.instance,
        asset_selection=[key],
        partition_key=day.isoformat(),
        raise_on_error=False,
    )
    assert result.success
    return result.dagster_run


def evaluation(platform, run: dg.DagsterRun, check: str) -> dg.AssetCheckEvaluation:
    (found,) = [
        e.dagster_event.event_specific_data
        for e in platform.instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
        if e.dagster_event.event_specific_data.check_name == check
    ]
    return found


def alert_on(platform, run: dg.DagsterRun, alerts) -> None:
    """alert_on_run_success on ``run``, as the daemon hands it over."""
    evaluate(platform.instance, platform.instance.get_run_by_id(run.run_id), alerts)


def test_a_slow_step_alerts_once_and_recovers(platform, alerts, received):
    day = max(platform.instance.get_materialized_partitions(ORDERS))
    for _ in range(rules.MIN_HISTORY_RUNS):
        run_asset(platform, ORDERS, dt.date.fromisoformat(day))
    # The history's steps take well under a second here: three seconds more is over three
    # times slower, and more than the policy's second over the median.
    slow = run_asset(platform, ORDERS, dt.date.fromisoformat(day), delay=3.0)
    verdict = evaluation(platform, slow, "step_duration")
    assert not verdict.passed and verdict.severity == dg.AssetCheckSeverity.WARN
    assert verdict.metadata["step_seconds"].value >= 3.0
    alert_on(platform, slow, alerts)
    again = run_asset(platform, ORDERS, dt.date.fromisoformat(day), delay=3.0)
    alert_on(platform, again, alerts)  # still slow: folded into the same incident
    back = run_asset(platform, ORDERS, dt.date.fromisoformat(day))
    assert evaluation(platform, back, "step_duration").passed
    alert_on(platform, back, alerts)
    alert, recovery = both(received(), "email")
    print("\nslow step:", alert, "\n", recovery)
    assert alert.startswith(
        f"ALERT monitor step_duration FAILED (WARN) on asset raw/orders (partition {day}): slow: "
    )
    assert "x the median" in alert
    assert recovery.startswith("RESOLVED after ") and "(2 failures since" in recovery


def test_a_day_with_half_its_usual_rows_alerts_once_and_recovers(platform, alerts, received):
    # The order items' day of the largest same-weekday median in the loaded history (the
    # warehouse's own counts), cut in the shop database to half that median.
    counts = {
        r["p"]: r["n"]
        for r in platform.warehouse.query(
            'select "_partition_date" as p, count(*) as n from raw.order_items group by 1'
        )
    }

    def weekday_median(day: dt.date) -> float:
        history = [counts.get(day - dt.timedelta(weeks=w)) for w in range(1, 5)]
        return statistics.median(history) if all(history) else 0

    day = max(counts, key=weekday_median)
    median = weekday_median(day)
    # Half of it is then beyond a count's noise (4 sigmas). The tests' six weeks of a young
    # shop have medians of 60 to 120 order items: judged here from 65, the default (100) is
    # for the volume where natural swings stay above 0.55 times the median.
    assert median > 64, counts
    keep = int(median // 2)
    shop = platform.settings.home / "shop.db"
    backup = shop.with_suffix(".bak")
    shutil.copyfile(shop, backup)
    with sqlite3.connect(shop) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "select i.id from order_items i join orders o on o.id = i.order_id "
                "where date(o.ordered_at) = ? order by i.id",
                [day.isoformat()],
            )
        ]
        conn.executemany("delete from order_items where id = ?", [(i,) for i in ids[keep:]])
    half = run_asset(platform, ITEMS, day, min_median=65)
    verdict = evaluation(platform, half, "row_volume")
    assert not verdict.passed
    assert verdict.description.startswith(f"{day}: {keep} rows, usual ")
    alert_on(platform, half, alerts)
    shutil.copyfile(backup, shop)  # the source repaired: the day is reloaded whole
    whole = run_asset(platform, ITEMS, day, min_median=65)
    assert evaluation(platform, whole, "row_volume").passed
    alert_on(platform, whole, alerts)
    alert, recovery = both(received(), "email")
    print("\nhalf the usual rows:", alert, "\n", recovery)
    assert alert.startswith(
        f"ALERT monitor row_volume FAILED (WARN) on asset raw/order_items (partition {day}): "
        f"{day}: {keep} rows, usual "
    )
    assert recovery.startswith("RESOLVED after ") and "row_volume" in recovery
