"""The Dagster instance on PostgreSQL (deploy/dagster.production.yaml): daemon and webserver started
against it; four partition runs launched at once through the queue over GraphQL all succeed,
one warehouse writer at a time (the ``warehouse`` pool), with their events stored in
PostgreSQL. Also the run-retention job, on an ephemeral instance."""

import json
import os
import signal
import subprocess
import time
from itertools import pairwise

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from data_platform.core.settings import PROJECT_ROOT
from tests.conftest import BIN, code_location
from tests.servers import free_port, graphql, wait_for_http

defs = code_location()

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
  }
}"""
STATUS = """
query($id: ID!) { runOrError(runId: $id) { ... on Run { status startTime endTime } } }"""
# Three runs queued at once: enough to see the queue hold each until the one before ends
# (each run is a process loading the code location and two dbt steps: about 40 s in CI).
PARTITIONS = ("2018-09-02", "2018-09-03", "2018-09-04")


@pytest.fixture
def production_instance(tmp_path, postgres_url, full_run):
    """$DAGSTER_HOME with deploy/dagster.production.yaml on a fresh PostgreSQL database; daemon and
    webserver running against it (their own process groups, stopped afterwards)."""
    home = tmp_path / "dagster-home"
    # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 would pick psycopg 3 for postgresql://.
    dagster_url = sa.engine.make_url(postgres_url).set(drivername="postgresql+psycopg2")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DATA_PLATFORM_DAGSTER_CONFIG": "deploy/dagster.production.yaml",
        "DAGSTER_POSTGRES_URL": dagster_url.render_as_string(hide_password=False),
    }
    # As a user would: the production configuration, and the warehouse pool's limit; twice,
    # as every `make dev` does (Dagster's pool set-up failed on an existing PostgreSQL pool).
    for _ in range(2):
        prepared = subprocess.run(
            [str(BIN / "data-platform"), "prepare"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert "pool 'warehouse' limited to 1 slot(s)" in prepared.stdout, prepared.stderr[-2000:]
    port = free_port()
    common = {
        "cwd": PROJECT_ROOT,
        "env": env,
        "start_new_session": True,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
    }
    processes = [
        subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], **common),
        subprocess.Popen(
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                "workspace.yaml",
            ],
            **common,
        ),
    ]
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/server_info", 120), "no webserver"
        yield port, postgres_url
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            # Code servers and run workers they started share the group and may outlive TERM.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def launch(port: int, job: str, tags: dict[str, str] | None = None) -> str:
    params = {
        "selector": {
            "repositoryLocationName": "data_platform",
            "repositoryName": "__repository__",
            "jobName": job,
        },
        "mode": "default",
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
    }
    deadline = time.monotonic() + 120
    while True:  # the code location may still be loading
        launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
        if launched["__typename"] == "LaunchRunSuccess" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_concurrent_runs_through_the_queue_on_postgresql(production_instance):
    port, postgres_url = production_instance
    runs = [launch(port, "daily_job", {"dagster/partition": day}) for day in PARTITIONS]

    deadline = time.monotonic() + 600
    finished: dict[str, dict] = {}
    while len(finished) < len(runs) and time.monotonic() < deadline:
        for run_id in set(runs) - set(finished):
            run = graphql(port, STATUS, {"id": run_id})["runOrError"]
            if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                finished[run_id] = run
        time.sleep(2)
    for run_id in runs:
        status = finished.get(run_id, {}).get("status")
        assert status == "SUCCESS", (run_id, status, failure_messages(postgres_url, run_id))

    # One warehouse writer at a time: the runs, all queued at once, never overlapped.
    spans = sorted((finished[r]["startTime"], finished[r]["endTime"]) for r in runs)
    assert all(end <= next_start for (_, end), (next_start, _) in pairwise(spans)), spans

    counts = event_log(
        postgres_url,
        sa.text(
            "select run_id, dagster_event_type, count(*) from event_logs "
            "where run_id in :runs group by run_id, dagster_event_type"
        ).bindparams(sa.bindparam("runs", expanding=True)),
        {"runs": runs},
    )
    events = {(run_id, kind): n for run_id, kind, n in counts}
    for run_id in runs:
        assert events.get((run_id, "PIPELINE_ENQUEUED")) == 1  # it went through the queue
        assert events.get((run_id, "ASSET_MATERIALIZATION"), 0) >= 3


def event_log(postgres_url: str, statement, params: dict) -> list[tuple]:
    """Rows of a query on the instance's PostgreSQL event log."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(statement, params)]
    finally:
        engine.dispose()


def failure_messages(postgres_url: str, run_id: str) -> list[str]:
    """The run's failure events, so a failed assertion says why."""
    rows = event_log(
        postgres_url,
        sa.text(
            "select event from event_logs where run_id = :r and dagster_event_type in "
            "('STEP_FAILURE', 'PIPELINE_FAILURE', 'ENGINE_EVENT')"
        ),
        {"r": run_id},
    )
    return [_failure_text(json.loads(body)) for (body,) in rows]


def _failure_text(record: dict) -> str:
    error = ((record.get("dagster_event") or {}).get("event_specific_data") or {}).get(
        "error"
    ) or {}
    return (record.get("user_message", "") + " " + str(error.get("message", "")))[:3000]


def test_run_retention_deletes_old_runs():
    instance = DagsterInstance.ephemeral()
    retention = defs.resolve_job_def("run_retention_job")
    config = {"ops": {"purge_old_runs": {"config": {"older_than_days": 0}}}}
    first = retention.execute_in_process(instance=instance, run_config=config)
    assert first.output_for_node("purge_old_runs") == 0
    second = retention.execute_in_process(instance=instance, run_config=config)
    assert second.output_for_node("purge_old_runs") == 1
    assert [r.dagster_run.run_id for r in instance.get_run_records()] == [second.run_id]
