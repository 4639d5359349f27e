"""One dbt invocation for both dbt steps of a run (``transformation/combined_build.py``): when a
run builds them that way, what each step reports, and where a failure lands."""

from __future__ import annotations

import os

import duckdb
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, DagsterRun

from data_platform.core.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from data_platform.resources.dbt import INVOCATIONS_KEPT
from data_platform.transformation.combined_build import (
    ONE_INVOCATION,
    ONE_INVOCATION_TAG,
    builds_both,
)
from data_platform.transformation.dbt_assets import DAILY_DBT_ASSETS, DBT_ASSETS
from tests.conftest import SETTINGS, code_location

defs = code_location()

DAILY_KEYS = {AssetKey(["marts", "fct_orders"]), AssetKey(["marts", "fct_daily_store_sales"])}
DAILY_CHECKS = {AssetCheckKey(AssetKey(["marts", "fct_orders"]), "unique_fct_orders_order_id")}
DAY = {PARTITION_TAG: "2026-01-02"}
JOB_TAG = {ONE_INVOCATION_TAG: ONE_INVOCATION}


def run_of(tags=None, **fields) -> DagsterRun:
    return DagsterRun(job_name="all_assets_job", run_id="r", tags=tags or {}, **fields)


def both(run: DagsterRun, partial: bool = False, full_refresh: bool = False) -> bool:
    return builds_both(run, partial, full_refresh, DAILY_DBT_ASSETS, DAILY_KEYS, DAILY_CHECKS)


def test_a_run_of_a_tagged_job_over_partitions_builds_both_steps_in_one_invocation():
    assert both(run_of({**DAY, **JOB_TAG}))
    assert both(run_of({RANGE_START_TAG: "2026-01-01", RANGE_END_TAG: "2026-01-09", **JOB_TAG}))
    # execute_in_process stores an empty selection for "the whole job"
    assert both(run_of({**DAY, **JOB_TAG}, asset_selection=frozenset()))


@pytest.mark.parametrize(
    ("reason", "run", "partial"),
    [
        ("no partition window", run_of(JOB_TAG), False),
        ("a job that does not say it holds the daily step", run_of(DAY), False),
        ("the first step runs some of its models' checks", run_of({**DAY, **JOB_TAG}), True),
        (
            "a re-execution without the daily step",
            run_of({**DAY, **JOB_TAG}, step_keys_to_execute=[DBT_ASSETS]),
            False,
        ),
        (
            "a selection without a daily fact",
            run_of(DAY, asset_selection=frozenset({AssetKey(["marts", "fct_orders"])})),
            False,
        ),
        (
            "a selection without a daily check",
            run_of({**DAY, **JOB_TAG}, asset_check_selection=frozenset()),
            False,
        ),
        (
            "the daily step configured for a full refresh, the first not",
            run_of(
                {**DAY, **JOB_TAG},
                run_config={"ops": {DAILY_DBT_ASSETS: {"config": {"full_refresh": True}}}},
            ),
            False,
        ),
    ],
)
def test_a_run_that_does_not_build_the_daily_step_whole_invokes_dbt_per_step(reason, run, partial):
    assert not both(run, partial=partial), reason


def test_a_selection_of_every_daily_fact_and_check_builds_both_without_the_job_tag():
    run = run_of(DAY, asset_selection=frozenset(DAILY_KEYS | {AssetKey(["marts", "dim_stores"])}))
    assert both(run)
    full = {"ops": {DAILY_DBT_ASSETS: {"config": {"full_refresh": True}}}}
    assert both(run_of({**DAY, **JOB_TAG}, run_config=full), full_refresh=True)


@pytest.mark.parametrize("job_name", ["all_assets_job", "daily_job", "full_refresh_job"])
def test_a_job_that_says_one_invocation_selects_the_daily_step_whole(job_name):
    job = defs.resolve_job_def(job_name)
    assert job.tags.get(ONE_INVOCATION_TAG) == ONE_INVOCATION
    daily = defs.resolve_assets_def(AssetKey(["marts", "fct_orders"]))
    assert daily.node_def.name == DAILY_DBT_ASSETS
    assert set(daily.keys) <= set(job.asset_layer.selected_asset_keys), job_name
    assert set(daily.check_keys) <= set(job.asset_layer.asset_graph.asset_check_keys), job_name


# --- end to end, on the session's state folder ---------------------------------------------


def invocation_folders(run_id: str) -> list[str]:
    target = SETTINGS.home / "dbt" / "target"
    return sorted(p.name.split("-")[0] for p in target.glob(f"*-{run_id[:7]}-*"))


def day_run(day: str, job_name: str = "all_assets_job"):
    """``all_assets_job`` for one day, as ``data-platform run --partition`` runs it (the
    unpartitioned dbt step whole), or ``daily_job``, as the schedule runs it (a subset)."""
    return defs.resolve_job_def(job_name).execute_in_process(
        instance=DagsterInstance.get(), partition_key=day, raise_on_error=False
    )


def failed_steps(result) -> list[str]:
    assert not result.success
    return [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]


def warnings_of(run_id: str) -> list[str]:
    return [
        e.user_message
        for e in DagsterInstance.get().all_logs(run_id)
        if e.level >= 30 and e.dagster_event is None
    ]


