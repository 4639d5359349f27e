"""Benchmark: what the data-quality layer costs per row, without I/O to the warehouse.

On jafgen CSVs (``--years N`` generated, or ``--from-csv DIR``), times

- the quarantine policy (:func:`data_platform.quality.quarantine.screen`, the contract's row
  rules included) on every order, a month per batch, as the orders ingest runs it;
- the landing-file path of the tweets: JSON Lines text read record by record and converted to
  the contract's types (``read_jsonl`` + ``to_typed``), then screened.

Prints rows per second and the process's peak memory.

    .venv/bin/python bench/quarantine_screen.py --years 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from data_platform.core.datasets import PARTITION_COLUMN
from data_platform.loading.file_formats import read_jsonl, to_typed
from data_platform.quality.quarantine import Batch, Context, screen
from data_platform.quality.row_rules import row_failures
from data_platform.sources.landing.datasets import TWEETS
from data_platform.sources.shop_db.datasets import ORDERS


def _orders(csv_dir: Path) -> pa.Table:
    schema = ORDERS.source_schema
    table = pacsv.read_csv(
        csv_dir / "raw_orders.csv",
        convert_options=pacsv.ConvertOptions(column_types=schema, include_columns=schema.names),
    )
    days = pc.cast(table["ordered_at"], pa.date32())
    return table.append_column(PARTITION_COLUMN, days).cast(ORDERS.schema)


def bench_orders(csv_dir: Path) -> tuple[int, float]:
    table = _orders(csv_dir)
    months = pc.strftime(table["ordered_at"], "%Y-%m")
    context = Context(row_rules=lambda frame: row_failures(ORDERS, frame))
    started = time.perf_counter()
    for month in pc.unique(months).to_pylist():
        rows = table.filter(pc.equal(months, month))
        days = sorted(set(rows[PARTITION_COLUMN].to_pylist()))
        n = rows.num_rows
        screen(ORDERS, Batch(rows, ["shop_db.orders"] * n, [None] * n, days), context)
    return table.num_rows, time.perf_counter() - started


def bench_tweets(csv_dir: Path) -> tuple[int, float]:
    by_day: dict[str, list[str]] = defaultdict(list)
    table = pacsv.read_csv(csv_dir / "raw_tweets.csv").to_pylist()
    for tweet in table:
        tweet["tweeted_at"] = tweet["tweeted_at"].isoformat()
        by_day[tweet["tweeted_at"][:10]].append(json.dumps(tweet))
    files = {day: ("\n".join(lines) + "\n").encode() for day, lines in by_day.items()}
    names = TWEETS.source_schema.names
    context = Context(row_rules=lambda frame: row_failures(TWEETS, frame))
    started = time.perf_counter()
    for day, data in files.items():
        parsed = read_jsonl(data, f"landing/tweets/{day}.jsonl", names)
        typed, failures = to_typed(parsed.records, TWEETS.source_schema)
        partition = dt.date.fromisoformat(day)
        typed = typed.append_column(
            PARTITION_COLUMN, pa.array([partition] * typed.num_rows, pa.date32())
        )
        n = typed.num_rows
        batch = Batch(typed, ["f"] * n, parsed.lines, [partition], failures, parsed.records)
        screen(TWEETS, batch, context)
    return len(table), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--years", type=int)
    source.add_argument("--from-csv", type=Path)
    args = parser.parse_args()
    if args.from_csv:
        csv_dir = args.from_csv
    else:
        from data_platform.seed import generate_jafgen

        csv_dir = generate_jafgen(args.years, Path(tempfile.mkdtemp(prefix="bench-quality-")))
    rows, seconds = bench_orders(csv_dir)
    print(f"screen orders: {rows} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
    rows, seconds = bench_tweets(csv_dir)
    print(
        f"read + type + screen tweets (JSON Lines, one file per day): {rows} rows in "
        f"{seconds:.2f} s = {rows / seconds:,.0f} rows/s"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
