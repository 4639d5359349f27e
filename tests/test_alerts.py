"""Alerts end to end: real runs of small test-only assets in a real Dagster instance, the
alert sensors evaluated against it, and what a real SMTP server (aiosmtpd) and a real HTTP
receiver, each in its own process on loopback, received.

Every case gives exactly one alert and one recovery per channel; a repeat of the same failure
adds to the incident's count instead of sending again.
"""

import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from data_platform.alerts import messages, sensors
from data_platform.alerts.incidents import IncidentStore
from data_platform.resources.alerts import AlertsResource
from tests.conftest import BIN
from tests.servers import free_port, unavailable, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
UI = "http://ui.test:3000"
# What the test assets do on their next run (they run in this process).
BROKEN = {"orders": False, "unique": False, "recent": False}

days = dg.DailyPartitionsDefinition(start_date="2026-11-01")


@dg.asset(partitions_def=days)
def tiny_orders() -> None:
    if BROKEN["orders"]:
        raise ValueError("orders file is broken: 3 rows without order_id")


@dg.asset
def tiny_customers() -> None:
    pass


@dg.asset_check(asset=tiny_customers)
def customers_unique() -> dg.AssetCheckResult:
    """A non-blocking ERROR check: the run succeeds when it fails (Dagster issue 29896)."""
    return dg.AssetCheckResult(
        passed=not BROKEN["unique"],
        severity=dg.AssetCheckSeverity.ERROR,
        description="2 duplicate customer_id" if BROKEN["unique"] else "unique",
    )


@dg.asset_check(asset=tiny_customers, blocking=True)
def customers_present() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=tiny_customers)
def customers_recent() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not BROKEN["recent"],
        severity=dg.AssetCheckSeverity.WARN,
        description="newest customer is 3 days old" if BROKEN["recent"] else "recent",
    )


DEFS = dg.Definitions(
    assets=[tiny_orders, tiny_customers],
    asset_checks=[customers_unique, customers_present, customers_recent],
    jobs=[
        dg.define_asset_job("orders_job", [tiny_orders]),
        dg.define_asset_job("customers_job", [tiny_customers]),
    ],
)


@contextmanager
def receiver(*args: str) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.alert_receivers", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def wait_for_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def channels(tmp_path_factory) -> Iterator[dict]:
    """An SMTP server and a webhook receiver (200), and the file both append to."""
    out = tmp_path_factory.mktemp("received") / "received.jsonl"
    out.touch()
    smtp_port, http_port = free_port(), free_port()
    with (
        receiver("smtp", str(smtp_port), str(out)),
        receiver("http", str(http_port), str(out), "ok") as web,
    ):
        if not wait_for_port(smtp_port, 15):
            unavailable("the aiosmtpd SMTP server")
        if not wait_for_http(f"http://127.0.0.1:{http_port}/", 15, web):
            unavailable("the webhook receiver")
        yield {"smtp": smtp_port, "http": http_port, "out": out}


@pytest.fixture
def alerts(channels, tmp_path) -> AlertsResource:
    return AlertsResource(
        smtp_url=f"smtp://127.0.0.1:{channels['smtp']}",
        email_to="oncall@example.com",
        webhook_url=f"http://127.0.0.1:{channels['http']}/hook",
        ui_url=UI,
        state_dir=str(tmp_path / "alerts"),
        attempts=2,
        timeout_seconds=2,
    )


@pytest.fixture
def received(channels):
    """Call to get the messages received since the test began: by channel, first lines."""
    start = channels["out"].stat().st_size

    def read() -> dict[str, list[str]]:
        with channels["out"].open() as file:
            file.seek(start)
            records = [json.loads(line) for line in file if line.strip()]
        return {
            "email": [r["body"].splitlines()[0] for r in records if r["channel"] == "email"],
            "subject": [r["subject"] for r in records if r["channel"] == "email"],
            "webhook": [r["text"].splitlines()[0] for r in records if r["channel"] == "webhook"],
            "texts": [r["text"] for r in records if r["channel"] == "webhook"],
        }

    return read


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    for key in BROKEN:
        BROKEN[key] = False
    with dg.instance_for_test() as instance:
        yield instance


def run(instance: dg.DagsterInstance, job: str, **kwargs) -> dg.DagsterRun:
    result = DEFS.resolve_job_def(job).execute_in_process(
        instance=instance, raise_on_error=False, **kwargs
    )
    return instance.get_run_by_id(result.run_id)


