"""When a batch dbt model follows its inputs: the declarative automation conditions the dbt
translator gives the models (evaluated by ``dbt_automation_sensor``).

- An unpartitioned model is **eager**: it is requested after one of its inputs updates
  (unless the run that updated the input also built the model: the jobs, a full run), once
  its inputs are all built and none is running.
- A daily fact (dbt tag ``daily``) is eager in its latest partition, also requested on the
  daily cron (:data:`data_platform.core.partitions.DAILY_CRON`) once its inputs updated
  after the tick, and **restated in every partition it holds** when an input fed by
  reference data (a dbt source tagged ``reference``: products, stores, supplies) updates:
  store names, product flags and supply costs are current in history. The update counts when
  the run that made it covered no day (see :func:`daily_fact_condition`). Other input updates
  (the orders of one day loaded alone) leave its older partitions to a backfill
  (``data-platform run --partition-range``, or the UI): the staging views between a raw day
  and a fact day are unpartitioned, so the condition cannot tell which days they changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dagster import AssetKey, AssetSelection, AutomationCondition

from data_platform.core.partitions import PARTITION_TAG, RANGE_START_TAG

REFERENCE_TAG = "reference"
PARTITIONED_TAG = "partitioned"


def batch_model_condition(partitioned_inputs: Iterable[AssetKey] = ()) -> AutomationCondition:
    """An unpartitioned batch model's condition: Dagster's ``eager``, where a day missing from
    one of ``partitioned_inputs`` (daily raw assets, dbt sources tagged ``partitioned``) does
    not hold the model back: a day without data is never materialized (the history starts at
    the partitions' start, the test data has gaps), and the model reads the days there are."""
    condition = AutomationCondition.eager()
    inputs = list(partitioned_inputs)
    if not inputs:
        return condition
    return condition.replace(
        "any_deps_missing",
        AutomationCondition.any_deps_missing()
        .ignore(AssetSelection.assets(*inputs))
        .with_label("any_deps_missing"),
    )


def daily_fact_condition(reference_inputs: Iterable[AssetKey], cron: str) -> AutomationCondition:
    """A daily fact's condition: eager in its latest partition, on ``cron`` (UTC), and restated
    in every built partition after an update of one of ``reference_inputs`` (asset keys of
    its direct inputs fed by reference data; none: no restatement)."""
    condition = AutomationCondition.eager() | AutomationCondition.on_cron(cron)
    inputs = list(reference_inputs)
    if not inputs:
        return condition.with_label("daily_fact")
    # Rebuilt by a run that covered no day: a reference change followed by the automation, or
    # a model materialized from the UI. The daily job, the full run and backfills carry a
    # partition (or a range) and restate what they cover themselves; Dagster's
    # executed_with_root_target cannot tell them apart, as a whole job's run records no asset
    # selection.
    updated_outside_a_day = (
        AutomationCondition.newly_updated()
        & ~AutomationCondition.any_new_update_has_run_tags(tag_keys={PARTITION_TAG})
        & ~AutomationCondition.any_new_update_has_run_tags(tag_keys={RANGE_START_TAG})
    ).with_label("updated_by_a_run_without_days")
    reference_updated = (
        AutomationCondition.any_deps_match(updated_outside_a_day)
        .allow(AssetSelection.assets(*inputs))
        .with_label("reference_input_updated")
    )
    restate = (
        reference_updated.since_last_handled()
        & ~AutomationCondition.missing()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("restate_on_reference_change")
    return (condition | restate).with_label("daily_fact")


def partitioned_sources(manifest: Mapping[str, Any], unique_id: str) -> list[str]:
    """The dbt sources tagged :data:`PARTITIONED_TAG` that ``unique_id`` reads directly (unique
    ids, sorted; pure). Raises ``KeyError`` for a node the manifest does not hold."""
    sources = manifest.get("sources", {})
    parents = manifest["nodes"][unique_id]["depends_on"]["nodes"]
    return sorted(p for p in parents if PARTITIONED_TAG in sources.get(p, {}).get("tags", []))


def reference_fed_parents(manifest: Mapping[str, Any], unique_id: str) -> list[str]:
    """The direct parent models of ``unique_id`` (dbt unique ids, sorted) whose lineage,
    through models only, reaches a dbt source tagged :data:`REFERENCE_TAG` (pure;
    unit-tested). Raises ``KeyError`` for a node the manifest does not hold."""
    nodes, sources = manifest.get("nodes", {}), manifest.get("sources", {})
    fed: dict[str, bool] = {}

    def is_fed(node_id: str) -> bool:
        if node_id in sources:
            return REFERENCE_TAG in sources[node_id].get("tags", [])
        node = nodes.get(node_id)
        if node is None or node.get("resource_type") != "model":
            return False
        if node_id not in fed:
            fed[node_id] = False  # a cycle (dbt forbids them) ends here
            fed[node_id] = any(is_fed(p) for p in node["depends_on"]["nodes"])
        return fed[node_id]

    parents = nodes[unique_id]["depends_on"]["nodes"]
    return sorted(p for p in parents if p in nodes and is_fed(p))
