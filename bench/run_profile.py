"""Where a headless run's time goes, beside Dagster's bookkeeping floor, in one go.

Seeds a state folder (``--years N`` with jafgen, or ``--from-csv DIR``; ``--home`` reuses a
seeded one), then runs ``data-platform run`` over the whole history and, with ``--daily K``,
``data-platform run --partition <last day>`` K times. For the full run it prints, from the
run's own records (the Dagster instance's event log and each dbt invocation's ``dbt.log``):

- the process before the run exists: interpreter start, code location load, settings and
  pre-flight checks, the data window;
- run creation: Dagster's planned events (materializations and checks), before the first step;
- each step: raw ingests (read, screening, lake write and warehouse load, their
  materialization events), the lake checks, the dbt steps split into start-up (dagster-dbt
  and dbt's interpreter, before dbt's first log line), parse, work, and what follows dbt's
  exit (events, row counts);
- the **bookkeeping floor**: the same asset keys, partitions, steps and checks as trivial
  assets (no work, one materialization per asset and partition, one result per check),
  materialized over the same range on a fresh instance of the same kind (SQLite beside the
  state folder, or the PostgreSQL database the state folder's dagster.yaml names) with the
  same settings: what Dagster itself costs for this graph;
- what the platform adds on top of the floor, peak memory, and the daily run's median.

    .venv/bin/python bench/run_profile.py --years 1 --daily 3
    .venv/bin/python bench/run_profile.py --years 3 --daily 3

The raw steps' split into read, screening, lake write and warehouse load is measured on its
own, on millions of rows, by ``bench/raw_path.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack, nullcontext
from pathlib import Path

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[1]


def platform_env(home: Path) -> dict[str, str]:
    """The environment of a ``data-platform`` command on state folder ``home`` (backend
    settings pass through, so the server configuration is measured the same way)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_PLATFORM_HOME", "DAGSTER_HOME")}
    env.update({"DATA_PLATFORM_HOME": str(home), "DO_NOT_TRACK": "1"})
    return env


def command(env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run ``data-platform <args>``: wall seconds and stdout; exits on failure."""
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "data-platform"), *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"data-platform {' '.join(args)} failed (exit {result.returncode})")
    return time.monotonic() - started, result.stdout


# Runs a command and prints the largest resident set of it and its descendants (wait4's
# ru_maxrss): this script's own children include the seed (jafgen), which is not the run's.
PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def measured_run(env: dict[str, str], *args: str) -> tuple[float, str, float]:
    """``data-platform run <args>``: wall seconds, stdout and peak memory in MiB (the run's
    process and its dbt); exits on failure."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", PEAK, str(BIN / "data-platform"), "run", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"data-platform run failed (exit {result.returncode})")
    peak_kib = int(result.stderr.strip().splitlines()[-1])
    return time.monotonic() - started, result.stdout, peak_kib / 1024


def run_id_of(stdout: str) -> str:
    found = re.findall(r"^run ([0-9a-f-]{36}): SUCCESS", stdout, re.MULTILINE)
    if not found:
        raise SystemExit(f"no run id in the output:\n{stdout[-2000:]}")
    return found[-1]


def event_times(instance, run_id: str) -> list[tuple[float, str, str | None]]:
    """(timestamp, event type, step key) of every Dagster event of the run, in order."""
    records = instance.get_records_for_run(run_id, limit=1_000_000).records
    return [
        (
            r.event_log_entry.timestamp,
            r.event_log_entry.dagster_event_type.value,
            r.event_log_entry.step_key,
        )
        for r in records
        if r.event_log_entry.dagster_event_type is not None
    ]


def steps_of(events) -> dict[str, tuple[float, float, Counter]]:
    """Per step: its start and end (STEP_START to STEP_SUCCESS or STEP_FAILURE) and the count
    of each event type it wrote (planned events carry a step key too, but come before it)."""
    steps: dict[str, list] = {}
    for ts, kind, step in events:
        if step is None:
            continue
        entry = steps.setdefault(step, [None, None, Counter()])
        if kind == "STEP_START" and entry[0] is None:
            entry[0] = ts
        if kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            entry[1] = ts
        entry[2][kind] += 1
    return {k: (v[0], v[1], v[2]) for k, v in steps.items() if v[0] is not None and v[1]}


