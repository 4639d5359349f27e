"""What the Dagster UI shows of the dbt assets: row counts of the built tables (counted by dbt
as it builds them, attached as its events stream in), descriptions from the dbt docs, code references to the model files, no
unserializable DbtProject entry; and how a range run records the dbt checks."""

import csv
import datetime as dt
import json
import logging
import os
import re
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetObservation,
    CodeReferencesMetadataValue,
    DagsterInstance,
    LocalFileCodeReference,
    MetadataValue,
    Output,
    TableSchema,
)
from dagster_dbt import DbtProject

from data_platform.core.settings import DBT_PROJECT_DIR
from data_platform.transformation.dbt_assets import (
    DAILY_DBT_ASSETS,
    DAILY_TAG,
    DBT_PROJECT_METADATA_KEY,
    OPERATIONS_TAG,
    STREAM_TAG,
    PlatformDbtTranslator,
    run_dbt,
)
from data_platform.transformation.row_counts import (
    PARTITION_WINDOW,
    ROW_COUNT,
    ROWS_IN_WINDOW,
    LoggedCount,
    PartitionWindow,
    RowCounts,
    counted_events,
    is_counted,
    logged_count,
    row_count_metadata,
)
from tests.conftest import SETTINGS, code_location

defs = code_location()

# Metadata entries dagster-dbt fills with Python objects and the UI hides.
HIDDEN_BY_THE_UI = {"dagster_dbt/manifest", "dagster_dbt/dagster_dbt_translator"}
# Raw metadata values Dagster can serialize (anything else shows as "(unserializable)").
SERIALIZABLE = (
    MetadataValue,
    str,
    int,
    float,
    bool,
    list,
    dict,
    os.PathLike,
    AssetKey,
    TableSchema,
)
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
LOG = logging.getLogger(__name__)


def models(manifest: dict) -> dict[AssetKey, dict]:
    """The dbt models by asset key (``<schema>/<name>``)."""
    return {
        AssetKey([n["schema"], n["name"]]): n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model"
    }


# --- metadata, descriptions, code references (definitions only) ---------------------------


def test_no_asset_metadata_value_is_a_dbt_project(graph, manifest):
    for key in models(manifest):
        metadata = graph.get(key).metadata
        assert DBT_PROJECT_METADATA_KEY not in metadata, key
        assert not any(isinstance(v, DbtProject) for v in metadata.values()), key
        unserializable = {k for k, v in metadata.items() if not isinstance(v, SERIALIZABLE)}
        assert unserializable <= HIDDEN_BY_THE_UI, (key, unserializable)


def test_descriptions_are_the_dbt_docs_not_the_sql(graph, manifest):
    for key, model in models(manifest).items():
        description = graph.get(key).description
        assert description == model["description"].strip(), key
        assert not re.search(r"\bselect\b|\{\{|Raw SQL", description, re.IGNORECASE), key


def test_an_undocumented_model_says_so_and_where_its_code_is():
    description = PlatformDbtTranslator().get_description(
        {
            "resource_type": "model",
            "name": "stg_new",
            "description": " ",
            "original_file_path": "models/staging/stg_new.sql",
        }
    )
    assert "stg_new" in description and "models/staging/stg_new.sql" in description
    assert len(description) > 20


def test_every_dbt_asset_references_its_sql_file(graph, manifest):
    for key, model in models(manifest).items():
        value = graph.get(key).metadata.get("dagster/code_references")
        assert isinstance(value, CodeReferencesMetadataValue), key
        files = [r for r in value.code_references if isinstance(r, LocalFileCodeReference)]
        assert len(files) == 1, key
        path = Path(files[0].file_path)
        assert path.is_absolute() and path.is_file(), path
        assert path == (DBT_PROJECT_DIR / model["original_file_path"]).resolve()
        assert path.suffix == ".sql"


def test_specs_resolve_at_run_time_without_a_project_in_the_metadata(manifest):
    """dagster-dbt reads the project back from the asset metadata during a run; without the
    entry it passes None, and the spec (with its code reference) must still resolve."""
    translator = PlatformDbtTranslator()
    unique_id = "model.data_platform.dim_customers"
    spec = translator.get_asset_spec(manifest, unique_id, None)
    assert spec.key == AssetKey(["marts", "dim_customers"])
    assert "dagster/code_references" in spec.metadata


