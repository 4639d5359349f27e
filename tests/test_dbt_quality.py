"""Data quality on the dbt side: mart contracts, tests as asset checks with the severity they
declare, singular tests attached to one model, schema-change checks in every job; and, end to
end, a daily run that checks each model in the step that builds it."""

import duckdb
import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
)

from data_platform.transformation.dbt_assets import (
    DBT_ASSETS,
    DBT_STEPS,
    MART_PREFIXES,
    DbtBuildConfig,
    build_args,
    contract_schema,
    dbt_test_severity,
)
from tests.conftest import SETTINGS, code_location
from tests.mart_compare import MART_KEYS

defs = code_location()

MARTS = set(MART_KEYS)
JOBS = [
    "all_assets_job",
    "daily_job",
    "reference_files_job",
    "tweets_files_job",
    "full_refresh_job",
]
# The landing sensor's jobs: raw assets only, the models follow by declarative automation.
RAW_ONLY_JOBS = {"reference_files_job", "tweets_files_job"}


def dbt_tests(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]


def check_keys_of(graph, test: dict) -> list[AssetCheckKey]:
    return [key for key in graph.asset_check_keys if key.name == test["name"]]


def test_every_mart_has_an_enforced_contract_with_every_column_typed(manifest):
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert MARTS <= set(models)
    for name in MARTS:
        model = models[name]
        assert model["config"]["contract"]["enforced"], name
        assert model["columns"], name
        untyped = [c for c, props in model["columns"].items() if not props.get("data_type")]
        assert not untyped, (name, untyped)


def test_every_dbt_test_is_one_check_blocking_unless_it_warns(manifest, graph):
    severities = set()
    for test in dbt_tests(manifest):
        keys = check_keys_of(graph, test)
        assert len(keys) == 1, (test["name"], keys)
        severity = dbt_test_severity(test)
        severities.add(severity)
        assert graph.get_check_spec(keys[0]).blocking == (severity == "error"), test["name"]
    assert severities == {"error", "warn"}


def test_referential_integrity_of_staging(manifest, graph):
    relationships = {
        (t["attached_node"].split(".")[-1], t["column_name"], t["refs"][0]["name"]): t
        for t in dbt_tests(manifest)
        if t.get("test_metadata", {}).get("name") == "relationships"
    }
    expected = {
        ("stg_orders", "customer_id", "stg_customers"): "error",
        ("stg_orders", "store_id", "stg_stores"): "error",
        ("stg_order_items", "order_id", "stg_orders"): "error",
        ("stg_order_items", "sku", "stg_products"): "error",
        ("stg_supplies", "sku", "stg_products"): "error",
        ("stg_tweets", "customer_id", "stg_customers"): "warn",
    }
    for (model, column, to), severity in expected.items():
        test = relationships[(model, column, to)]
        assert dbt_test_severity(test) == severity
        (key,) = check_keys_of(graph, test)
        assert key.asset_key == AssetKey(["staging", model])


def test_singular_tests_check_one_model_in_the_step_that_builds_it(manifest, graph):
    singular = [t for t in dbt_tests(manifest) if not t.get("attached_node")]
    assert len(singular) >= 3
    steps = {
        a.node_def.name: a
        for a in defs.assets
        if isinstance(a, AssetsDefinition) and a.is_executable and a.node_def.name in DBT_STEPS
    }
    assert len(steps) == 3
    for test in singular:
        (key,) = check_keys_of(graph, test)
        ref = test["config"]["meta"]["dagster"]["ref"]["name"]
        assert key.asset_key.path[-1] == ref, test["name"]
        # The check runs in the step that builds the model it is attached to, and every other
        # model it reads is built by that step or upstream of it.
        (step,) = [name for name, s in steps.items() if key in s.check_keys]
        assert key.asset_key in steps[step].keys
        if step == DBT_ASSETS:
            parents = {p.split(".")[-1] for p in test["depends_on"]["nodes"]}
            assert not parents & {"fct_orders", "fct_daily_store_sales"}, test["name"]