def evaluate(instance: dg.DagsterInstance, run_: dg.DagsterRun, alerts: AlertsResource) -> None:
    """Evaluate the run status sensor of ``run_``'s outcome, as the daemon would."""
    kind = (
        dg.DagsterEventType.RUN_FAILURE
        if run_.status == dg.DagsterRunStatus.FAILURE
        else dg.DagsterEventType.RUN_SUCCESS
    )
    event = instance.all_logs(run_.run_id, of_type=kind)[0].dagster_event
    sensor = (
        sensors.alert_on_run_failure
        if kind == dg.DagsterEventType.RUN_FAILURE
        else sensors.alert_on_run_success
    )
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run_,
        resources={"alerts": alerts},
    )
    sensor(context.for_run_failure() if kind == dg.DagsterEventType.RUN_FAILURE else context)


def both(received: dict, key: str) -> list[str]:
    # The first line is the subject (a long header is folded: compare its words).
    assert [s.split() for s in received["email"]] == [s.split() for s in received["subject"]]
    assert received["email"] == received["webhook"], received
    return received[key]


def test_failing_run_alerts_once_folds_repeats_and_recovers(instance, alerts, received):
    BROKEN["orders"] = True
    first = run(instance, "orders_job", partition_key="2026-11-02")
    assert first.status == dg.DagsterRunStatus.FAILURE
    evaluate(instance, first, alerts)
    again = run(instance, "orders_job", partition_key="2026-11-02")
    evaluate(instance, again, alerts)
    (incident,) = IncidentStore(alerts.state_dir).read().values()
    assert incident.count == 2

    BROKEN["orders"] = False
    fixed = run(instance, "orders_job", partition_key="2026-11-02")
    assert fixed.status == dg.DagsterRunStatus.SUCCESS
    evaluate(instance, fixed, alerts)

    alert, recovery = both(received(), "email")
    print("\nfailing run:", alert, "\n", recovery)
    assert alert.startswith(
        "ALERT run of job orders_job FAILED for asset tiny_orders (partition 2026-11-02), since "
    )
    assert alert.endswith(f"{UI}/runs/{first.run_id}")
    assert recovery.startswith("RESOLVED after ") and "(2 failures since " in recovery
    assert IncidentStore(alerts.state_dir).read() == {}


def test_run_that_dagster_retries_is_not_alerted(alerts, received):
    BROKEN["orders"] = True
    with dg.instance_for_test(overrides={"run_retries": {"enabled": True}}) as instance:
        retried = run(
            instance, "orders_job", partition_key="2026-11-03", tags={"dagster/max_retries": "1"}
        )
        assert retried.status == dg.DagsterRunStatus.FAILURE
        evaluate(instance, retried, alerts)
    assert both(received(), "email") == []
    assert (
        messages.will_retry({"dagster/max_retries": "1", "dagster/retry_number": "1"}, 0, True)
        is False
    )


def test_error_check_failing_in_a_successful_run_alerts_and_recovers(instance, alerts, received):
    BROKEN["unique"] = True
    for _ in range(2):  # the repeat adds to the count
        failed_check = run(instance, "customers_job")
        assert failed_check.status == dg.DagsterRunStatus.SUCCESS
        evaluate(instance, failed_check, alerts)
    (incident,) = IncidentStore(alerts.state_dir).read().values()
    assert incident.count == 2
    BROKEN["unique"] = False
    evaluate(instance, run(instance, "customers_job"), alerts)

    alert, recovery = both(received(), "email")
    print("\nERROR check:", alert, "\n", recovery)
    assert alert.startswith(
        "ALERT check customers_unique FAILED (ERROR) on asset tiny_customers, since "
    )
    assert "RESOLVED" in recovery and "customers_unique" in recovery


def test_blocking_check_storm_in_a_failing_run_is_one_message(instance, alerts, received):
    """A blocking ERROR check stops its run (Dagster fails the step): the run's failure and
    its failed checks are one message."""

    @dg.asset_check(asset=tiny_customers, blocking=True)
    def customers_blocking() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR)

    BROKEN["unique"] = True
    defs = dg.Definitions(
        assets=[tiny_customers],
        asset_checks=[customers_blocking, customers_unique],
        jobs=[dg.define_asset_job("blocked_job", [tiny_customers])],
    )
    result = defs.resolve_job_def("blocked_job").execute_in_process(
        instance=instance, raise_on_error=False
    )
    stormed = instance.get_run_by_id(result.run_id)
    assert stormed.status == dg.DagsterRunStatus.FAILURE
    evaluate(instance, stormed, alerts)
    (alert,) = both(received(), "email")
    print("\nblocking storm:", alert)
    assert alert.startswith("ALERT run of job blocked_job FAILED for asset tiny_customers")
    assert "(+2 more)" in alert
    assert len(IncidentStore(alerts.state_dir).read()) == 3