# --- row counts (pure, and against a scratch DuckDB file) ---------------------------------

TABLE = {
    "unique_id": "model.p.dim_things",
    "resource_type": "model",
    "schema": "marts",
    "alias": "dim_things",
    "config": {"materialized": "table"},
}
DAILY = {
    "unique_id": "model.p.fct_events",
    "resource_type": "model",
    "schema": "marts",
    "alias": "fct_events",
    "tags": [DAILY_TAG],
    "config": {"materialized": "incremental", "partition_column": "event_date"},
}
VIEW = {
    **TABLE,
    "unique_id": "model.p.stg_things",
    "schema": "staging",
    "alias": "stg_things",
    "config": {"materialized": "view"},
}
ONE_DAY = PartitionWindow(dt.date(2018, 9, 2), dt.date(2018, 9, 2))
THREE_DAYS = PartitionWindow(dt.date(2018, 9, 1), dt.date(2018, 9, 3))


def test_tables_and_incremental_models_are_counted_views_are_not():
    assert is_counted(TABLE) and is_counted(DAILY)
    assert not is_counted(VIEW)
    assert not is_counted({**TABLE, "resource_type": "seed"})


def count_line(report: object, name: str = "JinjaLogInfo") -> dict:
    """A dbt JSON log event as macros/row_count.sql makes it (``report``: its JSON part)."""
    text = report if isinstance(report, str) else json.dumps(report)
    return {"info": {"name": name}, "data": {"msg": f"data_platform row count {text}"}}


def test_logged_count_reads_the_macros_line_and_nothing_else():
    whole = {"unique_id": TABLE["unique_id"], "row_count": 7, "window": None}
    assert logged_count(count_line(whole)) == LoggedCount(TABLE["unique_id"], 7, None)
    windowed = {
        "unique_id": DAILY["unique_id"],
        "row_count": 3,
        "window": ["2018-09-01", "2018-09-03"],
    }
    assert logged_count(count_line(windowed)) == LoggedCount(DAILY["unique_id"], 3, THREE_DAYS)
    # Another event, another message of dbt's log, a count line that does not parse: none.
    assert logged_count(count_line(whole, name="JinjaLogDebug")) is None
    assert logged_count({"info": {"name": "JinjaLogInfo"}, "data": {"msg": "7 rows"}}) is None
    assert logged_count(count_line("{not json")) is None
    assert logged_count(count_line({"unique_id": "x", "row_count": "many", "window": None})) is None
    assert (
        logged_count(count_line({"unique_id": "x", "row_count": 1, "window": ["x", "y"]})) is None
    )
    assert logged_count({"info": {"name": "NodeFinished"}, "data": {}}) is None


def test_a_daily_fact_reports_dagster_row_count_for_one_partition_only():
    assert row_count_metadata(TABLE, 7, None) == {ROW_COUNT: MetadataValue.int(7)}
    one = row_count_metadata(DAILY, 5, ONE_DAY)
    assert one[ROW_COUNT] == MetadataValue.int(5) and one[ROWS_IN_WINDOW].value == 5
    three = row_count_metadata(DAILY, 12, THREE_DAYS)
    assert ROW_COUNT not in three
    assert three[ROWS_IN_WINDOW].value == 12
    assert three[PARTITION_WINDOW].value == "2018-09-01...2018-09-03"


def materialization(node: dict) -> Output:
    return Output(None, output_name=node["alias"], metadata={"unique_id": node["unique_id"]})


class Message:
    """A dagster-dbt message: a count line (a dict) or a node result that dagster-dbt
    translates to ``event``."""

    def __init__(self, event: object) -> None:
        line = isinstance(event, dict)
        self.raw_event = event if line else {"info": {"name": "NodeFinished"}, "data": {}}
        self.result = None if line else event

    def to_default_asset_events(self, **_) -> list:
        return [] if self.result is None else [self.result]


message = Message


def translated(message: Message) -> list:
    return message.to_default_asset_events()


