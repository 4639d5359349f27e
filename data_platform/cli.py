"""The ``data-platform`` command.

- ``data-platform seed --years N`` or ``--from-csv DIR``: put the demo sources in place.
  ``--years`` moves jafgen's dates (which start on 2018-09-01) by whole weeks so the history
  ends yesterday (UTC); ``--from-csv`` keeps the dates it is given, unless ``--end-yesterday``.
  ``--changes``: then a past of changes replayed through the versioned ingests
  (:mod:`data_platform.seed_history`).
- ``data-platform prepare``: parse the dbt project (the manifest the dbt assets are built from).
- ``data-platform run``: materialize the whole graph over every partition present in the data,
  print a summary, and exit 1 if any step or blocking check failed. ``--partition DAY`` or
  ``--partition-range FIRST...LAST``: those daily partitions and everything downstream.
  ``--full-refresh``: rebuild every dbt model from the whole history.
- ``data-platform simulate``: keep the demo shop going in real time (orders in the shop
  database, web events on the event broker; see :mod:`data_platform.simulate`), until
  interrupted or ``--duration`` seconds; ``--burst N`` publishes N events at once and exits.
- ``data-platform grants``: on a PostgreSQL warehouse, create or update the roles the platform
  manages (``analyst`` reads the marts, ``engineer`` also raw, quarantine and staging; see
  :mod:`data_platform.core.warehouse_grants`), in one transaction; idempotent. On DuckDB it
  says why a single file cannot enforce per-role access and exits 2.
- ``data-platform erase-customer ID [--requested-by WHO]``: remove one customer's personal
  data from the lake and the warehouse and keep it removed (:mod:`data_platform.erasure`).
- ``data-platform --debug COMMAND`` (or ``DATA_PLATFORM_DEBUG=1``): print the traceback of a
  failure too (passwords masked as everywhere else).

Settings come from the environment (see :mod:`data_platform.core.settings`), read and checked
once at start, before Dagster is loaded. ``seed`` and ``run`` then check the state folder and
reach every server the settings name (:mod:`data_platform.preflight`) before any work.
Everything the command prints goes through :func:`~data_platform.core.errors.redact`.

Exit codes: 0 done; 1 the work failed or could not be done now (a step or blocking check
failed, a server did not answer: the same command may succeed later); 2 something must be
corrected first (a setting, the command line, credentials a server refused, a missing
database or bucket, a state folder not yet prepared or seeded); 3 seeded data starts before
the first daily partition.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa

from data_platform import preflight
from data_platform.core.errors import PlatformError, one_line, redact, secrets_of
from data_platform.core.history import yesterday_utc
from data_platform.core.settings import (
    ANALYST_ROLE,
    DAGSTER_HOME,
    ENGINEER_ROLE,
    PARTITION_START,
    WAREHOUSE_URL,
    Settings,
)
from data_platform.core.warehouse_grants import (
    ANALYST_SCHEMAS,
    ENGINEER_SCHEMAS,
    SCHEMAS,
    apply_grants,
)

DEBUG = "DATA_PLATFORM_DEBUG"


def parser() -> argparse.ArgumentParser:
    """The command line's arguments (no side effect)."""
    parser = argparse.ArgumentParser(prog="data-platform", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"print the traceback of a failure (also {DEBUG}=1)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    seed = commands.add_parser("seed", help="put the jafgen demo sources in place")
    source = seed.add_mutually_exclusive_group(required=True)
    source.add_argument("--years", type=int, help="generate N years of data with jafgen")
    source.add_argument("--from-csv", type=Path, help="a directory of jafgen raw_*.csv files")
    seed.add_argument(
        "--end-yesterday",
        action="store_true",
        help="with --from-csv: move the dates by whole weeks so the history ends yesterday (UTC), "
        "as --years always does",
    )
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing if the sources already hold orders"
    )
    seed.add_argument(
        "--changes",
        action="store_true",
        help="then lay down a past of changes (customers moving or changing e-mail, supply "
        "costs) through the versioned ingests, a load per 30 days (see README, History)",
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
    commands.add_parser(
        "consume",
        help="one micro-batch of the event stream now (what the web events sensor launches)",
    )
    commands.add_parser(
        "grants",
        help="PostgreSQL warehouse: create or update the analyst and engineer roles and "
        "their read rights (idempotent)",
    )
    erase = commands.add_parser(
        "erase-customer",
        help="remove one customer's personal data everywhere the platform put it, keep it "
        "removed, and record the request (see README, Personal data)",
    )
    erase.add_argument("customer_id", help="the shop's customer id")
    erase.add_argument(
        "--requested-by",
        default=None,
        help="who asked (recorded in audit.erasures; default: this account's user name)",
    )
    _simulate_arguments(commands)
    return parser


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a share from 0 to 1, e.g. 0.05")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number above 0, e.g. 3")
    return value


