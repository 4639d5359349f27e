"""The alert sensors and the daily digest: Dagster's public sensor APIs over the instance,
opening and clearing incidents (:mod:`data_platform.alerts.incidents`) and sending their one
message each through the ``alerts`` resource.

- ``alert_on_run_failure``: a run failed and Dagster will not retry it; one message per run,
  whatever failed inside it (its ERROR checks are folded in). Clears when the same job and
  partition next succeeds.
- ``alert_on_run_success``: clears run incidents, and opens one for every ERROR asset check
  that failed inside the successful run, and every pipeline monitor check (WARN, but an
  anomaly: ``row_volume``, ``step_duration``); one message per run; a passing evaluation
  clears it.
- ``alert_on_tick_failures``: a sensor's or schedule's latest tick failed, or a running sensor
  has not ticked for :data:`STALE_INTERVALS` of its intervals (counted from the daemon's
  restart when it was down: :func:`watching_since`); clears on a good tick.
- ``alert_on_freshness``: an asset's freshness state (the instance's, evaluated by the daemon
  when freshness is enabled in the instance configuration) is FAIL; clears when it is not.
- ``warn_check_digest`` (schedule, 07:00 UTC): the WARN checks that failed in the last 24 h,
  one message, none when there were none.

Every sensor starts RUNNING, so the UI shows them even when no channel is configured (then
the alerts are only logged).
"""

import datetime as dt
import json
import time
from collections.abc import Sequence

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    EventRecordsFilter,
    OpExecutionContext,
    RunFailureSensorContext,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    job,
    op,
    run_failure_sensor,
    run_status_sensor,
    schedule,
    sensor,
)

from data_platform.alerts import messages
from data_platform.alerts.incidents import Incident, IncidentStore
from data_platform.quality.raw_checks import MONITOR_CHECKS
from data_platform.resources.alerts import AlertsResource

# A running sensor that has not ticked for this many of its intervals is reported stale.
STALE_INTERVALS = 5
# A gap of more than this many of alert_on_tick_failures' own intervals between its ticks
# means the daemon was down: silences are then counted from its restart.
RESTART_GAP_INTERVALS = 3
# Dagster's interval of a sensor without minimum_interval_seconds.
DEFAULT_SENSOR_INTERVAL_SECONDS = 30
DIGEST_HOURS = 24


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _send_opened(alerts: AlertsResource, opened: Sequence[tuple[Incident, str]]) -> None:
    """One message for the incidents just opened together (a storm is one message): the
    first names the first line, the rest follow as details."""
    if not opened:
        return
    first, detail = opened[0]
    more = f" (+{len(opened) - 1} more)" if len(opened) > 1 else ""
    subject = f"ALERT {first.what}{more}, since {messages.utc(dt.datetime.fromisoformat(first.since))}: {first.link}"
    lines = [subject, "", detail]
    for incident, extra in opened[1:]:
        lines += ["", f"Also: {incident.what}: {incident.link}", extra]
    lines += ["", "Runbook: README.md, 'When an alert arrives (runbooks)'."]
    alerts.send(subject, "\n".join(line for line in lines if line is not None))


def _send_cleared(alerts: AlertsResource, cleared: Sequence[Incident]) -> None:
    if not cleared:
        return
    now = _now()
    lines = [messages.recovery_line(c.what, c.since, c.count, now) + f": {c.link}" for c in cleared]
    alerts.send(lines[0], "\n".join(lines))


class Changes:
    """The incidents one evaluation opens and clears, sent as one message each way."""

    def __init__(self, store: IncidentStore) -> None:
        self.store = store
        self.opened: list[tuple[Incident, str]] = []
        self.cleared: list[Incident] = []

    def failing(self, key: str, what: str, link: str, at: dt.datetime, detail: str) -> bool:
        """Record ``key`` failing; whether it opened a new incident (else it was folded)."""
        new = self.store.open(key, what, link, at)
        if new is not None:
            self.opened.append((new, detail))
        return new is not None

    def passing(self, key: str) -> None:
        gone = self.store.clear(key)
        if gone is not None:
            self.cleared.append(gone)

    def send(self, alerts: AlertsResource) -> SkipReason:
        _send_opened(alerts, self.opened)
        _send_cleared(alerts, self.cleared)
        return SkipReason(f"{len(self.opened)} opened, {len(self.cleared)} cleared")