def test_counts_are_attached_to_the_materializations_as_they_come():
    manifest = {"nodes": {n["unique_id"]: n for n in (TABLE, DAILY, VIEW)}}
    observation = AssetObservation(asset_key="x")
    daily = {
        "unique_id": DAILY["unique_id"],
        "row_count": 3,
        "window": ["2018-09-01", "2018-09-03"],
    }
    table = {"unique_id": TABLE["unique_id"], "row_count": 7, "window": None}
    messages = [
        message(materialization(VIEW)),
        message(count_line(daily)),
        message(materialization(DAILY)),
        message(observation),
        message(count_line(table)),
        message(materialization(TABLE)),
    ]
    seen = []

    def consumed():  # what dbt has reported by the time each event is yielded
        for m in messages:
            seen.append(m)
            yield m

    out = []
    for event in counted_events(consumed(), translated, RowCounts(manifest, THREE_DAYS, LOG)):
        out.append((event, len(seen)))
    assert [e.output_name if isinstance(e, Output) else e for e, _ in out] == [
        "stg_things",
        "fct_events",
        observation,
        "dim_things",
    ]
    # Each event leaves as soon as dbt reported it, not when dbt ends.
    assert [reported for _, reported in out] == [1, 3, 4, 6]
    # The view is not counted.
    assert out[0][0].metadata == messages[0].result.metadata
    assert out[1][0].metadata[ROWS_IN_WINDOW].value == 3 and ROW_COUNT not in out[1][0].metadata
    assert out[1][0].metadata[PARTITION_WINDOW].value == "2018-09-01...2018-09-03"
    assert out[3][0].metadata[ROW_COUNT].value == 7


def test_a_count_not_logged_for_the_steps_window_keeps_the_event_without_counts(caplog):
    missing = {**TABLE, "unique_id": "model.p.gone", "alias": "gone"}
    manifest = {"nodes": {n["unique_id"]: n for n in (TABLE, DAILY, missing)}}
    # The daily fact counted whole, while the step's window is three days: not its count.
    whole = {"unique_id": DAILY["unique_id"], "row_count": 5, "window": None}
    events = [materialization(TABLE), materialization(missing), materialization(DAILY)]
    messages = [message(count_line(whole)), *map(message, events)]
    with caplog.at_level(logging.WARNING):
        out = list(counted_events(messages, translated, RowCounts(manifest, THREE_DAYS, LOG)))
    assert [e.metadata for e in out] == [e.metadata for e in events]
    assert "model.p.dim_things, model.p.fct_events, model.p.gone not recorded" in caplog.text


def test_run_dbt_yields_what_dbt_produced_then_raises_its_error():
    manifest = {"nodes": {TABLE["unique_id"]: TABLE}}

    class FailingBuild:
        dagster_dbt_translator = None
        target_path = Path("target")

        def stream_raw_events(self):
            yield message(
                count_line({"unique_id": TABLE["unique_id"], "row_count": 7, "window": None})
            )
            yield message(materialization(TABLE))
            raise RuntimeError("dbt build failed")

    context = SimpleNamespace(log=LOG)
    produced = []
    with pytest.raises(RuntimeError, match="dbt build failed"):
        produced.extend(run_dbt(context, FailingBuild(), manifest))
    assert len(produced) == 1 and produced[0].metadata[ROW_COUNT].value == 7


# --- after the session's full run ---------------------------------------------------------


def full_run_id(full_run) -> str:
    assert full_run.returncode == 0, full_run.stdout[-3000:]
    (run_id,) = re.findall(r"^run ([0-9a-f-]{36}): SUCCESS", full_run.stdout, re.MULTILINE)
    return run_id


