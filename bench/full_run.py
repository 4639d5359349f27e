"""Benchmark: the headless full run of the whole graph on N years of jafgen data.

Seeds a fresh state folder (``--years N`` with jafgen, or ``--from-csv DIR``), then times
``data-platform run`` and prints wall seconds, orders per second and peak memory (the largest
resident set of the run's processes: the run itself and dbt).

    .venv/bin/python bench/full_run.py --years 1
    .venv/bin/python bench/full_run.py --from-csv path/to/jaffle-data
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from data_platform.core.settings import Settings
from data_platform.resources.warehouse import WarehouseResource

BIN = Path(sys.executable).parent


def platform_env(home: Path) -> tuple[dict[str, str], str]:
    """The environment of a ``data-platform`` command on state folder ``home``, and the
    warehouse URL it uses. Backend settings (``DATA_PLATFORM_LAKE_URL``, ``_SHOP_DB_URL``,
    ``_WAREHOUSE_URL``, ``AWS_*``) pass through, so the same scripts measure the all-local and
    the server configurations."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_PLATFORM_HOME", "DAGSTER_HOME")}
    env.update({"DATA_PLATFORM_HOME": str(home), "DO_NOT_TRACK": "1"})
    return env, Settings.from_environ(env).warehouse_url


def timed(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``data-platform <args>``; its wall seconds and result. Exits on failure."""
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "data-platform"), *args], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if result.returncode:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
        raise SystemExit(f"data-platform {' '.join(args)} failed (exit {result.returncode})")
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--years", type=int)
    source.add_argument("--from-csv", type=Path)
    parser.add_argument("--home", type=Path, help="state folder (default: a new temp folder)")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also compare every mart with the independent computation of tests/oracle.py",
    )
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="data-platform-bench-"))
    env, warehouse_url = platform_env(home)
    settings = Settings.from_environ(env)
    seed_args = (
        ["--years", str(args.years)] if args.years else ["--from-csv", str(args.from_csv.resolve())]
    )
    seed_seconds, _ = timed(env, "seed", *seed_args)
    timed(env, "prepare")
    # The run's own peak (it and its dbt), not this script's children's: the seed's jafgen
    # is one of them (bench/run_profile.py: measured_run).
    from run_profile import measured_run

    run_seconds, stdout, peak_mib = measured_run(env)
    run = subprocess.CompletedProcess([], 0, stdout, "")

    (counts,) = WarehouseResource(url=warehouse_url).query(
        "select (select count(*) from marts.fct_orders) as orders,"
        " (select count(*) from raw.order_items) as items,"
        " (select count(*) from raw.tweets) as tweets,"
        " (select count(distinct order_date) from marts.fct_orders) as days"
    )
    orders, items, tweets, days = (counts[k] for k in ("orders", "items", "tweets", "days"))

    print(f"state folder        {home}")
    print(f"lake                {settings.lake_url}")
    print(f"shop database       {settings.shop_db_url}")
    print(f"warehouse           {warehouse_url}")
    print(f"data                {orders} orders, {items} items, {tweets} tweets, {days} days")
    print(f"seed                {seed_seconds:8.1f} s")
    print(f"headless full run   {run_seconds:8.1f} s")
    print(f"orders per second   {orders / run_seconds:8.0f}")
    print(f"peak memory         {peak_mib:8.0f} MiB (largest process)")
    summary = run.stdout[run.stdout.rfind("\nrun ") + 1 :].strip()
    print(summary)
    if args.verify:
        verify(
            warehouse_url,
            args.from_csv or next((home / "generated").glob("*/jaffle-data")),
            settings.pseudonym_secret(),
        )


def verify(warehouse_url: str, csv_dir: Path, pseudonym_key: bytes) -> None:
    """Compare every mart with the oracle; exit 1 on any difference."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed
    from tests.mart_compare import MART_KEYS, differences, read_mart
    from tests.oracle import compute_marts

    expected = compute_marts(csv_dir, pseudonym_key)
    failed = False
    for mart, key in MART_KEYS.items():
        problems = differences(expected[mart], read_mart(warehouse_url, mart), key)
        print(
            f"verify {mart:24} {len(expected[mart]):7} rows: {'equal' if not problems else problems[:3]}"
        )
        failed |= bool(problems)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
