"""Benchmark: the live layer, consumer throughput and publish-to-visible latency.

On a seeded state folder (``--years N`` with jafgen, or ``--home DIR`` already seeded) whose
batch side is built for yesterday (``data-platform run --partition`` of it: the stores and
products the events reference, the staging views and the batch fact the stream models join):

1. **Throughput** of the raw path, per broker backend (files in the lake's landing zone;
   NATS JetStream at ``--nats`` when it answers, a stream of the bench's own): ``--events``
   events published by the simulator's burst mode, then taken in by the consumer
   (:func:`~data_platform.sources.web_events.consumer.consume`: fetch, parse, screen with
   every rule and reference check, one warehouse transaction, the lake files, the
   acknowledgement) a bounded batch at a time until none is pending; beside a bare baseline
   on the same messages: ``pyarrow.json`` parse, one Parquet file, one DuckDB insert, no
   checks. Then one micro-batch as the sensor launches it (``headless.micro_batch``: a whole
   Dagster run of ``web_events_job``, the stream's dbt models included) on a batch of
   ``--run-events``, to show what a run adds.
2. **Latency** from publish to visible in ``marts.fct_store_activity_5min``: the Dagster daemon
   on the state folder (its sensors running, as ``make dev`` has them), the simulator
   publishing at ``--rate`` orders a minute for ``--seconds``; then, for every event loaded,
   the broker's publish time (``published_at``) against the time the run that loaded it
   (its batch id names the run) stored the materialization of ``fct_store_activity_5min``:
   p50, p95 and the maximum, the runs, and where a run's time goes (launch, worker start-up,
   the raw step, the dbt step).

    .venv/bin/python bench/stream.py --years 1                      # the defaults
    .venv/bin/python bench/stream.py --home .data --events 50000 --seconds 120
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[1]

PLATFORM = str(BIN / "data-platform")
FCT = ("marts", "fct_store_activity_5min")


def nats_answers(url: str) -> bool:
    """Whether something listens at the ``nats://host:port`` of ``url``."""
    host, _, port = url.removeprefix("nats://").partition(":")
    try:
        socket.create_connection((host, int(port or 4222)), timeout=2).close()
    except OSError:
        return False
    return True


def _say(line: str) -> None:
    print(line, flush=True)


def prepare_home(args) -> tuple[Path, dict[str, str]]:
    """The state folder, seeded and with yesterday's batch side built, and its environment."""
    home = (args.home or Path(tempfile.mkdtemp(prefix="data-platform-stream-"))).resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_PLATFORM_", "DAGSTER_"))}
    env.update({"DATA_PLATFORM_HOME": str(home), "DO_NOT_TRACK": "1"})
    if not args.home:
        _say(f"stream bench: seeding {args.years} year(s) in {home}")
        subprocess.run([PLATFORM, "seed", "--years", str(args.years)], env=env, check=True)
    subprocess.run([PLATFORM, "prepare"], env=env, check=True, capture_output=True)
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    _say(f"stream bench: building the batch side for {yesterday}")
    subprocess.run([PLATFORM, "run", "--partition", yesterday], env=env, check=True)
    env["DAGSTER_HOME"] = str(home / "dagster")
    return home, env


def _environ(env: dict[str, str]) -> None:
    """This process's environment as ``env`` says (the resources read explicit settings
    through EnvVar)."""
    for name in [n for n in os.environ if n.startswith(("DATA_PLATFORM_", "DAGSTER_HOME"))]:
        del os.environ[name]
    os.environ.update(env)


def throughput(env: dict[str, str], backend: str, args) -> dict[str, float]:
    """Publish ``args.events`` events on ``backend``, consume them all; the figures."""
    from data_platform.core.settings import Settings
    from data_platform.resources import open_resources
    from data_platform.simulate import Options, burst
    from data_platform.sources.web_events.consumer import StreamPolicy, consume

    env = dict(env)
    if backend == "nats":
        env["DATA_PLATFORM_EVENTS_URL"] = args.nats
        env["DATA_PLATFORM_EVENTS_STREAM"] = f"BENCH_{uuid.uuid4().hex[:10].upper()}"
    _environ(env)
    settings = Settings.from_environ(env)
    keys = ("events", "warehouse", "lake", "shop_db")
    figures: dict[str, float] = {}
    with open_resources(settings, *keys) as resources:
        started = time.perf_counter()
        totals = burst(resources, args.events, Options(seed=None), say=lambda _: None)
        figures["publish s"] = time.perf_counter() - started
        figures["events"] = totals["messages"]
        policy = StreamPolicy(
            allowed_lateness=dt.timedelta(minutes=settings.allowed_lateness_minutes),
            today=dt.datetime.now(dt.UTC).date(),
        )
        loaded = batches = 0
        consuming = 0.0
        # Until nothing is pending (asked of the broker, not timed: a fetch finding nothing
        # waits a second for the first message, as the asset's does).
        while resources["events"].lag().pending:
            now = dt.datetime.now(dt.UTC)
            started = time.perf_counter()
            batch = consume(
                resources["events"],
                resources["warehouse"],
                resources["lake"],
                policy,
                str(uuid.uuid4()),
                now,
            )
            consuming += time.perf_counter() - started
            loaded += batch.loaded + batch.quarantined
            batches += 1
            _say(f"  {backend}: batch {batches}: {batch.delivered:,} delivered, {loaded:,} so far")
        figures["consume s"] = consuming
        figures["taken in"] = loaded
        figures["batches"] = batches
    figures["events/s"] = loaded / figures["consume s"]
    return figures


