"""Declarative automation: the batch dbt models follow their inputs.

Every dbt model outside the live layer carries ``AutomationCondition.eager()`` (set by the
dbt translator, :mod:`data_platform.transformation.dbt_assets`). This sensor evaluates those
conditions every 30 s and launches what they request: after a raw asset is materialized on
its own (from the UI, or by a run that did not include the models), the models below it, in
one go. What a run updates together with its models (the daily job, the landing sensor's
runs) is not requested again, and only the latest daily partition follows by itself: older
partitions are a backfill's (``data-platform run --partition-range``, or the UI).
"""

from __future__ import annotations

from dagster import AutomationConditionSensorDefinition, DefaultSensorStatus

from data_platform.automation.jobs import DBT_MODELS
from data_platform.sources.web_events.jobs import STREAM

BATCH_MODELS = DBT_MODELS - STREAM

dbt_automation_sensor = AutomationConditionSensorDefinition(
    "dbt_automation_sensor",
    target=BATCH_MODELS,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "Evaluates the batch dbt models' automation conditions (eager: after their inputs "
        "update) and launches the models they request."
    ),
)