def _run_checks(instance: DagsterInstance, run_id: str) -> list[AssetCheckEvaluation]:
    """The asset check evaluations recorded in run ``run_id``, in order."""
    return [
        entry.dagster_event.event_specific_data
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        if entry.dagster_event is not None
    ]


def check_key(evaluation: AssetCheckEvaluation) -> str:
    return (
        f"check:{evaluation.asset_key.to_user_string()}:{evaluation.check_name}:"
        f"{evaluation.partition or ''}"
    )


def _check_incidents(
    alerts: AlertsResource, changes: Changes, run: DagsterRun, instance: DagsterInstance
) -> None:
    """Open (ERROR checks failing) and clear (checks passing) the check incidents of ``run``."""
    partition = messages.partition_of(run.tags)
    for evaluation in _run_checks(instance, run.run_id):
        key = check_key(evaluation)
        if evaluation.passed:
            changes.passing(key)
            continue
        monitor = evaluation.check_name in MONITOR_CHECKS
        if evaluation.severity != AssetCheckSeverity.ERROR and not monitor:
            continue  # WARN: the daily digest
        asset = evaluation.asset_key.to_user_string()
        where = messages.where([asset], evaluation.partition or partition)
        detail = messages.first_line_of(evaluation.description) or ", ".join(
            f"{k}={v.value}" for k, v in list(evaluation.metadata.items())[:5]
        )
        if monitor:
            # The pipeline monitor's anomalies alert at once, their figures in the first line.
            what = f"monitor {evaluation.check_name} FAILED (WARN) on {where}: {detail}"
        else:
            kind = "blocking check" if evaluation.blocking else "check"
            what = f"{kind} {evaluation.check_name} FAILED (ERROR) on {where}"
        changes.failing(key, what, messages.run_link(alerts.ui_url, run.run_id), _now(), detail)


def _run_assets(instance: DagsterInstance, run: DagsterRun) -> list[str]:
    """The assets ``run`` planned to materialize (its selection, else its planned events)."""
    keys = set(run.asset_selection or ())
    if not keys:
        planned = instance.all_logs(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        )
        keys = {e.dagster_event.asset_key for e in planned if e.dagster_event is not None}
    return sorted(key.to_user_string() for key in keys if key is not None)


def run_key(run: DagsterRun) -> str:
    return f"run:{run.job_name}:{messages.partition_of(run.tags)}"


@run_failure_sensor(
    name="alert_on_run_failure",
    description="Alerts once per failed run that Dagster will not retry (see README runbooks).",
    default_status=DefaultSensorStatus.RUNNING,
)
def alert_on_run_failure(context: RunFailureSensorContext, alerts: AlertsResource):
    run = context.dagster_run
    instance = context.instance
    if messages.will_retry(
        run.tags, instance.run_retries_max_retries, instance.run_retries_enabled
    ):
        context.log.info(f"run {run.run_id} failed; Dagster retries it, no alert")
        return SkipReason("run will be retried")
    changes = Changes(IncidentStore(alerts.state_dir))
    partition = messages.partition_of(run.tags)
    assets = messages.where(_run_assets(instance, run), partition)
    what = f"run of job {run.job_name} FAILED for {assets}"
    link = messages.run_link(alerts.ui_url, run.run_id)
    detail = messages.first_line_of(context.failure_event.message)
    new = changes.failing(run_key(run), what, link, _now(), detail)
    # The run's failed checks are part of the same storm: one message, and none when the
    # run's incident was already open (the store counts the repeats).
    _check_incidents(alerts, changes, run, instance)
    if not new:
        changes.opened = []
    return changes.send(alerts)


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    name="alert_on_run_success",
    description="Clears run incidents; alerts on ERROR asset checks failing in successful runs.",
    default_status=DefaultSensorStatus.RUNNING,
)
def alert_on_run_success(context: RunStatusSensorContext, alerts: AlertsResource):
    run = context.dagster_run
    changes = Changes(IncidentStore(alerts.state_dir))
    changes.passing(run_key(run))
    _check_incidents(alerts, changes, run, context.instance)
    return changes.send(alerts)