def landing_files(home: Path) -> set[Path]:
    """The files backend's landing files now."""
    return set((home / "lake" / "landing" / "events").rglob("*.jsonl"))


def bare_baseline(files: list[Path]) -> dict[str, float]:
    """The landing ``files`` parsed, written and inserted, no checks."""
    started = time.perf_counter()
    table = pa.concat_tables(pa_json.read_json(f) for f in files)
    with tempfile.TemporaryDirectory() as scratch:
        pq.write_table(table, Path(scratch) / "events.parquet")
        with duckdb.connect(str(Path(scratch) / "bare.duckdb")) as connection:
            connection.register("batch", table)
            connection.execute("create table web_events as select * from batch")
    seconds = time.perf_counter() - started
    return {"events": table.num_rows, "consume s": seconds, "events/s": table.num_rows / seconds}


def one_run(env: dict[str, str], args) -> dict[str, float]:
    """One micro-batch run of ``args.run_events`` events, as the sensor launches it."""
    from dagster import DagsterInstance

    from data_platform.core.settings import Settings
    from data_platform.headless import micro_batch
    from data_platform.resources import open_resources
    from data_platform.simulate import Options, burst

    _environ(env)
    settings = Settings.from_environ(env)
    with open_resources(settings, "events", "lake", "shop_db") as resources:
        burst(resources, args.run_events, Options(seed=None), say=lambda _: None)
    started = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        summary = micro_batch(settings, instance)
        steps = _step_seconds(instance, summary.run_id)
    figures = {"run s": time.perf_counter() - started, **steps}
    assert summary.success, summary
    return figures


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    """Seconds of each step of the run (STEP_START to its end), by step key."""
    starts, seconds = {}, {}
    for record in instance.get_records_for_run(run_id).records:
        entry = record.event_log_entry
        if entry.dagster_event is None or not entry.step_key:
            continue
        kind = entry.dagster_event_type.value
        if kind == "STEP_START":
            starts[entry.step_key] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in starts:
            seconds[f"step {entry.step_key} s"] = entry.timestamp - starts[entry.step_key]
    return seconds