def _simulate_arguments(commands) -> None:
    simulate = commands.add_parser(
        "simulate", help="keep the demo shop going: orders and web events in real time"
    )
    simulate.add_argument("--rate", type=_positive, default=3.0, help="orders per minute (3)")
    simulate.add_argument(
        "--duration", type=_positive, default=None, help="seconds to run (default: until stopped)"
    )
    simulate.add_argument(
        "--flush-seconds", type=_positive, default=2.0, help="seconds between publications (2)"
    )
    simulate.add_argument(
        "--burst", type=int, metavar="N", help="publish N events as fast as possible, then exit"
    )
    simulate.add_argument("--seed", type=int, help="seed of the randomness (reproducible runs)")
    simulate.add_argument("--late-share", type=_share, default=0.0, help="share of late events")
    simulate.add_argument(
        "--duplicate-share", type=_share, default=0.0, help="share of events published twice"
    )
    simulate.add_argument(
        "--malformed-share", type=_share, default=0.0, help="share of malformed messages"
    )
    simulate.add_argument(
        "--out-of-order", action="store_true", help="shuffle each flush's messages"
    )
    simulate.add_argument(
        "--no-changes",
        dest="changes",
        action="store_false",
        help="never change prices, tax rates or customers (default: about one change an hour)",
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG, "") not in ("", "0")
    streams = sys.stdout, sys.stderr
    secrets = secrets_of(os.environ)
    sys.stdout, sys.stderr = (Redacting(stream, secrets) for stream in streams)
    try:
        return _command(args)
    except PlatformError as error:
        _report(args.command, str(error), debug)
        return error.exit_code
    except KeyboardInterrupt:
        _report(args.command, "interrupted", debug)
        return 130
    # Anything else is unexpected: one line saying what failed, the traceback under --debug.
    except Exception as error:  # noqa: BLE001
        hint = "" if debug else " (run with --debug for the traceback)"
        _report(args.command, f"failed: {type(error).__name__}: {one_line(error)}{hint}", debug)
        return 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = streams


def _report(command: str, message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"{command}: {message}", file=sys.stderr)


class Redacting:
    """A text stream that writes through :func:`redact` a line at a time (so a secret split
    across two writes is still masked); anything else is the wrapped stream's."""

    def __init__(self, stream, secrets: Iterable[str]):
        self._stream = stream
        self._secrets = frozenset(secrets)
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self._stream.write(redact(lines + "\n", self._secrets))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(redact(self._pending, self._secrets))
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _command(args) -> int:
    settings = Settings.from_environ()
    # This process's Dagster instance (DagsterInstance.get() reads DAGSTER_HOME); set at the
    # command's entry, never by an import.
    os.environ.setdefault(DAGSTER_HOME, str(settings.dagster_home))
    settings.home.mkdir(parents=True, exist_ok=True)
    if args.command == "prepare":
        return _prepare(settings)
    if args.command == "grants":
        return _grants(settings)
    partitions = _partitions(args) if args.command == "run" else None
    if args.command == "seed":
        _check_seed_input(args)
    if args.command in ("run", "consume") or (args.command == "seed" and args.changes):
        preflight.require_manifest()
    # The servers first: a state folder is only known unseeded once its database is reached.
    preflight.check_servers(settings, os.environ)
    if args.command == "run":
        preflight.require_seeded_file(settings)
    if args.command == "seed":
        return _seed(args, settings)
    if args.command == "consume":
        return _consume(settings)
    if args.command == "erase-customer":
        return _erase_customer(args, settings)
    if args.command == "simulate":
        preflight.require_seeded_file(settings)
        return _simulate(args, settings)
    return _run(args, settings, partitions)


# Why `grants` refuses a DuckDB warehouse, in one line.
DUCKDB_NO_ROLES = (
    "a DuckDB warehouse is a single file: it cannot enforce per-role access (whoever can read "
    "the file reads everything); protect it with file permissions, or use PostgreSQL for roles"
)


