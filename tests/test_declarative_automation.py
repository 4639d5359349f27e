"""Declarative automation: the batch models follow raw assets materialized on their own, once.

A copy of the session's state folder after its full run, with its instance; then Dagster's evaluation of the automation conditions (what the
``dbt_automation_sensor`` does every 30 s), with its cursor carried from one evaluation to
the next as the sensor carries it.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, evaluate_automation_conditions

from data_platform.automation.declarative import BATCH_MODELS
from data_platform.core.partitions import DAILY_CRON, partition_range_tags
from data_platform.core.settings import HOME, Settings
from data_platform.resources.dbt import dbt_project
from data_platform.sources.landing.jobs import REFERENCE_RAW
from data_platform.transformation.automation_conditions import reference_fed_parents
from tests import in_process
from tests.conftest import SETTINGS

CUSTOMERS = AssetKey(["raw", "customers"])
PRODUCTS = AssetKey(["raw", "products"])
ORDERS = AssetKey(["raw", "orders"])
FCT_ORDERS = AssetKey(["marts", "fct_orders"])
FCT_STORE_SALES = AssetKey(["marts", "fct_daily_store_sales"])


class Automation:
    """A built platform of its own and the automation sensor's evaluations over it."""

    def __init__(self, home: Path):
        self.platform = in_process.Platform(Settings.from_environ({HOME: str(home)}))
        # The state folder's own instance (its history: what the full run built).
        self.instance = DagsterInstance.from_config(str(self.platform.settings.dagster_home))
        self.platform.instance = self.instance
        self.graph = self.platform.defs.resolve_asset_graph()
        self.models = BATCH_MODELS.resolve(self.graph)
        self.cursor = None
        # The first evaluation only takes stock: a built platform needs nothing.
        assert self.evaluate() == {}

    def evaluate(self) -> dict[AssetKey, set[str | None]]:
        """One evaluation, as a sensor tick: what it requests, partitions by asset."""
        result = evaluate_automation_conditions(
            defs=self.platform.defs,
            instance=self.instance,
            asset_selection=BATCH_MODELS,
            cursor=self.cursor,
        )
        self.cursor = result.cursor
        return {
            key: set(result.get_requested_partitions(key))
            for key in self.models
            if result.get_num_requested(key)
        }

    def unpartitioned_below(self, start: AssetKey) -> set[AssetKey]:
        """The batch models reached from ``start`` through unpartitioned models only (not
        through the other raw assets, which depend on reference data for their checks)."""
        found: set[AssetKey] = set()
        frontier = {start}
        while frontier:
            children = (
                AssetSelection.assets(*frontier).downstream(depth=1) & BATCH_MODELS
            ).resolve(self.graph)
            frontier = {k for k in children if self.graph.get(k).partitions_def is None} - found
            found |= frontier
        return found


@pytest.fixture(scope="module")
def automation(tmp_path_factory, full_run) -> Automation:
    """A copy of the session's state folder after its full run (warehouse, lake, instance),
    so the runs here leave the session's state as the other tests expect it."""
    assert full_run.returncode == 0, full_run.stdout[-3000:]
    home = tmp_path_factory.mktemp("automation") / "home"
    shutil.copytree(SETTINGS.home, home, ignore=shutil.ignore_patterns("logs", "*.lock"))
    return Automation(home)


def test_models_follow_a_raw_asset_materialized_alone_and_only_once(automation):
    platform = automation.platform
    # raw/customers materialized alone (as from the UI): the models below it follow, the
    # unpartitioned ones (no daily fact is below it).
    assert platform.materialize([CUSTOMERS]).success
    requested = automation.evaluate()
    expected = automation.unpartitioned_below(CUSTOMERS)
    assert expected and set(requested) == expected
    assert AssetKey(["marts", "dim_customers"]) in requested

    # Once they are built, nothing is requested again for the same change.
    assert platform.materialize(sorted(requested)).success
    assert automation.evaluate() == {}

    # A run that materializes the raw asset together with its models (as the jobs and the
    # full run do) leaves nothing for the automation to do.
    assert platform.materialize([CUSTOMERS, *sorted(expected)]).success
    assert automation.evaluate() == {}


