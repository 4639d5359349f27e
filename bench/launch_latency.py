"""Seconds from launching a run in the UI to its success, for one partition of one raw asset.

What a person clicking "Materialize" pays: the webserver queues the run, the daemon dequeues
it, the code server starts a run worker process, which loads the code location, then the
step runs and the run ends. Starts ``dagster-webserver`` and ``dagster-daemon`` on a seeded
state folder (``--years N`` with jafgen, or ``--home DIR`` already seeded), launches
``raw/orders`` for one day over GraphQL ``--repeat`` times, one after the other, and prints
for each run: launch to success, queued (launch to the run worker starting), the worker's
start-up (process start and code location load, to the run's start event), the step, and
the rest; the step is the work itself, everything else is what launching from the UI adds.

    .venv/bin/python bench/launch_latency.py --years 1 --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))  # tests/ is not installed
from tests.servers import free_port, graphql, wait_for_http

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


def launch(port: int, day: str) -> tuple[str, float]:
    params = {
        "selector": {
            "repositoryLocationName": "data_platform",
            "repositoryName": "__repository__",
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": ["raw", "orders"]}],
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
    }
    deadline = time.monotonic() + 180
    while True:  # the code location may still be loading
        launched_at = time.time()
        result = graphql(port, LAUNCH, {"params": params})["launchRun"]
        if result["__typename"] == "LaunchRunSuccess":
            return result["run"]["runId"], launched_at
        if time.monotonic() > deadline:
            raise SystemExit(f"launch failed: {result}")
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=1)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = (args.home or Path(tempfile.mkdtemp(prefix="data-platform-launch-"))).resolve()
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_PLATFORM_HOME", "DAGSTER_HOME")}
    env.update({"DATA_PLATFORM_HOME": str(home), "DO_NOT_TRACK": "1"})
    platform = str(BIN / "data-platform")
    if not args.home:
        subprocess.run([platform, "seed", "--years", str(args.years)], env=env, check=True)
    subprocess.run([platform, "prepare"], env=env, check=True, capture_output=True)
    env["DAGSTER_HOME"] = str(home / "dagster")
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]

    port = free_port()
    common = {"cwd": PROJECT, "env": env, "start_new_session": True}
    logs = open(home / "launch-bench.log", "w")  # noqa: SIM115 (closed below)
    processes = [
        subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            stdout=logs,
            stderr=subprocess.STDOUT,
            **common,
        ),
        subprocess.Popen(
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)]
            + ["-w", "workspace.yaml"],
            stdout=logs,
            stderr=subprocess.STDOUT,
            **common,
        ),
    ]
    try:
        if not wait_for_http(f"http://127.0.0.1:{port}/server_info", 180):
            raise SystemExit("the webserver did not answer")
        from dagster import DagsterInstance

        from data_platform.core.settings import Settings

        rows = []
        with DagsterInstance.get() as instance:
            # Days 3 to 7 of the seeded history: Monday to Friday (jafgen starts on a Saturday).
            first = Settings.from_environ(env).partition_start
            days = [(first + dt.timedelta(days=n)).isoformat() for n in range(2, 7)]
            for day in (days * (args.repeat // len(days) + 1))[: args.repeat]:
                run_id, launched_at = launch(port, day)
                while True:
                    status = graphql(port, STATUS, {"id": run_id})["runOrError"]["status"]
                    if status in ("SUCCESS", "FAILURE", "CANCELED"):
                        break
                    time.sleep(0.2)
                done_at = time.time()
                if status != "SUCCESS":
                    raise SystemExit(f"run {run_id}: {status}")
                events = [
                    (r.event_log_entry.timestamp, r.event_log_entry.dagster_event_type.value)
                    for r in instance.get_records_for_run(run_id).records
                    if r.event_log_entry.dagster_event_type is not None
                ]
                first = {}
                for ts, kind in events:
                    first.setdefault(kind, ts)
                step = [ts for ts, kind in events if kind in ("STEP_START", "STEP_SUCCESS")]
                rows.append(
                    {
                        "launch to success": done_at - launched_at,
                        "queued (to PIPELINE_STARTING)": first["PIPELINE_STARTING"] - launched_at,
                        "worker start-up and code load": first["PIPELINE_START"]
                        - first["PIPELINE_STARTING"],
                        "step": max(step) - min(step),
                        "rest": done_at
                        - launched_at
                        - (first["PIPELINE_START"] - launched_at)
                        - (max(step) - min(step)),
                    }
                )
        names = list(rows[0])
        print(
            f"{'one partition of raw/orders from the UI':40} "
            + " ".join(f"run {i + 1:>3}" for i in range(len(rows)))
            + "   median"
        )
        for name in names:
            values = [row[name] for row in rows]
            print(
                f"{name:40} "
                + " ".join(f"{v:7.2f}" for v in values)
                + f"  {statistics.median(values):7.2f}"
            )
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        logs.close()


if __name__ == "__main__":
    main()
