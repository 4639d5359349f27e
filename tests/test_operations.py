"""Platform health as data: the operations group on real runs of a real Dagster instance.

The pure rows first (who launched a run, its partition, an asset's outcome, a freshness
policy's windows, the keyed replacement); then, on DuckDB and on PostgreSQL, a state folder of
its own: a real raw ingest (raw/stores from its landing file) and small test-only assets run
in an ephemeral instance (successes, a failure, a failing WARN check), then operations_job.
The tables must hold those runs with their statuses and durations as the instance's run
records have them, the check results and the freshness lag; the service-level mart's success
rate must equal one computed here from the instance's run records and materializations (not
from the events the assets read); a second build adds the first build's own run and leaves
every other row as it was.
"""

import datetime as dt
import os
import shutil
from pathlib import Path
from unittest import mock

import dagster as dg
import pytest

from data_platform.automation.operations import operations_job
from data_platform.core.settings import HOME, WAREHOUSE_URL, Settings
from data_platform.operations import records
from data_platform.operations.assets import (
    AS_OF_TAG,
    GROUP,
    build_operations_assets,
    freshness_policies,
)
from data_platform.resources.warehouse import Replacement, WarehouseResource
from data_platform.transformation.dbt_assets import OPERATIONS_DBT_ASSETS
from tests import in_process
from tests.conftest import SETTINGS

STORES = dg.AssetKey(["raw", "stores"])
FLAKY = {"broken": False}
HOURLY = dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=1))


@dg.asset(freshness_policy=HOURLY, description="A test-only asset with a freshness policy.")
def ops_probe() -> None:
    pass


@dg.asset_check(asset=ops_probe)
def ops_probe_recent() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


@dg.asset(description="A test-only asset that fails when told to.")
def ops_flaky() -> None:
    if FLAKY["broken"]:
        raise ValueError("broken on purpose")


# --- pure rows -------------------------------------------------------------------------


def test_who_launched_a_run():
    assert records.launched_by({"dagster/schedule_name": "daily_schedule"}, True) == (
        "schedule",
        "daily_schedule",
    )
    assert records.launched_by({"dagster/sensor_name": "landing_sensor"}, True)[0] == "sensor"
    automation = {"dagster/sensor_name": "dbt_automation_sensor"}
    automation["dagster/from_automation_condition"] = "true"
    assert records.launched_by(automation, True) == ("automation", "dbt_automation_sensor")
    assert records.launched_by({"dagster/backfill": "abc"}, True) == ("backfill", "abc")
    retried = {"dagster/retry_number": "1", "dagster/schedule_name": "daily_schedule"}
    assert records.launched_by(retried, True) == ("retry", "1")
    assert records.launched_by({records.CLI_TAG: "host"}, False) == ("cli", "host")
    assert records.launched_by({}, True) == ("ui", None)
    assert records.launched_by({}, False) == ("other", None)


def test_the_cli_tag_is_the_headless_runs():
    from data_platform.headless import HOST_TAG

    assert records.CLI_TAG == HOST_TAG


def test_partition_labels_and_outcomes():
    assert records.partition_label({"dagster/partition": "2018-09-01"}) == "2018-09-01"
    assert (
        records.partition_label(
            {
                "dagster/asset_partition_range_start": "2018-09-01",
                "dagster/asset_partition_range_end": "2018-09-10",
            }
        )
        == "2018-09-01...2018-09-10"
    )
    assert records.partition_label({}) is None
    failure, success = dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS
    assert records.outcome(failure, 2) == "materialized"
    assert records.outcome(failure, 0) == "failed"
    assert records.outcome(dg.DagsterRunStatus.CANCELED, 0) == "canceled"
    assert records.outcome(success, 0) == "skipped"