@pytest.mark.parametrize("job_name", JOBS)
def test_jobs_run_the_schema_change_check_of_every_mart_they_build(job_name):
    job_graph = defs.resolve_job_def(job_name).asset_layer.asset_graph
    executable = [k for k in job_graph.get_all_asset_keys() if job_graph.get(k).is_executable]
    # Every mart (dim_*, fct_*), the stream marts among them.
    marts = {
        key
        for key in executable
        if key.path[0] == "marts" and key.path[-1].startswith(MART_PREFIXES)
    }
    raw = {key for key in executable if key.path[0] == "raw"}
    assert (raw and not marts) if job_name in RAW_ONLY_JOBS else marts
    schema_checks = {
        k.asset_key for k in job_graph.asset_check_keys if k.name == "column_schema_change"
    }
    assert schema_checks == marts | raw


def test_dbt_build_arguments_with_test_selection():
    assert build_args(DbtBuildConfig(), indirect_selection="buildable") == [
        "build",
        "--indirect-selection",
        "buildable",
    ]


def test_full_run_records_column_schemas_and_checks_them(full_run, manifest):
    assert full_run.returncode == 0, full_run.stdout[-3000:]
    instance = DagsterInstance.get()
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for mart in MARTS:
        key = AssetKey(["marts", mart])
        metadata = instance.get_latest_materialization_event(key).asset_materialization.metadata
        assert "dagster/column_schema" in metadata, mart
        schema = metadata["dagster/column_schema"].value
        assert [c.name for c in schema.columns] == list(models[mart]["columns"]), mart
        record = instance.get_latest_asset_check_evaluation_record(
            AssetCheckKey(key, "column_schema_change")
        )
        assert record is not None and record.status.value == "SUCCEEDED", mart


def test_daily_run_checks_each_model_in_its_own_step(full_run):
    """The daily job on a day whose orders fct_orders does not hold yet (as when the day is
    new): the reconciliation of dim_customers with fct_orders runs in the daily step, after
    fct_orders holds the day, so it passes. A tweet by a user who is not a customer fails the
    warn-severity relationships check without failing the run."""
    assert full_run.returncode == 0, full_run.stdout[-3000:]
    warehouse = SETTINGS.warehouse.path
    with duckdb.connect(warehouse) as conn:
        (day,) = conn.execute("select max(order_date) from marts.fct_orders").fetchone()
        (tweet_day,) = conn.execute("select min(tweet_date) from staging.stg_tweets").fetchone()
        conn.execute("delete from marts.fct_orders where order_date = ?", [day])
        # On an earlier day than the run's, so the run's load of raw/tweets keeps it.
        conn.execute(
            "insert into raw.tweets select * replace ('not-a-customer' as user_id, "
            "'tweet-by-a-stranger' as id) from raw.tweets "
            "where cast(tweeted_at as date) = ? limit 1",
            [tweet_day],
        )
    assert tweet_day < day
    try:
        result = defs.resolve_job_def("daily_job").execute_in_process(
            instance=DagsterInstance.get(), partition_key=day.isoformat(), raise_on_error=False
        )
    finally:
        with duckdb.connect(warehouse) as conn:
            conn.execute("delete from raw.tweets where id = 'tweet-by-a-stranger'")
    assert result.success
    evaluations = {
        e.asset_check_key.to_user_string(): e for e in result.get_asset_check_evaluations()
    }
    reconcile = evaluations["marts/fct_orders:fct_orders_reconcile_with_dim_customers"]
    assert reconcile.passed and reconcile.blocking
    failed = [name for name, e in evaluations.items() if not e.passed]
    assert failed == [
        "staging/stg_tweets:relationships_stg_tweets_customer_id__customer_id__ref_stg_customers_"
    ]
    stranger = evaluations[failed[0]]
    assert stranger.severity == AssetCheckSeverity.WARN and not stranger.blocking
    with duckdb.connect(warehouse, read_only=True) as conn:
        restored = conn.execute(
            "select count(*) from marts.fct_orders where order_date = ?", [day]
        ).fetchone()
    assert restored[0] > 0


def test_contract_schema_is_the_declared_columns_of_a_contracted_model():
    node = {
        "config": {"contract": {"enforced": True}},
        "columns": {
            "id": {"data_type": "text", "description": "key"},
            "n": {"data_type": "bigint"},
        },
    }
    schema = contract_schema(node)
    assert [(c.name, c.type) for c in schema.columns] == [("id", "text"), ("n", "bigint")]
    assert contract_schema({"config": {}, "columns": node["columns"]}) is None
