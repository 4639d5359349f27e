"""Declarative automation: the batch dbt models follow their inputs.

Every dbt model outside the live layer carries an automation condition (set by the dbt
translator; see :mod:`data_platform.transformation.automation_conditions`). This sensor
evaluates them every 30 s and launches what they request: after the landing sensor's
raw-only runs, or a raw asset materialized on its own from the UI, the models below it; a
request for several days of a daily fact becomes one backfill (one run, as the facts'
backfill policy says). What a run updates together with its models (the daily job, a full
run) is not requested again.
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
        "Evaluates the batch dbt models' automation conditions (eager after their inputs "
        "update; the daily facts also on their cron, and restated over their history after "
        "a reference change) and launches what they request."
    ),
)