def dbt_phases(target: Path, step: str, run_id: str) -> dict[str, float] | None:
    """Timestamps (epoch seconds) of a dbt invocation's first log line, end of parse, and end
    of work, from its ``dbt.log``; None when not found."""
    import datetime as dt

    folders = sorted(target.glob(f"{step}-{run_id[:7]}-*")) if target.is_dir() else []
    if not folders or not (folders[0] / "dbt.log").is_file():
        return None
    stamps: dict[str, float] = {}
    for line in (folders[0] / "dbt.log").read_text().splitlines():
        try:
            info = json.loads(line)["info"]
        except (ValueError, KeyError):
            continue
        ts = dt.datetime.fromisoformat(info["ts"]).timestamp()
        stamps.setdefault("first", ts)
        if info["name"] == "FoundStats":
            stamps["parsed"] = ts
        stamps["last"] = ts
    return stamps


def floor_seconds(home: Path, first: str, last: str, dagster_yaml: Path) -> tuple[float, int]:
    """Materialize trivial copies of the platform's assets and checks over ``first..last`` on
    a fresh instance configured like ``dagster_yaml``: wall seconds and materializations."""
    from dagster import (
        AssetCheckResult,
        AssetCheckSpec,
        AssetSpec,
        BackfillPolicy,
        DagsterInstance,
        Definitions,
        MaterializeResult,
        define_asset_job,
        multi_asset,
    )

    from data_platform.core.partitions import partition_range_tags
    from data_platform.definitions import defs as platform_defs

    graph = platform_defs().resolve_asset_graph()
    # What the full run (data-platform run: all_assets_job) materializes, not every asset: the
    # stream's assets have partitions of their own and are not in it.
    run_keys = platform_defs().resolve_job_def("all_assets_job").asset_layer.selected_asset_keys
    order = {key: i for i, key in enumerate(graph.toposorted_asset_keys)}
    copies = []
    for assets_def in graph.assets_defs:
        if not set(assets_def.keys) & run_keys or not assets_def.is_executable:
            continue
        specs = [
            AssetSpec(
                key,
                deps=list(graph.get(key).parent_keys),
                partitions_def=graph.get(key).partitions_def,
            )
            for key in assets_def.keys
            if key in run_keys
        ]
        checks = [
            AssetCheckSpec(name=f"check_{i}", asset=key)
            for key in assets_def.keys
            if key in run_keys
            for i, _ in enumerate(k for k in graph.asset_check_keys if k.asset_key == key)
        ]
        partitioned = assets_def.partitions_def is not None

        @multi_asset(
            name=assets_def.node_def.name,
            specs=specs,
            check_specs=checks,
            can_subset=True,
            backfill_policy=BackfillPolicy.single_run() if partitioned else None,
        )
        def trivial(context):
            for key in sorted(context.selected_asset_keys, key=order.__getitem__):
                yield MaterializeResult(asset_key=key)
            for check in context.selected_asset_check_keys:
                yield AssetCheckResult(
                    asset_key=check.asset_key, check_name=check.name, passed=True
                )

        copies.append(trivial)
    job = Definitions(
        assets=copies, jobs=[define_asset_job("floor", selection="*")]
    ).resolve_job_def("floor")
    floor_home = Path(tempfile.mkdtemp(prefix="floor-", dir=home.parent))
    shutil.copyfile(dagster_yaml, floor_home / "dagster.yaml")
    try:
        from data_platform import headless

        days = (_date(last) - _date(first)).days + 1
        with ExitStack() as stack:
            for name, arg in (("planned_events_per_asset", days > 31), ("event_batches", None)):
                manager = getattr(headless, name, None)  # absent in older checkouts
                stack.enter_context(
                    manager(*([] if arg is None else [arg])) if manager else nullcontext()
                )
            with DagsterInstance.from_config(str(floor_home)) as instance:
                started = time.monotonic()
                result = job.execute_in_process(
                    instance=instance,
                    tags=partition_range_tags(first, last),
                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                )
                seconds = time.monotonic() - started
        return seconds, len(result.get_asset_materialization_events())
    finally:
        shutil.rmtree(floor_home, ignore_errors=True)