def test_warn_check_goes_to_the_digest(instance, alerts, received):
    BROKEN["recent"] = True
    assert run(instance, "customers_job").status == dg.DagsterRunStatus.SUCCESS
    evaluate(instance, run(instance, "customers_job"), alerts)
    assert both(received(), "email") == []  # a WARN check is not an incident
    digest = sensors.alert_digest_job.execute_in_process(
        instance=instance, resources={"alerts": alerts}
    )
    assert digest.success
    BROKEN["recent"] = False
    run(instance, "customers_job")
    sensors.alert_digest_job.execute_in_process(instance=instance, resources={"alerts": alerts})

    first, second = both(received(), "email")
    print("\nWARN digest:", first, "\n", second)
    assert first.startswith("DIGEST 1 WARN check failed in the 24 h to ")
    assert "first customers_recent on asset tiny_customers since " in first
    texts = received()["texts"]
    assert "2 failure(s)" in texts[0] and "still failing" in texts[0]
    assert "passed since" in texts[1]


WEBHOOK_TOKEN = "s3cr3t-t0ken"


def test_channels_down_never_fail_the_run(instance, tmp_path, caplog):
    refused = free_port()  # nothing listens there: the SMTP connection is refused
    web_port, slow_port = free_port(), free_port()
    out = tmp_path / "nothing.jsonl"
    with (
        receiver("http", str(web_port), str(out), "500") as web,
        receiver("http", str(slow_port), str(out), "slow") as slow,
    ):
        assert wait_for_http(f"http://127.0.0.1:{web_port}/", 15, web)
        assert wait_for_http(f"http://127.0.0.1:{slow_port}/", 15, slow)
        for webhook in (web_port, slow_port):
            down = AlertsResource(
                smtp_url=f"smtp://127.0.0.1:{refused}",
                email_to="oncall@example.com",
                webhook_url=f"http://127.0.0.1:{webhook}/services/T0/B0/{WEBHOOK_TOKEN}",
                ui_url=UI,
                state_dir=str(tmp_path / f"alerts-{webhook}"),
                attempts=2,
                timeout_seconds=1,
            )
            BROKEN["unique"] = True
            with caplog.at_level(logging.WARNING):
                checked = run(instance, "customers_job")
                assert checked.status == dg.DagsterRunStatus.SUCCESS
                evaluate(instance, checked, down)  # raises nothing
            assert down.send("ALERT test", "ALERT test") == {"email": False, "webhook": False}
    logged = caplog.text
    assert "alert channel email failed after 2 tries" in logged
    assert "ConnectionRefusedError" in logged
    assert "alert channel webhook failed after 2 tries" in logged
    assert "500" in logged and "ReadTimeout" in logged
    assert WEBHOOK_TOKEN not in logged  # httpx quotes the URL: its secret path is masked
    assert not out.exists() or out.read_text() == ""


@contextmanager
def daemon_running(env: dict) -> Iterator[subprocess.Popen]:
    """``dagster-daemon`` of the test-only code location, its own process group."""
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", "tests.alert_tick_location"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield daemon
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=20)