def test_a_reference_change_restates_every_day_the_facts_hold_once(automation):
    platform, instance = automation.platform, automation.instance
    built = instance.get_materialized_partitions(FCT_ORDERS)
    assert len(built) >= 40  # the seeded history
    # raw/products alone, as the landing sensor's reference run materializes it.
    assert PRODUCTS in REFERENCE_RAW.resolve(automation.graph)
    assert platform.materialize([PRODUCTS]).success
    # First the unpartitioned models below products (a daily fact cannot run with them:
    # another partitioning); none of them twice.
    requested = automation.evaluate()
    assert set(requested) == automation.unpartitioned_below(PRODUCTS)
    assert platform.materialize(sorted(requested)).success
    # Then fct_orders (priced through int_order_items_priced) in every day it holds, with
    # the latest day (eager); the store sales are not below products.
    requested = automation.evaluate()
    latest = automation.graph.get(FCT_ORDERS).partitions_def.get_last_partition_key()
    assert requested == {FCT_ORDERS: built | {latest}}

    # Materialized as the backfill of the request does, a range run per contiguous range
    # (the seeded days, then the latest day, years later): nothing more.
    days = sorted(built)
    assert platform.materialize([FCT_ORDERS], tags=partition_range_tags(days[0], days[-1])).success
    assert platform.materialize([FCT_ORDERS], partition=dt.date.fromisoformat(latest)).success
    assert automation.evaluate() == {}


def test_the_daily_job_leaves_nothing_for_the_automation(automation):
    platform = automation.platform
    day = max(automation.instance.get_materialized_partitions(FCT_ORDERS))
    job = platform.defs.resolve_job_def("daily_job")
    result = job.execute_in_process(
        instance=automation.instance, partition_key=day, raise_on_error=False
    )
    assert result.success
    assert ORDERS in {m.asset_key for m in result.asset_materializations_for_node("raw__orders")}
    assert automation.evaluate() == {}


def test_reference_fed_parents_follow_models_to_tagged_sources():
    manifest = {
        "sources": {
            "source.p.raw.products": {"tags": ["reference"]},
            "source.p.raw.orders": {"tags": []},
        },
        "nodes": {
            "model.p.stg_products": model("source.p.raw.products"),
            "model.p.stg_orders": model("source.p.raw.orders"),
            "model.p.int_priced": model("model.p.stg_products", "model.p.stg_orders"),
            "seed.p.calendar": {"resource_type": "seed", "depends_on": {"nodes": []}},
            "model.p.fct": model("model.p.int_priced", "model.p.stg_orders", "seed.p.calendar"),
        },
    }
    assert reference_fed_parents(manifest, "model.p.fct") == ["model.p.int_priced"]
    assert reference_fed_parents(manifest, "model.p.stg_orders") == []
    # This project's daily facts: priced by the products and taxed by the stores of the day,
    # named by the stores.
    real = json.loads(dbt_project.manifest_path.read_text())
    parents = {
        name: [p.split(".")[-1] for p in reference_fed_parents(real, f"model.data_platform.{name}")]
        for name in ("fct_orders", "fct_daily_store_sales")
    }
    assert parents == {
        "fct_orders": ["dim_stores_history", "int_order_items_priced"],
        "fct_daily_store_sales": ["stg_stores"],
    }


def model(*parents: str) -> dict:
    return {"resource_type": "model", "depends_on": {"nodes": list(parents)}}


def test_the_daily_cron_is_the_daily_schedules(automation):
    schedule = automation.platform.defs.resolve_schedule_def("daily_schedule")
    assert schedule.cron_schedule == DAILY_CRON
