"""The ``data-platform`` command.

- ``data-platform seed --years N`` or ``--from-csv DIR``: put the demo sources in place.
- ``data-platform prepare``: parse the dbt project (the manifest the dbt assets are built from).
- ``data-platform run``: materialize the whole graph over every partition present in the data,
  print a summary, and exit 1 if any step or blocking check failed. ``--partition DAY`` or
  ``--partition-range FIRST...LAST``: those daily partitions and everything downstream.
  ``--full-refresh``: rebuild every dbt model from the whole history.

Settings come from the environment (see :mod:`data_platform.settings`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

from data_platform import settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="data-platform", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    seed = commands.add_parser("seed", help="put the jafgen demo sources in place")
    source = seed.add_mutually_exclusive_group(required=True)
    source.add_argument("--years", type=int, help="generate N years of data with jafgen")
    source.add_argument("--from-csv", type=Path, help="a directory of jafgen raw_*.csv files")
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing if the shop database has orders"
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
    settings.apply_defaults()
    if args.command == "seed":
        return _seed(args)
    if args.command == "prepare":
        return _prepare()
    return _run(args)


def _seed(args) -> int:
    from data_platform.resources import from_environment
    from data_platform.resources.shop_db import orders
    from data_platform.seed import SeedError, generate_jafgen, seed_from_csv

    shop_db, lake = from_environment()
    if args.if_empty:
        shop_db.create_tables()
        if shop_db.count(orders):
            print("seed: the shop database already has orders; nothing to do")
            return 0
    if args.years is not None:
        if args.years < 1:
            print("seed: --years must be at least 1", file=sys.stderr)
            return 2
        target = settings.state_home() / "generated" / f"jafgen-{args.years}y"
        print(f"seed: generating {args.years} year(s) of Jaffle Shop data in {target}")
        csv_dir = generate_jafgen(args.years, target)
    else:
        csv_dir = args.from_csv
    started = time.monotonic()
    try:
        summary = seed_from_csv(csv_dir, shop_db, lake)
    except SeedError as error:
        print(f"seed: {error}", file=sys.stderr)
        return 2
    start = dt.date.fromisoformat(os.environ[settings.PARTITION_START])
    print(
        f"seed: {summary.rows} upserted into the shop database; "
        f"{len(summary.files_written)} landing files written, {summary.files_unchanged} unchanged; "
        f"orders from {summary.first_day} to {summary.last_day} ({time.monotonic() - started:.1f} s)"
    )
    if summary.first_day and summary.first_day < start:
        print(
            f"seed: orders start on {summary.first_day}, before the first daily partition {start}; "
            f"set {settings.PARTITION_START}={summary.first_day} so no day is left out",
            file=sys.stderr,
        )
        return 3
    return 0


def _prepare() -> int:
    from dagster_dbt import DbtCliResource

    from data_platform.transformation.dbt_assets import dbt_project

    dbt = DbtCliResource(project_dir=dbt_project)
    invocation = dbt.cli(["parse"], target_path=Path("target"), raise_on_error=False).wait()
    if not invocation.is_successful():
        print("prepare: dbt parse failed", file=sys.stderr)
        return 1
    print(f"prepare: dbt manifest at {dbt_project.manifest_path}")
    print(f"prepare: Dagster instance at {settings.prepare_dagster_home()}")
    _initialize_pools()
    return 0


def _initialize_pools() -> None:
    """Give the warehouse pool its limit in the instance now, not at the first queued run.

    Dagster creates a pool's limit lazily, when the run queue first meets the pool, and in
    that same pass treats the pool as unlimited: on a fresh instance the first batch of queued
    runs would start together and meet DuckDB's single-writer lock.
    """
    from dagster import DagsterInstance

    from data_platform.ingestion.raw_loading import WAREHOUSE_POOL

    with DagsterInstance.get() as instance:
        if instance.global_op_concurrency_default_limit is not None:
            instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
            limit = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count
            print(f"prepare: pool {WAREHOUSE_POOL!r} limited to {limit} slot(s)")


def _run(args) -> int:
    from data_platform.headless import run_all
    from data_platform.ingestion.partitions import parse_partition_range

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
    settings.prepare_dagster_home()
    try:
        return 0 if run_all(job, partitions=partitions) else 1
    except ValueError as error:
        print(f"run: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