def _location(state) -> str:
    """``repository@location`` of an instigator state, as the UI's paths name it."""
    origin = state.origin.repository_origin
    return f"{origin.repository_name}@{origin.code_location_origin.location_name}"


def watching_since(cursor: str | None, now: float, interval: float) -> float:
    """Since when (seconds since the epoch) ``alert_on_tick_failures`` has been watching
    without a break (pure; unit-tested): kept from its ``cursor`` (JSON ``evaluated``,
    ``watching_since``) while it ticked within :data:`RESTART_GAP_INTERVALS` of its
    ``interval``; ``now`` after a longer gap (the daemon was down) or without a cursor."""
    try:
        previous = json.loads(cursor) if cursor else {}
        evaluated, since = float(previous["evaluated"]), float(previous["watching_since"])
    except (ValueError, KeyError, TypeError):
        return now
    return since if now - evaluated <= RESTART_GAP_INTERVALS * interval else now


ALERT_TICK_INTERVAL_SECONDS = 60


@sensor(
    name="alert_on_tick_failures",
    minimum_interval_seconds=ALERT_TICK_INTERVAL_SECONDS,
    description=(
        "Alerts when a sensor's or schedule's tick fails, or a running sensor has not ticked "
        f"for {STALE_INTERVALS} of its intervals."
    ),
    default_status=DefaultSensorStatus.RUNNING,
)
def alert_on_tick_failures(context: SensorEvaluationContext, alerts: AlertsResource):
    changes = Changes(IncidentStore(alerts.state_dir))
    # The running sensors of this code location and their intervals: started in the UI
    # (RUNNING) or running by their code's default (DECLARED_IN_CODE, default_status RUNNING).
    defined = context.repository_def.sensor_defs if context.repository_def else ()
    intervals = {
        s.name: s.minimum_interval_seconds or DEFAULT_SENSOR_INTERVAL_SECONDS for s in defined
    }
    running_by_default = {
        s.name for s in defined if s.default_status == DefaultSensorStatus.RUNNING
    }
    now = time.time()
    # After the daemon was down (this sensor's own ticks stopped too), a sensor's silence
    # counts from the restart, not from its last tick before it: no alert storm at start-up.
    watching = watching_since(context.cursor, now, ALERT_TICK_INTERVAL_SECONDS)
    context.update_cursor(json.dumps({"evaluated": now, "watching_since": watching}))
    for state in context.instance.all_instigator_state():
        kind = "sensors" if state.instigator_type.value == "SENSOR" else "schedules"
        name = state.instigator_name
        link = messages.instigator_link(alerts.ui_url, _location(state), kind, name)
        ticks = context.instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
        tick = ticks[0] if ticks else None
        fail_key = f"tick:{kind}:{name}"
        if tick is not None and tick.status.value == "FAILURE":
            error = messages.first_line_of(tick.error.message if tick.error else "")
            what = f"{kind[:-1]} {name} tick FAILED"
            at = dt.datetime.fromtimestamp(tick.timestamp, dt.UTC)
            changes.failing(fail_key, what, link, at, error)
        elif tick is not None:
            changes.passing(fail_key)
        stale_key = f"stale:{name}"
        interval = intervals.get(name)
        running = state.status.value == "RUNNING" or (
            state.status.value == "DECLARED_IN_CODE" and name in running_by_default
        )
        if kind != "sensors" or interval is None or not running:
            continue
        last = tick.timestamp if tick is not None else None
        if last is not None and now - max(last, watching) > STALE_INTERVALS * interval:
            silent = messages.duration(now - last)
            what = f"sensor {name} has NOT TICKED for {silent} (interval {interval} s)"
            at = dt.datetime.fromtimestamp(last, dt.UTC)
            changes.failing(stale_key, what, link, at, "Is dagster-daemon running?")
        elif last is not None:
            changes.passing(stale_key)
    return changes.send(alerts)