def latency(home: Path, env: dict[str, str], args) -> None:
    """The daemon and the simulator for ``args.seconds``; latencies from the event log."""
    _environ(env)
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

    from data_platform.resources import WarehouseResource

    logs = open(home / "stream-bench.log", "w")  # noqa: SIM115 (closed below)
    common = {"cwd": PROJECT, "env": env, "start_new_session": True, "stdout": logs}
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        stderr=subprocess.STDOUT,
        **common,
    )
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    try:
        _say(
            f"stream bench: the daemon runs; simulating {args.rate:g} orders/min for {args.seconds} s"
        )
        subprocess.run(
            [PLATFORM, "simulate", "--rate", str(args.rate), "--duration", str(args.seconds)],
            env=env,
            check=True,
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 240
        with DagsterInstance.get() as instance:
            while True:  # until the sensor took the last events in and the runs ended
                from data_platform.core.settings import Settings
                from data_platform.resources import open_resources

                with open_resources(Settings.from_environ(env), "events") as resources:
                    pending = resources["events"].lag().pending
                busy = instance.get_runs_count(
                    RunsFilter(
                        statuses=[
                            DagsterRunStatus.QUEUED,
                            DagsterRunStatus.STARTING,
                            DagsterRunStatus.STARTED,
                        ]
                    )
                )
                if not pending and not busy:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"still {pending} pending, {busy} runs busy after 4 minutes")
                _say(f"  waiting: {pending} pending, {busy} runs in progress")
                time.sleep(5)
            runs = instance.get_runs(RunsFilter(job_name="web_events_job"))
            by_prefix = {r.run_id[:8]: r for r in runs}
            visible: dict[str, float] = {}
            phases: list[dict[str, float]] = []
            for run in runs:
                records = instance.get_records_for_run(run.run_id).records
                first: dict[str, float] = {}
                for record in records:
                    entry = record.event_log_entry
                    if entry.dagster_event is None:
                        continue
                    kind = entry.dagster_event_type.value
                    first.setdefault(kind, entry.timestamp)
                    materialized = (
                        entry.dagster_event.asset_key if kind == "ASSET_MATERIALIZATION" else None
                    )
                    if materialized == AssetKey(list(FCT)):
                        visible[run.run_id] = entry.timestamp
                steps = _step_seconds(instance, run.run_id)
                if "PIPELINE_SUCCESS" in first and "PIPELINE_STARTING" in first:
                    record = instance.get_run_record_by_id(run.run_id)
                    phases.append(
                        {
                            "queued s": first["PIPELINE_STARTING"]
                            - record.create_timestamp.timestamp(),
                            "worker start-up s": first["PIPELINE_START"]
                            - first["PIPELINE_STARTING"],
                            **steps,
                            "run s": first["PIPELINE_SUCCESS"]
                            - record.create_timestamp.timestamp(),
                        }
                    )
        warehouse = WarehouseResource(url=f"duckdb:///{home / 'warehouse.duckdb'}")
        rows = warehouse.query(
            "select published_at, _batch_id as batch from raw.web_events "
            f"where _loaded_at >= timestamp '{started_at.isoformat(sep=' ')}'"
        )
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        logs.close()
    latencies = []
    for row in rows:
        run = by_prefix.get(row["batch"].rsplit("-", 1)[-1])
        if run is None or run.run_id not in visible:
            continue
        published = row["published_at"].replace(tzinfo=dt.UTC).timestamp()
        latencies.append(visible[run.run_id] - published)
    if not latencies:
        raise SystemExit("no event became visible: see " + str(home / "stream-bench.log"))
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    _say("")
    _say(f"publish to visible in {'.'.join(FCT)}: {len(latencies):,} events, {len(runs)} runs")
    _say(
        f"  p50 {statistics.median(latencies):6.1f} s   p95 {p95:6.1f} s   "
        f"max {latencies[-1]:6.1f} s   (goal: p95 at most 60 s)"
    )
    names = sorted({name for phase in phases for name in phase})
    for name in names:
        values = [phase[name] for phase in phases if name in phase]
        _say(f"  {name:36} median {statistics.median(values):6.2f}  max {max(values):6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=1)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--events", type=int, default=200_000, help="throughput: events (200,000)")
    parser.add_argument("--run-events", type=int, default=20_000, help="one run's events (20,000)")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--rate", type=float, default=30, help="latency: orders/min (30)")
    parser.add_argument("--seconds", type=int, default=300, help="latency: seconds (300)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    home, env = prepare_home(args)

    if not args.skip_throughput:
        throughputs(home, env, args)
    if not args.skip_latency:
        latency(home, env, args)


def throughputs(home: Path, env: dict[str, str], args) -> None:
    """Part 1 of the module's docstring, printed as a table."""
    columns: dict[str, dict[str, float]] = {}
    before = landing_files(home)
    columns["files"] = throughput(env, "files", args)
    columns["bare baseline"] = bare_baseline(sorted(landing_files(home) - before))
    if nats_answers(args.nats):
        columns["nats"] = throughput(env, "nats", args)
    else:
        _say(f"stream bench: no NATS server at {args.nats}: the files backend only")
    run = one_run(env, args)
    _say("")
    _say(f"{'consumer throughput':24}" + "".join(f"{name:>16}" for name in columns))
    for figure in ("events", "publish s", "consume s", "batches", "events/s"):
        cells = "".join(
            f"{columns[name][figure]:>16,.2f}" if figure in columns[name] else f"{'':>16}"
            for name in columns
        )
        _say(f"{figure:24}{cells}")
    base = columns["bare baseline"]["events/s"]
    _say(
        f"{'ratio to bare':24}"
        + "".join(f"{columns[name]['events/s'] / base:>16.2f}" for name in columns)
        + "   (goal: at least 20,000 events/s)"
    )
    _say("")
    _say(f"one micro-batch run of {args.run_events:,} events (headless, files backend)")
    for name, value in run.items():
        _say(f"  {name:44} {value:7.2f}")


if __name__ == "__main__":
    main()
