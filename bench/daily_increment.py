"""Benchmark: the daily increment, one partition run on top of N years of history.

Seeds a fresh state folder with N years of jafgen data (or ``--from-csv DIR``), loads the whole
history with ``data-platform run``, then times ``data-platform run --partition <last day>``
(the daily schedule's work: that day's raw partitions, customers, and every model below,
incremental facts for that day only) ``--repeat`` times. Prints the history's size and
seconds per increment; compare 1 year with 3 years (the goal is a ratio of about 1).

    .venv/bin/python bench/daily_increment.py --years 1
    .venv/bin/python bench/daily_increment.py --years 3
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path

from full_run import BIN, platform_env, timed

from data_platform.resources.warehouse import WarehouseResource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--years", type=int)
    source.add_argument("--from-csv", type=Path)
    source.add_argument(
        "--history-loaded",
        action="store_true",
        help="time increments only, on --home where an earlier run of this script loaded history",
    )
    parser.add_argument("--home", type=Path, help="state folder (default: a new temp folder)")
    parser.add_argument("--repeat", type=int, default=3, help="increments to time (default 3)")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="data-platform-bench-"))
    env, warehouse_url = platform_env(home)
    history_seconds = None
    if args.history_loaded:
        if not args.home:
            parser.error("--history-loaded needs --home")
        timed(env, "prepare")
    else:
        seed_args = (
            ["--years", str(args.years)]
            if args.years
            else ["--from-csv", str(args.from_csv.resolve())]
        )
        timed(env, "seed", *seed_args)
        timed(env, "prepare")
        history_seconds, _ = timed(env, "run")

    warehouse = WarehouseResource(url=warehouse_url)
    (history,) = warehouse.query(
        "select count(*) as orders, min(order_date) as first_day, max(order_date) as last_day "
        "from marts.fct_orders"
    )
    day = history["last_day"].isoformat()
    walls, in_run = [], []
    for _ in range(args.repeat):
        seconds, run = timed(env, "run", "--partition", day)
        walls.append(seconds)
        in_run.append(float(re.search(r"SUCCESS in ([0-9.]+) s", run.stdout).group(1)))
    (today,) = warehouse.query(
        f"select count(*) as orders from marts.fct_orders where order_date = date '{day}'"
    )

    print(f"state folder          {home}")
    print(
        f"history               {history['orders']} orders, "
        f"{history['first_day']}..{history['last_day']}"
    )
    if history_seconds is not None:
        print(f"full history run      {history_seconds:8.1f} s")
    print(f"increment partition   {day} ({today['orders']} orders)")
    print(
        f"increment, wall       {statistics.median(walls):8.1f} s median of {args.repeat} "
        f"({', '.join(f'{s:.1f}' for s in walls)})"
    )
    print(
        f"increment, in run     {statistics.median(in_run):8.1f} s median "
        f"(without the command's start-up)"
    )
    print(f"data-platform         {BIN / 'data-platform'}")


if __name__ == "__main__":
    main()