def test_freshness_policy_windows_and_lag():
    cron = dg.FreshnessPolicy.cron(
        deadline_cron="0 4 * * *", lower_bound_delta=dt.timedelta(hours=24), timezone="UTC"
    )
    text, fail, warn = records.policy_windows(cron)
    assert (fail, warn) == (86400.0, None) and "0 4 * * *" in text
    window = dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(minutes=5), warn_window=dt.timedelta(minutes=2)
    )
    assert records.policy_windows(window)[1:] == (300.0, 120.0)
    assert records.policy_windows(None) == (None, None, None)
    as_of = dt.datetime(2026, 12, 2, 21, 20, tzinfo=dt.UTC)
    row = records.freshness_row(dg.AssetKey(["a", "b"]), window, as_of.timestamp() - 90, as_of)
    assert row["asset_key"] == "a/b" and row["lag_seconds"] == 90.0
    assert row["measured_at"] == dt.datetime(2026, 12, 2, 21, 20)
    assert records.freshness_row(dg.AssetKey("c"), None, None, as_of)["lag_seconds"] is None


def test_a_keyed_replacement_deletes_exactly_its_keys():
    empty = records.arrow([], records.RUN_HISTORY)
    keyed = Replacement("operations", "run_history", empty, key_column="run_id", keys=("b", "a'"))
    assert keyed.delete_statement() == (
        "delete from \"operations\".\"run_history\" where \"run_id\" in ('a''', 'b')"
    )
    assert Replacement("o", "t", empty, key_column="run_id", keys=()).delete_statement() is None
    with pytest.raises(ValueError):
        Replacement("o", "t", empty, "d", partitions=(), key_column="k", keys=()).delete_statement()


def test_the_group_runs_on_its_own_schedule_only(defs, graph, manifest):
    group = {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == GROUP}
    assert {k.to_user_string() for k in group} == {
        *(f"{GROUP}/{t.name}" for t in records.TABLES),
        f"{GROUP}/fct_asset_service_levels",
    }
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):  # Dagster's implicit job of every asset
            continue
        selected = set(job.asset_layer.selected_asset_keys)
        if job.name == operations_job.name:
            assert selected == group
        else:
            assert not selected & group, job.name
    schedule = defs.resolve_schedule_def("operations_schedule")
    assert (schedule.job_name, schedule.cron_schedule) == (operations_job.name, "20 * * * *")
    tick = dt.datetime(2026, 12, 2, 21, 20, tzinfo=dt.UTC)
    (request,) = schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=tick)
    ).run_requests
    assert dt.datetime.fromisoformat(request.tags[AS_OF_TAG]) == tick  # measured at the tick
    # Each operations table the mart reads is the asset that writes it, one node per table.
    sources = [s for s in manifest["sources"].values() if s["source_name"] == GROUP]
    assert {s["name"] for s in sources} == {t.name for t in records.TABLES}
    for source in sources:
        key = dg.AssetKey(source["meta"]["dagster"]["asset_key"])
        assert dg.AssetKey([GROUP, "fct_asset_service_levels"]) in graph.get(key).child_keys
    # Not part of the data platform's declarative automation or freshness.
    mart = graph.get(dg.AssetKey([GROUP, "fct_asset_service_levels"]))
    assert mart.automation_condition is None and mart.freshness_policy is None


# --- the group on real runs ------------------------------------------------------------


def table(warehouse: WarehouseResource, name: str, order: str) -> list[dict]:
    return warehouse.query(f'select * from "operations"."{name}" order by {order}')


