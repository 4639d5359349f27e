"""A test-only code location for tests/test_alerts.py, for a real ``dagster-daemon`` in its own
process: one sensor that raises while the file named by ``ALERT_TEST_FLAG`` exists, and one
asset whose freshness policy fails :data:`FAIL_SECONDS` after its materialization (the
daemon's freshness evaluation, on a window of seconds instead of a day)."""

import datetime as dt
import os
from pathlib import Path

import dagster as dg


@dg.sensor(minimum_interval_seconds=3, default_status=dg.DefaultSensorStatus.RUNNING)
def flaky_sensor(context: dg.SensorEvaluationContext):
    if Path(os.environ["ALERT_TEST_FLAG"]).exists():
        raise RuntimeError("landing folder unreachable: connection reset")
    return dg.SkipReason("nothing new")


FAIL_SECONDS = 60  # Dagster allows no fail window under a minute


@dg.asset(
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(seconds=FAIL_SECONDS))
)
def tiny_fresh() -> None:
    """Nothing: materialized by the test when it should be fresh."""


defs = dg.Definitions(assets=[tiny_fresh], sensors=[flaky_sensor])
