"""The Dagster instance on PostgreSQL (dagster.production.yaml): daemon and webserver started
against it, a run launched through the queue over GraphQL, its events stored in PostgreSQL.
Also the run-retention job, on an ephemeral instance."""

import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from data_platform import settings
from data_platform.definitions import defs
from tests.conftest import BIN
from tests.servers import free_port, wait_for_http

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
  }
}"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


def graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["data"]


@pytest.fixture
def production_instance(tmp_path, postgres_url, full_run):
    """$DAGSTER_HOME with dagster.production.yaml on a fresh PostgreSQL database; daemon and
    webserver running against it (their own process groups, stopped afterwards)."""
    home = tmp_path / "dagster-home"
    home.mkdir()
    production = (settings.PROJECT_ROOT / "dagster.production.yaml").read_text()
    # The daemon's landing sensor starts runs on this fresh instance too; one run at a time
    # keeps their DuckDB writes out of the run under test (concurrent writers: issue 4).
    assert "max_concurrent_runs: 8" in production
    (home / "dagster.yaml").write_text(
        production.replace("max_concurrent_runs: 8", "max_concurrent_runs: 1")
    )
    # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 would pick psycopg 3 for postgresql://.
    dagster_url = sa.engine.make_url(postgres_url).set(drivername="postgresql+psycopg2")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_POSTGRES_URL": dagster_url.render_as_string(hide_password=False),
    }
    port = free_port()
    common = {
        "cwd": settings.PROJECT_ROOT,
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


def test_run_through_the_queue_on_postgresql(production_instance):
    port, postgres_url = production_instance
    params = {
        "selector": {
            "repositoryLocationName": "data_platform",
            "repositoryName": "__repository__",
            "jobName": "reference_files_job",
        },
        "mode": "default",
    }
    deadline = time.monotonic() + 120
    while True:  # the code location may still be loading
        launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
        if launched["__typename"] == "LaunchRunSuccess" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + 300
    seen = set()
    while True:
        status = graphql(port, STATUS, {"id": run_id})["runOrError"]["status"]
        seen.add(status)
        if status in ("SUCCESS", "FAILURE", "CANCELED") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status == "SUCCESS", (seen, failure_messages(postgres_url, run_id))

    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        events = dict(
            conn.execute(
                sa.text(
                    "select dagster_event_type, count(*) from event_logs "
                    "where run_id = :run_id group by dagster_event_type"
                ),
                {"run_id": run_id},
            ).all()
        )
        queued = conn.execute(
            sa.text(
                "select count(*) from event_logs where run_id = :r and dagster_event_type = 'PIPELINE_ENQUEUED'"
            ),
            {"r": run_id},
        ).scalar_one()
    engine.dispose()
    assert events.get("ASSET_MATERIALIZATION", 0) >= 3
    assert queued == 1, events  # it went through the run queue


def failure_messages(postgres_url: str, run_id: str) -> list[str]:
    """The run's failure events, so a failed assertion says why."""
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        bodies = conn.execute(
            sa.text(
                "select event from event_logs where run_id = :r and dagster_event_type in "
                "('STEP_FAILURE', 'PIPELINE_FAILURE', 'ENGINE_EVENT')"
            ),
            {"r": run_id},
        ).scalars()
        messages = [_failure_text(json.loads(body)) for body in bodies]
    engine.dispose()
    return messages


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