def test_sensor_raising_or_not_ticking_alerts_once_and_recovers(alerts, received, tmp_path):
    """A real daemon ticks a sensor that raises, twice, then stops raising; then the daemon
    stops (the sensor no longer ticks) and starts again."""
    from tests.alert_tick_location import defs as tick_defs

    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    flag = tmp_path / "broken"
    flag.touch()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ALERT_TEST_FLAG": str(flag)}
    repository = tick_defs.get_repository_def()
    interval = tick_defs.get_sensor_def("flaky_sensor").minimum_interval_seconds
    with dg.instance_for_test(temp_dir=str(home)) as instance:

        def latest(status: str, after: float = 0) -> float | None:
            for state in instance.all_instigator_state():
                ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
                if ticks and ticks[0].status.value == status and ticks[0].timestamp > after:
                    return ticks[0].timestamp
            return None

        def wait(daemon: subprocess.Popen, status: str, after: float = 0) -> float:
            deadline = time.monotonic() + 40
            while (at := latest(status, after)) is None:
                assert daemon.poll() is None, "dagster-daemon exited"
                assert time.monotonic() < deadline, f"no {status} tick"
                time.sleep(0.5)
            return at

        cursor = None

        def tick() -> None:
            # The cursor carried from tick to tick, as the daemon carries it.
            nonlocal cursor
            context = dg.build_sensor_context(
                instance=instance,
                resources={"alerts": alerts},
                repository_def=repository,
                cursor=cursor,
            )
            sensors.alert_on_tick_failures(context)
            cursor = context.cursor

        with daemon_running(env) as daemon:
            wait(daemon, "FAILURE")
            tick()
            wait(daemon, "FAILURE", after=time.time())  # the next failing tick: folded
            tick()
            (incident,) = IncidentStore(alerts.state_dir).read().values()
            assert incident.count == 2
            flag.unlink()
            wait(daemon, "SKIPPED")
            tick()
            alert, recovery = both(received(), "email")
            print("\nsensor raising:", alert, "\n", recovery)
            assert alert.startswith("ALERT sensor flaky_sensor tick FAILED, since ")
            assert "/sensors/flaky_sensor" in alert
            assert recovery.startswith("RESOLVED after ") and "flaky_sensor" in recovery
        last = latest("SKIPPED")
        # The daemon is down: after STALE_INTERVALS of its interval the sensor is stale.
        time.sleep(max(0.0, last + sensors.STALE_INTERVALS * interval + 1 - time.time()))
        tick()
        tick()  # still stale: folded
        restarted = time.time()
        with daemon_running(env) as daemon:
            wait(daemon, "SKIPPED", after=restarted)
            tick()
    stale, back = both(received(), "email")[2:]
    print("\nsensor not ticking:", stale, "\n", back)
    assert stale.startswith("ALERT sensor flaky_sensor has NOT TICKED for ")
    assert back.startswith("RESOLVED after ") and "NOT TICKED" in back


def test_silences_count_from_the_daemons_restart():
    interval = sensors.ALERT_TICK_INTERVAL_SECONDS
    assert sensors.watching_since(None, 1000.0, interval) == 1000.0
    assert sensors.watching_since("not json", 1000.0, interval) == 1000.0
    ticking = json.dumps({"evaluated": 1000.0, "watching_since": 400.0})
    assert sensors.watching_since(ticking, 1000.0 + interval, interval) == 400.0
    # Down for longer than RESTART_GAP_INTERVALS of its interval: watching from now.
    later = 1000.0 + sensors.RESTART_GAP_INTERVALS * interval + 1
    assert sensors.watching_since(ticking, later, interval) == later


def test_message_helpers():
    assert messages.partition_of({"dagster/partition": "2026-11-02"}) == "2026-11-02"
    assert (
        messages.partition_of(
            {
                "dagster/asset_partition_range_start": "2026-11-01",
                "dagster/asset_partition_range_end": "2026-11-05",
            }
        )
        == "2026-11-01...2026-11-05"
    )
    assert messages.will_retry({"dagster/max_retries": "2", "dagster/retry_number": "1"}, 0, True)
    assert not messages.will_retry({"dagster/max_retries": "2"}, 0, False)
    assert not messages.will_retry(
        {"dagster/max_retries": "2", "dagster/retry_on_asset_or_op_failure": "false"}, 0, True
    )
    assert messages.where(["a", "b", "c", "d"], "") == "asset a, b, c and 1 more"
    assert [messages.duration(s) for s in (45, 720, 12600)] == ["45 s", "12 min", "3.5 h"]
    assert messages.asset_link(UI, dg.AssetKey(["raw", "orders"]), "checks") == (
        f"{UI}/assets/raw/orders?view=checks"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATA_PLATFORM_ALERT_SMTP_URL", "http://mail:25"),
        ("DATA_PLATFORM_ALERT_SMTP_URL", "smtp://mail:99999"),
        ("DATA_PLATFORM_ALERT_EMAIL_TO", "oncall@example.com, nobody"),
        ("DATA_PLATFORM_ALERT_WEBHOOK_URL", "hooks.slack.com/services/x"),
        ("DATA_PLATFORM_UI_URL", "127.0.0.1:3000"),
    ],
)
def test_alert_settings_are_validated(name, value):
    from data_platform.core.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=name) as raised:
        Settings.from_environ({**os.environ, name: value})
    if name.endswith("WEBHOOK_URL"):  # the path is the webhook's secret
        assert "/services/x" not in str(raised.value) and "hooks.slack.com/***" in str(raised.value)


