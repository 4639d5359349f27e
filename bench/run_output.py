"""Benchmark: what the headless run prints and what it costs, and the landing sensor's first tick.

Seeds a fresh state folder (``--years N`` with jafgen, or ``--from-csv DIR``), prepares it,
then runs the whole graph ``--rounds`` times each way, alternating, in one process tree:

- *bare*: the job executed in-process as before, with Dagster's default console logger (the
  baseline: every DEBUG line on the console);
- *progress*: ``data-platform run`` (progress lines on the console, Dagster's lines and dbt's
  output in ``<home>/logs/run-<run_id>.log``).

Prints, side by side, wall seconds (median), console lines and bytes, and the ratios against
the bare run. Then the landing sensor's first tick on that state folder: files and runs an
empty cursor would request (what the sensor did before it looked at the instance) against
what it requests now, and the tick's seconds.

    .venv/bin/python bench/run_output.py --years 1
    .venv/bin/python bench/run_output.py --from-csv path/to/jaffle-data --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from full_run import BIN, platform_env, timed

BARE = "--bare"


def bare_run() -> None:
    """The baseline, in this process: the whole job over the data's window, Dagster's default
    console logger, no progress (what ``data-platform run`` did before)."""
    from dagster import DagsterInstance

    from data_platform.core.partitions import partition_range_tags
    from data_platform.core.settings import Settings
    from data_platform.definitions import build_definitions
    from data_platform.headless import data_window

    settings = Settings.from_environ()
    first, last = data_window(settings)
    job = build_definitions(settings).resolve_job_def("all_assets_job")
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags=partition_range_tags(first.isoformat(), last.isoformat()),
            raise_on_error=False,
        )
    raise SystemExit(0 if result.success else 1)


def measured(env: dict[str, str], command: list[str]) -> tuple[float, int, int]:
    """Wall seconds, console lines and bytes (stdout and stderr) of ``command``."""
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if result.returncode:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"{' '.join(command)} failed (exit {result.returncode})")
    console = result.stdout + result.stderr
    return seconds, len(console.splitlines()), len(console.encode())


def first_tick(env: dict[str, str]) -> dict:
    """The landing sensor's first tick on the state folder of ``env``, in a child process."""
    code = """
import json, time
from dagster import DagsterInstance, build_sensor_context
from data_platform.core.lake_layout import LANDING
from data_platform.core.settings import Settings
from data_platform.definitions import build_definitions
from data_platform.resources import LakeResource
from data_platform.sources.landing.sensor import landing_sensor, plan_runs

settings = Settings.from_environ()
defs = build_definitions(settings)
lake = LakeResource(url=settings.lake_url)
listing = lake.list_files(LANDING)
empty, _ = plan_runs(listing, {})
with DagsterInstance.get() as instance:
    started = time.monotonic()
    with build_sensor_context(
        cursor=None, resources={"lake": lake}, instance=instance, definitions=defs
    ) as context:
        result = landing_sensor(context)
    seconds = time.monotonic() - started
requests = result.run_requests or []
print(json.dumps({
    "empty_files": sum(len(r.files) for r in empty), "empty_runs": len(empty),
    "files": sum(int(r.tags["landing_files"]) for r in requests), "runs": len(requests),
    "seconds": seconds,
}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--years", type=int)
    source.add_argument("--from-csv", type=Path)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each kind (median)")
    parser.add_argument("--home", type=Path, help="state folder (default: a new temp folder)")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="data-platform-bench-"))
    env, _ = platform_env(home)
    env["DAGSTER_HOME"] = str(home / "dagster")
    seed = ["--years", str(args.years)] if args.years else ["--from-csv", str(args.from_csv)]
    timed(env, "seed", *seed)
    timed(env, "prepare")

    kinds = {
        "bare": [sys.executable, str(Path(__file__).resolve()), BARE],
        "progress": [str(BIN / "data-platform"), "run"],
    }
    figures: dict[str, list[tuple[float, int, int]]] = {kind: [] for kind in kinds}
    for _ in range(args.rounds):
        for kind, command in kinds.items():
            figures[kind].append(measured(env, command))
    # The sensor after the last run (a progress run, as make dev's bootstrap).
    tick = first_tick(env)

    def median(kind: str, index: int) -> float:
        return statistics.median(f[index] for f in figures[kind])

    print(f"state folder      {home}   rounds: {args.rounds}")
    print(f"{'':18}{'wall s':>10}{'lines':>10}{'bytes':>12}{'wall ratio':>12}{'lines ratio':>13}")
    for kind in kinds:
        seconds, lines, size = (median(kind, i) for i in range(3))
        print(
            f"{kind:18}{seconds:10.1f}{lines:10.0f}{size:12.0f}"
            f"{seconds / median('bare', 0):12.2f}{lines / median('bare', 1):13.3f}"
        )
    print(
        f"sensor first tick: an empty cursor requests {tick['empty_files']} files in "
        f"{tick['empty_runs']} runs; now {tick['files']} files in {tick['runs']} runs "
        f"({tick['seconds']:.2f} s)"
    )


if __name__ == "__main__":
    if sys.argv[1:] == [BARE]:
        bare_run()
    main()