def expected_success_rates(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> dict:
    """Per asset: (runs that materialized it, failed runs that selected it and did not), from
    the instance's run records and materialization records."""
    runs = instance.get_run_records(dg.RunsFilter(statuses=list(records.FINISHED)))
    rates = {}
    for key in keys:
        materialized_in = {
            r.run_id for r in instance.fetch_materializations(key, limit=1000).records
        }
        selecting = [r.dagster_run for r in runs if key in (r.dagster_run.asset_selection or ())]
        ok = sum(run.run_id in materialized_in for run in selecting)
        failed = sum(
            run.status == dg.DagsterRunStatus.FAILURE and run.run_id not in materialized_in
            for run in selecting
        )
        rates[key.to_user_string()] = (ok, failed)
    return rates


@pytest.fixture(params=["duckdb", "postgresql"])
def platform(request, tmp_path, seeded):
    """A state folder with the session's landing zone (the warehouse: a DuckDB file, or a
    PostgreSQL database of its own) and the platform with the test-only assets beside it."""
    home = tmp_path / "home"
    shutil.copytree(Path(SETTINGS.lake_url) / "landing", home / "lake" / "landing")
    environ = {HOME: str(home)}
    if request.param == "postgresql":
        from tests.servers import postgres_database

        with postgres_database() as url, mock.patch.dict(os.environ, {WAREHOUSE_URL: url}):
            # The resources read a setting given in the environment from it (EnvVar).
            environ[WAREHOUSE_URL] = url
            yield in_process.Platform(Settings.from_environ(environ))
    else:
        yield in_process.Platform(Settings.from_environ(environ))


def with_test_assets(defs: dg.Definitions, settings: Settings) -> dg.Definitions:
    """The platform's definitions with the test-only assets, the operations group watching
    them too."""
    platform = [a for a in defs.assets if GROUP not in {s.group_name for s in a.specs}]
    platform += [a for a in defs.assets if a.node_def.name == OPERATIONS_DBT_ASSETS]
    tested = [*platform, ops_probe, ops_flaky]
    operations = build_operations_assets(settings, freshness_policies(tested))
    return dg.Definitions(
        assets=[*tested, *operations],
        asset_checks=[*defs.asset_checks, ops_probe_recent],
        jobs=[operations_job],
        resources=defs.resources,
        executor=defs.executor,
    )


def test_operations_tables_and_service_levels_from_real_runs(platform):
    defs = with_test_assets(platform.defs, platform.settings)
    instance = platform.instance
    job = defs.resolve_implicit_global_asset_job_def()

    def run(keys):
        return job.execute_in_process(instance=instance, asset_selection=keys, raise_on_error=False)

    assert run([STORES]).success
    assert run([dg.AssetKey("ops_probe")]).success
    assert run([dg.AssetKey("ops_flaky")]).success
    FLAKY["broken"] = True
    try:
        assert not run([dg.AssetKey("ops_flaky")]).success
    finally:
        FLAKY["broken"] = False
    data_runs = instance.get_run_records(dg.RunsFilter(statuses=list(records.FINISHED)))
    assert len(data_runs) == 4

    as_of = dt.datetime.now(dt.UTC)
    operations = defs.resolve_job_def(operations_job.name)
    first = operations.execute_in_process(instance=instance, tags={AS_OF_TAG: as_of.isoformat()})
    assert first.success

    warehouse = platform.warehouse
    history = {r["run_id"]: r for r in table(warehouse, "run_history", "run_id")}
    assert set(history) == {r.dagster_run.run_id for r in data_runs}
    for record in data_runs:
        row = history[record.dagster_run.run_id]
        assert row["status"] == record.dagster_run.status.value
        assert row["job_name"] == record.dagster_run.job_name
        assert row["duration_seconds"] == pytest.approx(
            record.end_time - record.start_time, abs=1e-3
        )
        assert row["ended_at"] == records.utc(record.end_time)
        assert row["launched_by"] == "other"  # in-process, no schedule or sensor
    assert sorted(r["status"] for r in history.values()) == ["FAILURE"] + ["SUCCESS"] * 3

    outcomes = table(warehouse, "run_asset_outcomes", "run_id, asset_key")
    flaky = sorted(o["outcome"] for o in outcomes if o["asset_key"] == "ops_flaky")
    assert flaky == ["failed", "materialized"]
    assert [o["outcome"] for o in outcomes if o["asset_key"] == "raw/stores"] == ["materialized"]

    checks = table(warehouse, "check_results", "run_id, asset_key, check_name")
    by_name = {(c["asset_key"], c["check_name"]): c for c in checks}
    assert by_name[("raw/stores", "raw_contract")]["passed"] is True
    assert by_name[("raw/stores", "raw_contract")]["blocking"] is True
    recent = by_name[("ops_probe", "ops_probe_recent")]
    assert (recent["passed"], recent["severity"]) == (False, "WARN")

    lags = {r["asset_key"]: r for r in table(warehouse, "freshness_lag", "asset_key")}
    assert not any(key.startswith(f"{GROUP}/") for key in lags)
    probe = instance.get_latest_materialization_event(dg.AssetKey("ops_probe"))
    assert lags["ops_probe"]["lag_seconds"] == pytest.approx(
        as_of.timestamp() - probe.timestamp, abs=1e-3
    )
    assert lags["ops_probe"]["fail_window_seconds"] == 3600.0
    assert lags["raw/stores"]["fail_window_seconds"] == 30 * 86400.0
    assert lags["marts/fct_orders"]["lag_seconds"] is None  # never materialized here

    levels = table(warehouse, "fct_asset_service_levels", "asset_key, week_start")
    by_asset = {r["asset_key"]: r for r in levels}
    keys = [STORES, dg.AssetKey("ops_probe"), dg.AssetKey("ops_flaky")]
    for key, (ok, failed) in expected_success_rates(instance, keys).items():
        row = by_asset[key]
        assert (row["runs_materialized"], row["runs_failed"]) == (ok, failed), key
        assert float(row["success_rate"]) == pytest.approx(ok / (ok + failed)), key
        assert row["success_rate_met"] is (ok / (ok + failed) >= 0.995), key
    assert by_asset["ops_flaky"]["success_rate_met"] is False
    assert by_asset["ops_probe"]["check_failures"] == 1
    assert by_asset["ops_probe"]["freshness_met"] is True
    assert by_asset["raw/stores"]["run_duration_met"] is True

    # Numeric metadata, as the UI plots it across materializations.
    run_history = instance.get_latest_materialization_event(records_key("run_history"))
    metadata = run_history.asset_materialization.metadata
    assert metadata["runs_recorded"] == dg.MetadataValue.int(4)
    assert metadata["failed_runs"] == dg.MetadataValue.int(1)
    assert isinstance(metadata["max_run_duration_seconds"], dg.FloatMetadataValue)
    lag = instance.get_latest_materialization_event(records_key("freshness_lag"))
    assert isinstance(
        lag.asset_materialization.metadata["worst_lag_seconds"], dg.FloatMetadataValue
    )
    mart = instance.get_latest_materialization_event(records_key("fct_asset_service_levels"))
    assert mart.asset_materialization.metadata["dagster/row_count"] == dg.MetadataValue.int(
        len(levels)
    )
    raw = instance.get_latest_materialization_event(STORES).asset_materialization.metadata
    for name in ("rows_read", "rows_loaded", "rows_quarantined", "dagster/row_count"):
        assert isinstance(raw[name], dg.IntMetadataValue), name

    # Again, the Python tables only: the first build's own run joins, nothing else changes.
    orders = {"check_results": "run_id, asset_key, check_name, partition_key, evaluated_at"}
    orders["freshness_lag"] = "asset_key, measured_at"
    before = {name: table(warehouse, name, order) for name, order in orders.items()}
    again = operations.execute_in_process(
        instance=instance,
        tags={AS_OF_TAG: as_of.isoformat()},
        asset_selection=[records_key(t.name) for t in records.TABLES],
    )
    assert again.success
    history_again = {r["run_id"]: r for r in table(warehouse, "run_history", "run_id")}
    assert set(history_again) == set(history) | {first.run_id}
    assert all(history_again[run_id] == row for run_id, row in history.items())
    assert history_again[first.run_id]["job_name"] == operations_job.name
    for name, rows in before.items():
        now = table(warehouse, name, orders[name])
        assert [r for r in now if r.get("run_id") != first.run_id] == rows, name


def records_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, name])


def test_a_run_that_never_started_ends_at_its_last_update_in_utc():
    run = dg.DagsterRun(job_name="daily_job", run_id="r1", status=dg.DagsterRunStatus.FAILURE)
    updated = dt.datetime(2026, 12, 2, 21, 0)  # the run storage's naive UTC
    record = dg.RunRecord(1, run, updated, updated, start_time=None, end_time=None)
    row = records.run_row(record, records.RunEvents())
    assert (row["started_at"], row["ended_at"], row["duration_seconds"]) == (None, updated, None)
    assert (row["status"], row["launched_by"], row["partition_key"]) == ("FAILURE", "other", None)