def test_alert_settings_reach_the_resource():
    from data_platform.core.settings import Settings
    from data_platform.resources import platform_resources

    environ = {
        **os.environ,
        "DATA_PLATFORM_ALERT_SMTP_URL": "smtps://bot:secret@mail.example.com",
        "DATA_PLATFORM_ALERT_EMAIL_TO": "a@example.com, b@example.com",
    }
    settings = Settings.from_environ(environ)
    assert settings.alert_email_to == ("a@example.com", "b@example.com")
    resource = platform_resources(settings)["alerts"]
    assert isinstance(resource.smtp_url, dg.EnvVar)  # the UI shows the variable, not the password
    assert resource.state_dir == str(settings.home / "alerts")
    assert AlertsResource(state_dir="x").channels == []  # nothing configured: alerts off


def test_freshness_failure_alerts_once_and_recovers(alerts, received, tmp_path):
    """The daemon's freshness evaluation turns an asset FAIL once it is older than its
    policy's fail window (a minute here): one alert, repeats folded, a recovery after the next
    materialization."""
    from tests.alert_tick_location import FAIL_SECONDS, tiny_fresh
    from tests.alert_tick_location import defs as tick_defs

    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ALERT_TEST_FLAG": str(tmp_path / "absent"),  # the flaky sensor does not raise
        "FRESHNESS_DAEMON_INTERVAL_SECONDS": "1",
    }
    repository = tick_defs.get_repository_def()
    key = tiny_fresh.key
    with dg.instance_for_test(temp_dir=str(home)) as instance:

        def wait_for(state: str, daemon: subprocess.Popen, after: float = 0) -> None:
            deadline = time.monotonic() + FAIL_SECONDS + 45
            while True:
                record = instance.get_freshness_state_records([key]).get(key)
                if (
                    record
                    and record.freshness_state.value == state
                    and record.updated_at.timestamp() > after
                ):
                    return
                assert daemon.poll() is None, "dagster-daemon exited"
                assert time.monotonic() < deadline, f"freshness never {state}: {record}"
                time.sleep(0.2)

        def tick() -> str:
            context = dg.build_sensor_context(
                instance=instance, resources={"alerts": alerts}, repository_def=repository
            )
            return sensors.alert_on_freshness(context).skip_message

        assert dg.materialize([tiny_fresh], instance=instance).success
        with daemon_running(env) as daemon:
            wait_for("FAIL", daemon)  # FAIL_SECONDS after the materialization
            assert tick() == "1 opened, 0 cleared"
            assert tick() == "0 opened, 0 cleared"  # still failing: folded
            (incident,) = IncidentStore(alerts.state_dir).read().values()
            assert incident.count == 2
            fresh_at = time.time()
            assert dg.materialize([tiny_fresh], instance=instance).success
            wait_for("PASS", daemon, after=fresh_at)
            assert tick() == "0 opened, 1 cleared"
            assert time.time() - fresh_at < FAIL_SECONDS  # cleared while it was fresh
    alert, recovery = both(received(), "email")
    print("\nfreshness:", alert, "\n", recovery)
    assert alert.startswith("ALERT freshness FAILED on asset tiny_fresh, since ")
    assert alert.endswith(f"{UI}/assets/tiny_fresh")
    assert (
        recovery.startswith("RESOLVED after ")
        and "freshness FAILED on asset tiny_fresh" in recovery
    )


def test_freshness_sensor_reads_the_instance_states(instance, alerts, received):
    """Without a freshness evaluation recorded (the daemon makes them) nothing is sent; the
    sensor reads the states of every asset with a policy through the public API."""

    @dg.asset(freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=1)))
    def tiny_fresh() -> None:
        pass

    repository = dg.Definitions(assets=[tiny_fresh]).get_repository_def()
    skipped = sensors.alert_on_freshness(
        dg.build_sensor_context(
            instance=instance, resources={"alerts": alerts}, repository_def=repository
        )
    )
    assert skipped.skip_message == "0 opened, 0 cleared"
    assert both(received(), "email") == []


def test_a_webhooks_secret_is_its_path():
    from data_platform.core.urls import webhook_secret

    assert webhook_secret("https://hooks.slack.com/services/T1/B2/tok") == "/services/T1/B2/tok"
    assert webhook_secret("https://chat.example.com/hooks/abc?x=1") == "/hooks/abc?x=1"
    assert webhook_secret("https://hooks.example.com/") == ""
    assert webhook_secret("hooks.slack.com/services/x") == "/services/x"