def last_two_days() -> tuple[str, str]:
    with duckdb.connect(SETTINGS.warehouse.path, read_only=True) as conn:
        days = conn.execute(
            "select distinct order_date from marts.fct_orders order by 1 desc limit 2"
        ).fetchall()
    return days[0][0].isoformat(), days[1][0].isoformat()


def test_the_daily_schedules_run_starts_dbt_once_and_each_step_reports_its_models(full_run):
    """``daily_job`` builds a part of the unpartitioned step (not the models the reference
    files feed) with all their checks, and the daily step whole: one dbt invocation. After
    it, the step's artifacts folders beyond the newest ``INVOCATIONS_KEPT`` are gone, and
    nothing else under the target folder is touched."""
    assert full_run.returncode == 0, full_run.stdout[-3000:]
    day, _ = last_two_days()
    target = SETTINGS.home / "dbt" / "target"
    real = sorted(target.glob(f"{DBT_ASSETS}-*-*"), key=lambda p: p.stat().st_mtime)
    newer = {p.name for p in real[-(INVOCATIONS_KEPT - 1) :]}  # this run's makes one more
    old = [f"{DBT_ASSETS}-{n:07x}-{n:07x}" for n in range(INVOCATIONS_KEPT + 5)]
    others = [f"{DAILY_DBT_ASSETS}-{0:07x}-{0:07x}", f"{DBT_ASSETS}-notes"]
    for name in old + others:
        (target / name).mkdir()
        os.utime(target / name, (1_000_000_000, 1_000_000_000))  # 2001: older than any run
    result = day_run(day, "daily_job")
    assert result.success
    assert invocation_folders(result.run_id) == [DBT_ASSETS]
    kept = {p.name for p in target.glob(f"{DBT_ASSETS}-*-*")} - set(others)
    assert len(kept) == INVOCATIONS_KEPT
    assert newer < kept  # the newest stay, and this run's
    left = [name for name in old if (target / name).exists()]
    assert len(left) == max(INVOCATIONS_KEPT - len(real) - 1, 0)
    assert all((target / name).exists() for name in others)
    daily = {m.asset_key for m in result.asset_materializations_for_node(DAILY_DBT_ASSETS)}
    assert daily == DAILY_KEYS
    first = {m.asset_key for m in result.asset_materializations_for_node(DBT_ASSETS)}
    assert AssetKey(["marts", "dim_customers"]) in first and not first & DAILY_KEYS
    assert AssetKey(["staging", "stg_products"]) not in first  # fed by its reference file
    planned = set(defs.resolve_job_def("daily_job").asset_layer.asset_graph.asset_check_keys)
    evaluated = {e.asset_check_key for e in result.get_asset_check_evaluations()}
    assert evaluated == planned
    for record in result.asset_materializations_for_node(DAILY_DBT_ASSETS):
        assert record.partition == day
        assert record.metadata["rows_in_window"].value > 0
    checks = {e.asset_check_key.asset_key for e in result.get_asset_check_evaluations()}
    assert DAILY_KEYS <= checks


def test_a_failure_fails_the_step_whose_node_failed(full_run):
    """A duplicated order item of an earlier day fails ``unique_stg_order_items_order_item_id``
    in the first step: it fails, Dagster skips the daily step, and the log names the daily
    model dbt still built (``fct_daily_store_sales`` reads no order item). A duplicated row of
    an earlier day in ``fct_orders`` fails ``unique_fct_orders_order_id`` among the daily nodes:
    the daily step fails, the first step succeeds."""
    assert full_run.returncode == 0, full_run.stdout[-3000:]
    day, earlier = last_two_days()
    warehouse = SETTINGS.warehouse.path

    def run_with_a_duplicate(table: str, column: str, where: str):
        """The day's run with one row of ``table`` (``where``) twice, the row once again after."""
        with duckdb.connect(warehouse) as conn:
            (key,) = conn.execute(f"select {column} from {table} where {where} limit 1").fetchone()
            conn.execute(f"insert into {table} select * from {table} where {column} = ?", [key])
        try:
            return day_run(day)
        finally:
            with duckdb.connect(warehouse) as conn:
                conn.execute(
                    f"create temp table kept as select distinct * from {table} where {column} = ?",
                    [key],
                )
                conn.execute(f"delete from {table} where {column} = ?", [key])
                conn.execute(f"insert into {table} select * from kept")

    result = run_with_a_duplicate("raw.order_items", "id", f"_partition_date = '{earlier}'")
    assert failed_steps(result) == [DBT_ASSETS]
    assert not result.asset_materializations_for_node(DAILY_DBT_ASSETS)
    (warning,) = [w for w in warnings_of(result.run_id) if "of the daily step" in w]
    assert "model.data_platform.fct_daily_store_sales" in warning
    assert "model.data_platform.fct_orders" not in warning

    result = run_with_a_duplicate("marts.fct_orders", "order_id", f"order_date = '{earlier}'")
    assert failed_steps(result) == [DAILY_DBT_ASSETS]
    failed = [e.asset_check_key.name for e in result.get_asset_check_evaluations() if not e.passed]
    assert "unique_fct_orders_order_id" in failed
    assert {m.asset_key for m in result.asset_materializations_for_node(DAILY_DBT_ASSETS)} == (
        DAILY_KEYS
    )
    # The state as it was: the day recorded again.
    assert day_run(day).success