@sensor(
    name="alert_on_freshness",
    minimum_interval_seconds=120,
    description="Alerts when an asset's freshness state (evaluated by the daemon) is FAIL.",
    default_status=DefaultSensorStatus.RUNNING,
)
def alert_on_freshness(context: SensorEvaluationContext, alerts: AlertsResource):
    if context.repository_def is None:
        return SkipReason("no repository")
    keys = [
        key
        for assets_def in context.repository_def.assets_defs_by_key.values()
        for key, spec in ((s.key, s) for s in assets_def.specs)
        if spec.freshness_policy is not None
    ]
    changes = Changes(IncidentStore(alerts.state_dir))
    for key, record in context.instance.get_freshness_state_records(sorted(set(keys))).items():
        incident = f"freshness:{key.to_user_string()}"
        if record.freshness_state.value == "FAIL":
            what = f"freshness FAILED on {messages.where([key.to_user_string()], '')}"
            link = messages.asset_link(alerts.ui_url, key)
            # A datetime in Dagster 1.13's FreshnessStateRecord (seconds in older releases).
            at = record.updated_at
            if not isinstance(at, dt.datetime):
                at = dt.datetime.fromtimestamp(at, dt.UTC)
            changes.failing(incident, what, link, at, "Not materialized within its window.")
        else:
            changes.passing(incident)
    return changes.send(alerts)


def warn_digest_text(
    evaluations: Sequence[tuple[float, AssetCheckEvaluation]], ui_url: str, until: dt.datetime
) -> tuple[str, str] | None:
    """The digest (subject, text) of timestamped check evaluations: every WARN check that
    failed, with how often, when last and whether it passed since; ``None`` without any."""
    failing: dict[tuple[str, str, str], list[float]] = {}
    passed_after: dict[tuple[str, str, str], float] = {}
    for at, evaluation in sorted(evaluations, key=lambda pair: pair[0]):
        key = (
            evaluation.asset_key.to_user_string(),
            evaluation.check_name,
            evaluation.partition or "",
        )
        if evaluation.passed:
            passed_after[key] = at
        elif evaluation.severity == AssetCheckSeverity.WARN:
            failing.setdefault(key, []).append(at)
    if not failing:
        return None
    first = min(failing, key=lambda k: failing[k][0])
    subject = (
        f"DIGEST {len(failing)} WARN check{'s' if len(failing) != 1 else ''} failed in the "
        f"{DIGEST_HOURS} h to {messages.utc(until)}, first {first[1]} on "
        f"{messages.where([first[0]], first[2])} since {messages.utc(failing[first][0])}: "
        f"{ui_url}/asset-groups"
    )
    lines = [subject, ""]
    for key, times in sorted(failing.items()):
        state = "passed since" if passed_after.get(key, 0) > times[-1] else "still failing"
        lines.append(
            f"- {key[1]} on {messages.where([key[0]], key[2])}: {len(times)} failure(s), latest "
            f"{messages.utc(times[-1])}, {state}: "
            f"{messages.asset_link(ui_url, AssetKey.from_user_string(key[0]), 'checks')}"
        )
    return subject, "\n".join(lines)


@op(description="Sends the digest of the WARN asset checks that failed in the last 24 h.")
def send_warn_digest(context: OpExecutionContext, alerts: AlertsResource) -> None:
    until = _now()
    records = context.instance.get_event_records(
        EventRecordsFilter(
            event_type=DagsterEventType.ASSET_CHECK_EVALUATION,
            after_timestamp=(until - dt.timedelta(hours=DIGEST_HOURS)).timestamp(),
        )
    )
    digest = warn_digest_text(
        [(r.timestamp, r.event_log_entry.dagster_event.event_specific_data) for r in records],
        alerts.ui_url,
        until,
    )
    if digest is None:
        context.log.info("no WARN check failed in the last 24 h: no digest")
        return
    alerts.send(*digest)


@job(name="alert_digest", description="The daily digest of failed WARN asset checks.")
def alert_digest_job():
    send_warn_digest()


@schedule(
    name="warn_check_digest",
    cron_schedule="0 7 * * *",
    execution_timezone="UTC",
    job=alert_digest_job,
    default_status=DefaultScheduleStatus.RUNNING,
    description="07:00 UTC: one message of the WARN asset checks that failed in the last 24 h.",
)
def warn_check_digest():
    return {}


ALERT_SENSORS = [
    alert_on_run_failure,
    alert_on_run_success,
    alert_on_tick_failures,
    alert_on_freshness,
]
ALERT_SCHEDULES = [warn_check_digest]
