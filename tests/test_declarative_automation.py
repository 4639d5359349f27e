"""Declarative automation: the batch models follow a raw asset materialized on its own, once.

A state folder with the session's seeded sources, the batch side built in-process on an
instance of its own; then Dagster's evaluation of the automation conditions (what the
``dbt_automation_sensor`` does every 30 s), with its cursor carried from one evaluation to
the next as the sensor carries it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import AssetKey, AssetSelection, DagsterInstance, evaluate_automation_conditions

from data_platform.automation.declarative import BATCH_MODELS
from data_platform.core.settings import HOME, Settings
from data_platform.headless import execute
from tests import in_process
from tests.conftest import SETTINGS

CUSTOMERS = AssetKey(["raw", "customers"])


def test_models_follow_a_raw_asset_materialized_alone_and_only_once(tmp_path, seeded):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(SETTINGS.home / "shop.db", home / "shop.db")
    shutil.copytree(Path(SETTINGS.lake_url) / "landing", home / "lake" / "landing")
    platform = in_process.Platform(Settings.from_environ({HOME: str(home)}))
    instance: DagsterInstance = platform.instance
    assert execute(platform.settings, instance=instance).success
    graph = platform.defs.resolve_asset_graph()
    models = BATCH_MODELS.resolve(graph)

    def evaluate(cursor):
        result = evaluate_automation_conditions(
            defs=platform.defs, instance=instance, asset_selection=BATCH_MODELS, cursor=cursor
        )
        return result, {key for key in models if result.get_num_requested(key)}

    # The first evaluation only takes stock: a built platform needs nothing.
    result, requested = evaluate(None)
    assert requested == set()

    # raw/customers materialized alone (as from the UI): the models below it follow, the
    # unpartitioned ones (the daily ones' latest partition has no raw data in the seeded
    # history, so eager leaves it, as it leaves older partitions to backfills).
    assert platform.materialize([CUSTOMERS]).success
    result, requested = evaluate(result.cursor)
    # Expected: the unpartitioned models reached from raw/customers through such models only
    # (not through raw/orders, which depends on it for its reference check and was not run).
    expected: set[AssetKey] = set()
    frontier = {CUSTOMERS}
    while frontier:
        children = (AssetSelection.assets(*frontier).downstream(depth=1) & BATCH_MODELS).resolve(
            graph
        )
        frontier = {k for k in children if graph.get(k).partitions_def is None} - expected
        expected |= frontier
    assert expected and requested == expected
    assert AssetKey(["marts", "dim_customers"]) in requested

    # Once they are built, nothing is requested again for the same change.
    assert platform.materialize(sorted(requested)).success
    result, requested = evaluate(result.cursor)
    assert requested == set()

    # A run that materializes the raw asset together with its models (as the jobs and the
    # landing sensor's runs do) leaves nothing for the automation to do.
    assert platform.materialize([CUSTOMERS, *sorted(expected)]).success
    result, requested = evaluate(result.cursor)
    assert requested == set()