def warehouse_count(sql: str, *params) -> int:
    with duckdb.connect(SETTINGS.warehouse.path, read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchone()[0]


def run_materializations(instance: DagsterInstance, key: AssetKey, run_id: str) -> list:
    records = instance.fetch_materializations(key, limit=1000).records
    return [r for r in records if r.run_id == run_id]


def test_dim_customers_row_count_is_the_number_of_customers(full_run, seeded):
    """One row per customer of the shop database: the seeded CSV's rows, counted here."""
    full_run_id(full_run)
    with (seeded / "raw_customers.csv").open(newline="") as handle:
        customers = sum(1 for _ in csv.DictReader(handle))
    event = DagsterInstance.get().get_latest_materialization_event(
        AssetKey(["marts", "dim_customers"])
    )
    assert event.asset_materialization.metadata[ROW_COUNT].value == customers
    assert warehouse_count("select count(*) from marts.dim_customers") == customers


def test_full_run_counts_every_table_and_no_view(full_run, manifest):
    run_id = full_run_id(full_run)
    instance = DagsterInstance.get()
    run = instance.get_run_by_id(run_id)
    first, last = run.tags[RANGE_START], run.tags[RANGE_END]
    assert first != last
    for key, model in models(manifest).items():
        if STREAM_TAG in model["tags"]:
            continue  # built by the stream's micro-batch runs, not the batch (test_web_events)
        if OPERATIONS_TAG in model["tags"]:
            continue  # built by operations_job on its schedule, not the data runs
        records = run_materializations(instance, key, run_id)
        assert records, key
        table = f'"{model["schema"]}"."{model["alias"]}"'
        if not is_counted(model):
            for record in records:
                metadata = record.asset_materialization.metadata
                assert ROW_COUNT not in metadata and ROWS_IN_WINDOW not in metadata, key
        elif DAILY_TAG in model["tags"]:
            # A range run: one materialization per partition, each carrying the window's
            # count (Dagster copies it), none claiming it as the partition's row count.
            column = model["config"]["partition_column"]
            expected = warehouse_count(
                f'select count(*) from {table} where "{column}" between ? and ?', first, last
            )
            assert (
                len(records)
                == (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1
            )
            for record in records:
                metadata = record.asset_materialization.metadata
                assert ROW_COUNT not in metadata, key
                assert metadata[ROWS_IN_WINDOW].value == expected, key
                assert metadata[PARTITION_WINDOW].value == f"{first}...{last}", key
        else:
            (record,) = records
            expected = warehouse_count(f"select count(*) from {table}")
            assert record.asset_materialization.metadata[ROW_COUNT].value == expected, key


def test_a_one_day_run_reports_the_days_row_count(full_run):
    """The daily facts alone for the full run's last day: ``dagster/row_count`` is the day's."""
    run_id = full_run_id(full_run)
    instance = DagsterInstance.get()
    day = instance.get_run_by_id(run_id).tags[RANGE_END]
    facts = [AssetKey(["marts", "fct_orders"]), AssetKey(["marts", "fct_daily_store_sales"])]
    result = defs.resolve_job_def("daily_job").execute_in_process(
        instance=instance, partition_key=day, asset_selection=facts, raise_on_error=False
    )
    assert result.success
    counted = {
        m.asset_key: m.metadata for m in result.asset_materializations_for_node(DAILY_DBT_ASSETS)
    }
    assert set(counted) == set(facts)
    for key, metadata in counted.items():
        expected = warehouse_count(
            f'select count(*) from "marts"."{key.path[-1]}" where order_date = ?', day
        )
        assert expected > 0
        assert metadata[ROW_COUNT].value == expected, key
        assert metadata[ROWS_IN_WINDOW].value == expected, key


# --- how a range run records the dbt checks ----------------------------------------------


def test_dbt_checks_evaluate_once_per_run_so_their_specs_are_unpartitioned(graph, manifest):
    """A dbt test runs once per ``dbt build``, over the table or the run's window; a check
    spec with the asset's partitions would be planned once per partition of a range run, and
    every planned execution but none would end as "Skipped"."""
    dbt_assets = set(models(manifest))
    checks = [k for k in graph.asset_check_keys if k.asset_key in dbt_assets]
    assert checks
    for key in checks:
        assert graph.get_check_spec(key).partitions_def is None, key


def test_a_range_run_records_one_execution_per_check(full_run):
    """Dagster 1.13 plans every check of a run once per partition of the run's range when the
    run's last asset step in step-key order is partitioned; the unpartitioned dbt step is named
    to sort last (transformation/dbt_assets.py: DBT_ASSETS). Fails if a step sorting after it
    is partitioned, or the check would show Skipped executions beside its result."""
    run_id = full_run_id(full_run)
    instance = DagsterInstance.get()
    key = AssetCheckKey(AssetKey(["marts", "dim_customers"]), "unique_dim_customers_customer_key")
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=1000)
    statuses = [r.status.value for r in history if r.run_id == run_id]
    assert statuses == ["SUCCEEDED"]
