"""A test-only code location for tests/test_alerts.py: one sensor that raises while the file
named by ``ALERT_TEST_FLAG`` exists, ticked by a real ``dagster-daemon`` in its own process."""

import os
from pathlib import Path

import dagster as dg


@dg.sensor(minimum_interval_seconds=3, default_status=dg.DefaultSensorStatus.RUNNING)
def flaky_sensor(context: dg.SensorEvaluationContext):
    if Path(os.environ["ALERT_TEST_FLAG"]).exists():
        raise RuntimeError("landing folder unreachable: connection reset")
    return dg.SkipReason("nothing new")


defs = dg.Definitions(sensors=[flaky_sensor])
