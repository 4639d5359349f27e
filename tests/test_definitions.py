"""The code location loads and holds the whole lineage graph the platform promises."""

import json
import subprocess
from pathlib import Path

from dagster import AssetKey, BackfillPolicy

from data_platform.quality import freshness
from data_platform.sources import DATASETS
from data_platform.transformation.dbt_assets import dbt_project
from tests.conftest import BIN, code_location

defs = code_location()

# Derived from the sources: a dataset added to a source is checked here without an edit.
RAW = [d.name for d in DATASETS]
# One staging model per raw dataset, named after it (the dbt Labs convention).
STAGING = [f"stg_{name}" for name in RAW]
MARTS = [
    "dim_customers",
    "dim_products",
    "dim_stores",
    "fct_orders",
    "fct_daily_store_sales",
    "fct_customer_activity",
]
PARTITIONED = {d.name for d in DATASETS if d.partitioned}
REFERENCE = {d.name for d in DATASETS if d.cadence == "on_delivery"}
STREAMING = {d.name for d in DATASETS if d.cadence == "streaming"}


def test_every_asset_exists_with_its_group(graph):
    keys = {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()}
    for name in RAW:
        assert keys[f"raw/{name}"].group_name == "ingestion"
    for name in STAGING:
        assert keys[f"staging/{name}"].group_name == "staging"
    for name in MARTS:
        assert keys[f"marts/{name}"].group_name == "marts"


def test_every_asset_explains_itself(graph):
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.is_materializable, f"{key} is not produced by the platform"
        assert node.description and len(node.description) > 20, f"{key} has no description"
        assert node.owners, f"{key} has no owner"
        assert node.kinds, f"{key} has no kinds"


def test_partitioning(graph):
    for name in RAW:
        node = graph.get(AssetKey(["raw", name]))
        if name in PARTITIONED:
            assert node.partitions_def is not None
            assert node.partitions_def.get_first_partition_key() == "2018-09-01"
        else:
            assert node.partitions_def is None


def test_daily_facts_are_partitioned_like_the_orders(graph):
    orders = graph.get(AssetKey(["raw", "orders"])).partitions_def
    for name in ("fct_orders", "fct_daily_store_sales"):
        node = graph.get(AssetKey(["marts", name]))
        assert node.partitions_def == orders, name
        assert node.backfill_policy == BackfillPolicy.single_run()
    for name in ("dim_customers", "fct_customer_activity", "dim_products"):
        assert graph.get(AssetKey(["marts", name])).partitions_def is None, name


def test_full_refresh_job_rebuilds_every_model_with_full_refresh():
    job = defs.resolve_job_def("full_refresh_job")
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert "marts/fct_orders" in selected and "staging/stg_orders" in selected
    assert not any(key.startswith("raw/") for key in selected)
    ops = job.get_run_config_for_partition_key("2018-09-01")["ops"]
    assert set(ops) == {"transform_dbt", "transform_daily_dbt", "transform_stream_dbt"}
    assert all(op["config"]["full_refresh"] is True for op in ops.values())


def test_freshness_policies_on_raw_ingests_and_marts(graph):
    for name in RAW:
        policy = graph.get(AssetKey(["raw", name])).freshness_policy
        expected = (
            freshness.REFERENCE_INGEST
            if name in REFERENCE
            else freshness.STREAM_INGEST
            if name in STREAMING
            else freshness.DAILY_INGEST
        )
        assert policy == expected
    for mart in ("dim_customers", "dim_products", "dim_stores", "fct_orders"):
        assert graph.get(AssetKey(["marts", mart])).freshness_policy == freshness.MARTS
    assert graph.get(AssetKey(["staging", "stg_orders"])).freshness_policy is None


def test_every_dbt_source_is_a_raw_ingest(graph):
    manifest = json.loads(dbt_project.manifest_path.read_text())
    # The operations tables are sources too, of the operations models (tests/test_operations.py).
    sources = [s for s in manifest["sources"].values() if s["source_name"] == "raw"]
    assert {s["name"] for s in sources} == set(RAW)
    for source in sources:
        key = AssetKey(source["meta"]["dagster"]["asset_key"])
        node = graph.get(key)
        assert node.is_materializable and node.group_name == "ingestion"
        # The staging model reads the raw asset directly: one node per table.
        assert AssetKey(["staging", f"stg_{source['name']}"]) in graph.get(key).child_keys


