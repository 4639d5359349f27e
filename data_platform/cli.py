"""The ``data-platform`` command.

- ``data-platform seed --years N`` or ``--from-csv DIR``: put the demo sources in place.
- ``data-platform prepare``: parse the dbt project (the manifest the dbt assets are built from).
- ``data-platform run``: materialize the whole graph over every partition present in the data,
  print a summary, and exit 1 if any step or blocking check failed. ``--partition DAY`` or
  ``--partition-range FIRST...LAST``: those daily partitions and everything downstream.
  ``--full-refresh``: rebuild every dbt model from the whole history.

Settings come from the environment (see :mod:`data_platform.core.settings`), read once at
start; a setting the platform cannot use stops the command with exit code 2 and a message
naming the variable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from dagster import DagsterInstance

from data_platform.core.partitions import parse_partition_range
from data_platform.core.settings import DAGSTER_HOME, PARTITION_START, Settings, SettingsError
from data_platform.headless import run_all
from data_platform.loading.raw_asset import WAREHOUSE_POOL
from data_platform.resources import open_resources
from data_platform.resources.dbt import dbt_project, prepare_manifest
from data_platform.seed import SeedError, generate_jafgen, has_data, seed_from_csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="data-platform", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    seed = commands.add_parser("seed", help="put the jafgen demo sources in place")
    source = seed.add_mutually_exclusive_group(required=True)
    source.add_argument("--years", type=int, help="generate N years of data with jafgen")
    source.add_argument("--from-csv", type=Path, help="a directory of jafgen raw_*.csv files")
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing if the sources already hold orders"
    )

    commands.add_parser(
        "prepare", help="parse the dbt project into its manifest; set up $DAGSTER_HOME"
    )
    run = commands.add_parser(
        "run", help="materialize the graph: all partitions, or the given ones and all below"
    )
    which = run.add_mutually_exclusive_group()
    which.add_argument("--partition", metavar="DAY", help="one daily partition, e.g. 2019-02-03")
    which.add_argument(
        "--partition-range",
        metavar="FIRST...LAST",
        help="daily partitions FIRST to LAST, inclusive, e.g. 2019-01-01...2019-01-31",
    )
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every dbt model from the whole history (after a change of model logic)",
    )
    run.add_argument("--job", default=None, help=argparse.SUPPRESS)

    args = parser.parse_args(argv)
    try:
        settings = Settings.from_environ()
    except SettingsError as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 2
    # This process's Dagster instance (DagsterInstance.get() reads DAGSTER_HOME); set at the
    # command's entry, never by an import.
    os.environ.setdefault(DAGSTER_HOME, str(settings.dagster_home))
    settings.home.mkdir(parents=True, exist_ok=True)
    if args.command == "seed":
        return _seed(args, settings)
    if args.command == "prepare":
        return _prepare(settings)
    return _run(args, settings)


def _seed(args, settings: Settings) -> int:
    with open_resources(settings, "lake", "shop_db") as sources:
        if args.if_empty and has_data(sources):
            print("seed: the sources already hold orders; nothing to do")
            return 0
        if args.years is not None:
            if args.years < 1:
                print("seed: --years must be at least 1", file=sys.stderr)
                return 2
            target = settings.home / "generated" / f"jafgen-{args.years}y"
            print(f"seed: generating {args.years} year(s) of Jaffle Shop data in {target}")
            csv_dir = generate_jafgen(args.years, target)
        else:
            csv_dir = args.from_csv
        started = time.monotonic()
        try:
            summary = seed_from_csv(csv_dir, sources)
        except SeedError as error:
            print(f"seed: {error}", file=sys.stderr)
            return 2
    start = settings.partition_start
    print(
        f"seed: {summary.rows} upserted into the shop database; "
        f"{len(summary.files_written)} landing files written, {summary.files_unchanged} unchanged; "
        f"orders from {summary.first_day} to {summary.last_day} ({time.monotonic() - started:.1f} s)"
    )
    if summary.first_day and summary.first_day < start:
        print(
            f"seed: orders start on {summary.first_day}, before the first daily partition {start}; "
            f"set {PARTITION_START}={summary.first_day} so no day is left out",
            file=sys.stderr,
        )
        return 3
    return 0


def _prepare(settings: Settings) -> int:
    if not prepare_manifest(settings):
        print("prepare: dbt parse failed", file=sys.stderr)
        return 1
    print(f"prepare: dbt manifest at {dbt_project.manifest_path}")
    print(f"prepare: Dagster instance at {prepare_dagster_home(settings)}")
    _initialize_pools()
    return 0


def prepare_dagster_home(settings: Settings) -> Path:
    """Make ``$DAGSTER_HOME/dagster.yaml`` the selected instance configuration; return the home.

    Dagster reads its instance configuration from ``$DAGSTER_HOME/dagster.yaml``; the files
    under version control are chosen by ``DATA_PLATFORM_DAGSTER_CONFIG`` (checked to exist
    when the settings are read).
    """
    source = settings.dagster_config
    dagster_home = settings.dagster_home
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    return dagster_home


def _initialize_pools() -> None:
    """Give the warehouse pool its limit in the instance now, not at the first queued run.

    Dagster creates a pool's limit lazily, when the run queue first meets the pool, and in
    that same pass treats the pool as unlimited: on a fresh instance the first batch of queued
    runs would start together and meet DuckDB's single-writer lock.
    """
    with DagsterInstance.get() as instance:
        if instance.global_op_concurrency_default_limit is not None:
            instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
            limit = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count
            print(f"prepare: pool {WAREHOUSE_POOL!r} limited to {limit} slot(s)")


def _run(args, settings: Settings) -> int:
    partitions = None
    if args.partition or args.partition_range:
        try:
            partitions = parse_partition_range(args.partition or args.partition_range)
        except ValueError as error:
            print(f"run: {error}", file=sys.stderr)
            return 2
    if args.job:
        job = args.job
    elif args.full_refresh:
        job = "full_refresh_job"
    else:
        # Every asset: the given days of the partitioned ones, the small unpartitioned ingests
        # (customers, reference files) in full, so the run also works on a fresh warehouse.
        job = "all_assets_job"
    prepare_dagster_home(settings)
    try:
        return 0 if run_all(settings, job, partitions=partitions) else 1
    except ValueError as error:
        print(f"run: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