def _grants(settings: Settings) -> int:
    """Apply :mod:`~data_platform.core.warehouse_grants` to the PostgreSQL warehouse."""
    warehouse = settings.warehouse
    if warehouse.server is None:
        raise PlatformError(DUCKDB_NO_ROLES, exit_code=2)
    preflight.check_servers(settings, os.environ, only=WAREHOUSE_URL)
    engine = sa.create_engine(warehouse.sqlalchemy_url(), poolclass=sa.pool.NullPool)
    try:
        roles = apply_grants(engine, settings.analyst_role, settings.engineer_role)
    except ValueError as error:
        raise PlatformError(
            f"{error}; set {ANALYST_ROLE} or {ENGINEER_ROLE}", exit_code=2
        ) from None
    except sa.exc.DBAPIError as error:
        # PostgreSQL refused a statement: the platform role lacks CREATEROLE, or owns nothing.
        raise PlatformError(
            f"PostgreSQL refused ({one_line(error.orig or error)}); nothing was changed. The "
            f"platform role needs CREATEROLE and must own the schemas {', '.join(SCHEMAS)}",
            exit_code=2,
        ) from None
    finally:
        engine.dispose()
    print(
        f"grants: {roles.analyst} (group role) reads {', '.join(ANALYST_SCHEMAS)}; "
        f"{roles.engineer} (group role) reads {', '.join(ANALYST_SCHEMAS + ENGINEER_SCHEMAS)}; "
        f"{roles.owner} owns and writes; relations created later by {roles.owner} are readable "
        "too (default privileges)"
    )
    print(
        f"grants: to give a person access: CREATE ROLE <name> LOGIN PASSWORD '...' "
        f"IN ROLE {roles.analyst}"
    )
    return 0


def _erase_customer(args, settings: Settings) -> int:
    """:func:`~data_platform.erasure.erase_customer` on the configured warehouse and lake."""
    # Dagster (under the resources) loads only for the command that needs it.
    from data_platform.erasure import describe, erase_customer
    from data_platform.resources import open_resources

    with open_resources(settings, "warehouse", "lake", "pseudonyms") as resources:
        report = erase_customer(
            args.customer_id,
            args.requested_by or getpass.getuser(),
            resources["warehouse"],
            resources["lake"],
            resources["pseudonyms"],
        )
    for line in describe(report):
        print(line)
    return 0


def _consume(settings: Settings) -> int:
    print("consume: loading the code location", flush=True)
    from data_platform.headless import format_summary, micro_batch

    prepare_dagster_home(settings)
    summary = micro_batch(settings)
    if summary is None:
        print("consume: no pending events")
        return 0
    print(format_summary(summary))
    return 0 if summary.success else 1


def _check_seed_input(args) -> None:
    if args.years is not None and args.years < 1:
        raise PlatformError(
            f"--years {args.years}: expected at least 1, e.g. --years 1", exit_code=2
        )
    if args.from_csv is not None and not args.from_csv.is_dir():
        raise PlatformError(
            f"--from-csv {args.from_csv}: no such folder; expected a folder of jafgen CSVs "
            "(raw_customers.csv, raw_orders.csv...), e.g. --from-csv jaffle-data",
            exit_code=2,
        )


def _partitions(args):
    """The days ``--partition``/``--partition-range`` give (an empty value is an error, not
    "every day"), or None."""
    text = args.partition if args.partition is not None else args.partition_range
    if text is None:
        return None
    option = "--partition" if args.partition is not None else "--partition-range"
    expected = (
        "expected a day YYYY-MM-DD or FIRST...LAST, "
        "e.g. --partition 2018-09-01 or --partition-range 2018-09-01...2018-09-30"
    )
    if not text.strip():
        raise PlatformError(f"{option} is empty: {expected}", exit_code=2)
    # Imports Dagster (core.partitions builds DailyPartitionsDefinition): only when a
    # partition is given, after the settings are checked.
    from data_platform.core.partitions import parse_partition_range

    try:
        return parse_partition_range(text)
    except ValueError as error:
        raise PlatformError(f"{option}: {error}; {expected}", exit_code=2) from None


def _seed(args, settings: Settings) -> int:
    # Dagster and the sources (seconds of imports): loaded once the settings, the state folder
    # and the servers are known to be usable.
    from data_platform.resources import open_resources
    from data_platform.seed import SeedError, generate_jafgen, has_data, seed_from_csv

    with open_resources(settings, "lake", "shop_db") as sources:
        if args.if_empty and has_data(sources):
            print("seed: the sources already hold orders; nothing to do")
            return 0
        if args.years is not None:
            target = settings.home / "generated" / f"jafgen-{args.years}y"
            print(f"seed: generating {args.years} year(s) of Jaffle Shop data in {target}")
            csv_dir = generate_jafgen(args.years, target)
        else:
            csv_dir = args.from_csv
        if args.changes:
            # Refused before the seed writes anything (data_platform.seed_history); the code
            # location (seconds of imports) loads only for --changes.
            from data_platform.seed_history import check_replayable

            check_replayable(settings)
        # --years: jafgen's history (from 2018-09-01) would end years ago.
        end = yesterday_utc() if args.years is not None or args.end_yesterday else None
        started = time.monotonic()
        try:
            summary = seed_from_csv(csv_dir, sources, end=end, home=settings.home)
        except SeedError as error:
            raise PlatformError(str(error), exit_code=2) from error
    if end is not None:
        print(f"seed: dates moved by {summary.shift_weeks} week(s) to end on {end} (yesterday)")
    print(
        f"seed: {summary.rows} upserted into the shop database; "
        f"{len(summary.files_written)} landing files written, {summary.files_unchanged} unchanged; "
        f"orders from {summary.first_day} to {summary.last_day} ({time.monotonic() - started:.1f} s)"
    )
    # The first partition follows the history the seed recorded, unless set explicitly.
    start = Settings.from_environ().partition_start
    if summary.first_day and summary.first_day < start:
        print(
            f"seed: orders start on {summary.first_day}, before the first daily partition {start}; "
            f"set {PARTITION_START}={summary.first_day} so no day is left out",
            file=sys.stderr,
        )
        return 3
    if args.changes:
        return _seed_changes(settings, summary)
    return 0