def test_checks_guard_raw_and_mart_assets(graph):
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    for name in RAW:
        assert (f"raw/{name}", "raw_contract") in checks
    assert ("marts/fct_orders", "unique_fct_orders_order_id") in checks
    assert any(a == "marts/fct_daily_store_sales" for a, _ in checks)
    for check in graph.asset_check_keys:
        if check.name == "raw_contract":
            assert graph.get_check_spec(check).blocking


def test_schedules_sensors_and_jobs():
    assert defs.resolve_schedule_def("daily_schedule").job_name == "daily_job"
    sensor = defs.resolve_sensor_def("landing_sensor")
    assert {j.name for j in sensor.jobs} == {"reference_files_job", "tweets_files_job"}
    for job in (
        "all_assets_job",
        "daily_job",
        "reference_files_job",
        "tweets_files_job",
        "full_refresh_job",
    ):
        assert defs.resolve_job_def(job)


def test_daily_job_reaches_the_marts():
    job = defs.resolve_job_def("daily_job")
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert {"raw/orders", "raw/order_items", "raw/tweets", "raw/customers"} <= selected
    assert {"marts/fct_orders", "marts/fct_daily_store_sales", "marts/dim_customers"} <= selected
    assert "raw/products" not in selected


def test_raw_columns_carry_their_contract_descriptions(graph):
    for dataset in DATASETS:
        node = graph.get(dataset.asset_key)
        assert dataset.description in node.description
        schema = node.metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns][: len(dataset.columns)] == [
            c.name for c in dataset.columns
        ]
        assert all(len(c.description or "") > 10 for c in schema.columns), dataset.name


def test_every_asset_leads_to_its_code(graph):
    for key in graph.get_all_asset_keys():
        references = graph.get(key).metadata["dagster/code_references"].code_references
        assert references, key
        for reference in references:
            assert Path(reference.file_path).is_file(), (key, reference.file_path)


def test_the_last_asset_step_of_a_full_run_is_unpartitioned():
    """Dagster 1.13 takes a run's partitions definition from its last asset step in step-key
    order; a partitioned one there makes every check of a range run planned once per
    partition (transformation/dbt_assets.py: DBT_ASSETS says why). A new partitioned asset
    whose step name sorts after the unpartitioned dbt step fails here."""
    job = defs.resolve_job_def("all_assets_job")
    steps = {
        assets_def.node_def.name: assets_def.partitions_def
        for assets_def in job.asset_layer.asset_graph.assets_defs
        if assets_def.keys and assets_def.is_executable and assets_def.node_def is not None
    }
    last = max(steps)
    assert steps[last] is None, (last, sorted(steps))


def test_prepare_replaces_the_manifest_whole_while_the_code_location_reads_it():
    """``data-platform prepare`` (run by make dev, the tests and a production deploy) while
    processes load the code location: every read of the manifest is a whole one (dbt writes
    its artifacts in place; a run once failed on a half-written manifest), and prepare
    leaves no folder of its own behind."""
    manifest = dbt_project.manifest_path
    target = manifest.parent
    # What a prepare killed mid-parse leaves (its process gone): removed by the next one.
    abandoned = target / f".prepare-{_dead_pid()}-0000000"
    (abandoned / "manifest.json").parent.mkdir(parents=True)
    (abandoned / "manifest.json").write_text("{")
    preparing = subprocess.Popen(
        [str(BIN / "data-platform"), "prepare"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    reads, before = 0, manifest.stat().st_mtime_ns
    while preparing.poll() is None:
        nodes = json.loads(manifest.read_bytes())["nodes"]
        assert any(name.startswith("model.") for name in nodes)
        reads += 1
    output = preparing.stdout.read().decode()
    assert preparing.returncode == 0, output[-2000:]
    assert reads > 10, reads
    assert manifest.stat().st_mtime_ns > before  # prepare did write a manifest
    # Neither the abandoned folder nor this prepare's own is left (another worker's prepare
    # may be running meanwhile: its folder is its own).
    assert not abandoned.exists()
    assert not list(target.glob(f".prepare-{preparing.pid}-*"))


def _dead_pid() -> int:
    """The id of a process that has ended (and was reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