def _date(text: str):
    import datetime as dt

    return dt.date.fromisoformat(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--years", type=int)
    source.add_argument("--from-csv", type=Path)
    parser.add_argument("--home", type=Path, help="state folder (seeded unless --years/--from-csv)")
    parser.add_argument("--daily", type=int, default=0, help="daily partition runs to time")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument(
        "--run-id", help="analyse this finished full run of --home instead of running one"
    )
    args = parser.parse_args()
    if not (args.years or args.from_csv or args.home):
        parser.error("give --years N, --from-csv DIR or --home DIR")

    home = (args.home or Path(tempfile.mkdtemp(prefix="data-platform-profile-"))).resolve()
    env = platform_env(home)
    if args.years or args.from_csv:
        seed = (
            ["--years", str(args.years)]
            if args.years
            else ["--from-csv", str(args.from_csv.resolve())]
        )
        seconds, _ = command(env, "seed", *seed)
        print(f"  seeded {home} in {seconds:.1f} s", file=sys.stderr)
    command(env, "prepare")
    os.environ.update(env)
    from dagster import DagsterInstance

    from data_platform.core.settings import Settings

    settings = Settings.from_environ(env)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)

    if args.run_id:
        run_id, run_seconds, peak_mib, started_wall = args.run_id, None, 0.0, None
    else:
        started_wall = time.time()
        run_seconds, stdout, peak_mib = measured_run(env)
        run_id = run_id_of(stdout)
    with DagsterInstance.get() as instance:
        record = instance.get_run_record_by_id(run_id)
        events = event_times(instance, run_id)
        tags = record.dagster_run.tags
    first = tags.get("dagster/asset_partition_range_start")
    last = tags.get("dagster/asset_partition_range_end")
    counts = Counter(kind for _, kind, _ in events)
    start_ts = next(ts for ts, kind, _ in events if kind == "PIPELINE_START")
    end_ts = events[-1][0]
    created = events[0][0]
    steps = steps_of(events)

    rows: list[tuple[str, float, str]] = []
    if started_wall is not None:
        rows.append(("process start, code load, checks, window", created - started_wall, ""))
    rows.append(
        (
            "run creation: planned events",
            start_ts - created,
            (
                f"{counts['ASSET_MATERIALIZATION_PLANNED']} materialization, "
                f"{counts['ASSET_CHECK_EVALUATION_PLANNED']} check"
            ),
        )
    )
    # A state folder's dbt artifacts, or the project's (checkouts before they moved).
    targets = [settings.home / "dbt" / "target", PROJECT / "dbt_project" / "target"]
    for step, (begin, end, kinds) in sorted(steps.items(), key=lambda item: item[1][0]):
        note = f"{kinds['ASSET_MATERIALIZATION']} materializations, {kinds['ASSET_CHECK_EVALUATION']} checks"
        phases = next((p for t in targets if (p := dbt_phases(t, step, run_id))), None)
        if phases and "parsed" in phases:
            rows.append(
                (f"{step}: start-up", phases["first"] - begin, "dagster-dbt, dbt's interpreter")
            )
            rows.append((f"{step}: parse", phases["parsed"] - phases["first"], ""))
            rows.append((f"{step}: work", phases["last"] - phases["parsed"], ""))
            rows.append((f"{step}: after dbt", end - phases["last"], note))
        else:
            rows.append((step, end - begin, note))
    rows.append(("run end", end_ts - max(e for _, e, _ in steps.values()), ""))
    total = run_seconds or (end_ts - created)

    print(f"state folder {home}; run {run_id}; partitions {first} .. {last}")
    print(f"instance: {settings.dagster_home / 'dagster.yaml'}")
    print(f"{'phase':52} {'seconds':>8} {'share':>6}  notes")
    for name, seconds, note in rows:
        print(f"{name:52} {seconds:8.2f} {100 * seconds / total:5.1f}%  {note}")
    print(f"{'full run, command wall time':52} {total:8.2f} 100.0%  peak RSS {peak_mib:.0f} MiB")
    print(f"{'  of which Dagster events':52} {'':8} {'':6}  {sum(counts.values())} events")

    if not args.no_floor and first and last:
        floor, materialized = floor_seconds(
            home, first, last, settings.dagster_home / "dagster.yaml"
        )
        run_in_process = end_ts - created
        print(
            f"{'bookkeeping floor (trivial assets, same graph)':52} {floor:8.2f} {'':6}  {materialized} materializations"
        )
        print(f"{'platform run (creation to end)':52} {run_in_process:8.2f}")
        print(f"{'platform adds on top of the floor':52} {run_in_process - floor:8.2f}")
        print(f"{'  ratio run / floor':52} {run_in_process / floor:8.2f}")

    if args.daily:
        day = last
        times = [command(env, "run", "--partition", day)[0] for _ in range(args.daily)]
        runs = ", ".join(f"{t:.1f}" for t in times)
        print(
            f"{'daily partition run ' + day + ' (median)':52} {statistics.median(times):8.2f} {'':6}  runs: {runs}"
        )


if __name__ == "__main__":
    main()