def _seed_changes(settings: Settings, summary) -> int:
    """``seed --changes``: :func:`~data_platform.seed_history.replay` over the seeded days."""
    if summary.first_day is None:
        print("seed: the sources hold no orders; no history to lay down")
        return 0
    print(
        f"seed: laying down history from {summary.first_day} to {summary.last_day} "
        "(the versioned ingests load once, then once per period with its changes)",
        flush=True,
    )
    # The code location (seconds of imports): only for --changes.
    from data_platform.seed_history import replay

    prepare_dagster_home(settings)
    history = replay(
        settings, summary.first_day, summary.last_day, say=lambda line: print(line, flush=True)
    )
    print(
        f"seed: history laid down: {history.customer_changes} customer change(s) and "
        f"{history.supply_changes} supply cost(s) over {history.periods} period(s), "
        f"{len(history.runs)} loads in {history.seconds:.1f} s; `data-platform run` builds the "
        "history dimensions"
    )
    return 0


def _simulate(args, settings: Settings) -> int:
    # Dagster and the sources (seconds of imports): once the settings and servers are usable.
    from data_platform.resources import open_resources
    from data_platform.simulate import Faults, Options, burst, run

    if args.burst is not None and args.burst < 1:
        raise PlatformError(
            f"--burst {args.burst}: expected at least 1, e.g. --burst 100000", exit_code=2
        )
    faults = Faults(args.late_share, args.duplicate_share, args.malformed_share, args.out_of_order)
    options = Options(args.rate, args.duration, args.flush_seconds, args.seed, faults, args.changes)
    with open_resources(settings, "lake", "shop_db", "events") as resources:
        if args.burst is not None:
            burst(resources, args.burst, options, say=lambda line: print(line, flush=True))
            return 0
        stop = threading.Event()
        # SIGINT and SIGTERM end the loop after its last flush, not in the middle of one.
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
        run(resources, options, stop, say=lambda line: print(line, flush=True))
    return 0


def _prepare(settings: Settings) -> int:
    # dagster-dbt and Dagster (seconds of imports): loaded once the settings are checked.
    from data_platform.resources.dbt import dbt_project, prepare_manifest

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
    # Dagster and the raw assets (seconds of imports): only for prepare.
    from dagster import DagsterInstance

    from data_platform.loading.raw_asset import WAREHOUSE_POOL

    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        if instance.global_op_concurrency_default_limit is not None:
            # Once the pool has a limit it is left alone: an operator may have changed it
            # (`dagster instance concurrency set`), and on PostgreSQL Dagster 1.13's
            # initialize_concurrency_limit_to_default fails on an existing pool (its insert's
            # IntegrityError aborts the transaction its update then runs in).
            if WAREHOUSE_POOL not in storage.get_concurrency_keys():
                storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
            limit = storage.get_concurrency_info(WAREHOUSE_POOL).slot_count
            print(f"prepare: pool {WAREHOUSE_POOL!r} limited to {limit} slot(s)")


def _run(args, settings: Settings, partitions) -> int:
    # The code location (Dagster, dagster-dbt, the sources: seconds of imports): loaded once
    # the settings, the state folder and the servers are known to be usable. Said first, so
    # the seconds it takes are not silent.
    print("run: loading the code location", flush=True)
    from data_platform.headless import data_window, run_all

    if args.job:
        job = args.job
    elif args.full_refresh:
        job = "full_refresh_job"
    else:
        # Every asset: the given days of the partitioned ones, the small unpartitioned ingests
        # (customers, reference files) in full, so the run also works on a fresh warehouse.
        job = "all_assets_job"
    if partitions is None:
        # Without data there is no window: the run would fail deep inside on missing tables.
        partitions = data_window(settings)
        if partitions is None:
            raise preflight.NotReady(f"the sources hold no orders or tweets: {preflight.SEED_HINT}")
    prepare_dagster_home(settings)
    try:
        return 0 if run_all(settings, job, partitions=partitions) else 1
    except ValueError as error:
        raise PlatformError(str(error), exit_code=2) from error


if __name__ == "__main__":
    sys.exit(main())
