"""Benchmark: the raw orders path, screening + lake write + warehouse load, in rows per second.

Generates ``--rows`` synthetic orders (default 3,000,000) over ``--days`` days (default 730)
shaped like jafgen's (UUID text keys, a customer and one of six stores per order, integer
cents with ``order_total = subtotal + tax_paid``, times in shop hours), with a small share of
broken rows so the quarantine has work: negative and inconsistent amounts, missing
customers, over-long keys, unknown stores and customers, exact copies, conflicting copies of a
key, keys already loaded on an earlier day, and one day broken past the quarantine limit (held
back whole). Then runs the platform's own loader (:class:`data_platform.loading.loader.Loader`)
over them a :data:`~data_platform.loading.loader.DAYS_PER_BATCH` batch at a time, as the
orders ingest does, on a fresh local lake and a fresh DuckDB warehouse file, and times

- screening: the quarantine policy with its warehouse look-ups (keys loaded in other
  partitions; the dimensions' keys, read once), the look-ups also shown alone;
- lake write: the Parquet files staged and placed (raw and quarantine zones);
- warehouse load: the DuckDB transaction replacing the batch's partitions, and the one
  checkpoint of the file when the step's connection closes (``WarehouseResource.held``);

beside a bare baseline on the same rows, with no checks: one Parquet file per batch written
with pyarrow, and a plain DuckDB ``insert`` of each batch into a table of its own file, all in
one connection (the one checkpoint, when it closes, counted).
Prints rows per second of each phase and in total, the ratios to the baseline, the rows
quarantined, and the process's peak memory (RSS).

    .venv/bin/python bench/raw_path.py                  # 3,000,000 rows over 730 days
    .venv/bin/python bench/raw_path.py --rows 500000    # quicker
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_platform.core.datasets import PARTITION_COLUMN
from data_platform.core.partitions import chunk_days
from data_platform.loading.batches import table_batch
from data_platform.loading.loader import DAYS_PER_BATCH, Loader
from data_platform.resources.lake import LakeResource
from data_platform.resources.quality_policy import QualityPolicy
from data_platform.resources.warehouse import Replacement, WarehouseResource
from data_platform.sources.shop_db.datasets import ORDERS

START = dt.date(2018, 9, 1)
STORES = 6
ORDERS_PER_CUSTOMER = 15
BROKEN_SHARE = 0.0004  # of the rows, for each of the eight kinds below
HELD_BACK_DAY = 100  # the day broken past the quarantine limit (its index from START)


def _uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random UUID-shaped texts (36 characters), without a Python loop."""
    digits = np.frombuffer(b"0123456789abcdef", dtype="S1")
    hexes = digits[rng.integers(0, 16, size=(n, 32), dtype=np.uint8)]
    dash = np.full((n, 1), b"-", dtype="S1")
    parts = [hexes[:, :8], dash, hexes[:, 8:12], dash, hexes[:, 12:16], dash]
    parts += [hexes[:, 16:20], dash, hexes[:, 20:]]
    text = np.ascontiguousarray(np.concatenate(parts, axis=1)).view("S36").ravel()
    return pa.array(text, pa.binary(36)).cast(pa.string())


def generate(rows: int, days: int, seed: int = 0) -> tuple[pa.Table, pa.Array, pa.Array]:
    """``(orders, customer ids, store ids)``: the orders typed to ``ORDERS.schema`` in time
    order, broken rows included (module docstring); and the keys of the dimensions as loaded
    (a few customers and one store the orders name are missing from them)."""
    rng = np.random.default_rng(seed)
    per_day = rng.poisson(rows / days, size=days)
    per_day[-1] = max(per_day[-1] + rows - per_day.sum(), 0)
    rows = int(per_day.sum())
    day = np.repeat(np.arange(days), per_day)
    seconds = np.sort(day * 86_400 + rng.integers(7 * 3600, 21 * 3600, size=rows))
    customers = _uuids(rng, max(rows // ORDERS_PER_CUSTOMER, 1))
    stores = _uuids(rng, STORES + 1)  # the last one is unknown to raw.stores
    subtotal = rng.integers(300, 9_000, size=rows)
    tax = np.rint(subtotal * 0.06).astype(np.int64)
    total = subtotal + tax
    ids = _uuids(rng, rows)
    customer = customers.take(pa.array(rng.integers(0, len(customers), size=rows)))
    store = stores.take(pa.array(rng.integers(0, STORES, size=rows)))

    kinds = rng.choice(rows, size=(8, max(int(rows * BROKEN_SHARE), 1)), replace=False)
    masks = [np.zeros(rows, bool) for _ in kinds]
    for mask, chosen in zip(masks, kinds, strict=True):
        mask[chosen] = True
    subtotal[masks[0]] *= -1
    total[masks[1]] += 1
    customer = pc.if_else(pa.array(masks[2]), pa.scalar(None, pa.string()), customer)
    store = pc.if_else(pa.array(masks[3]), stores[STORES], store)
    ids = pc.if_else(pa.array(masks[4]), pc.binary_repeat(ids, 2), ids)  # over 64 characters
    customer = pc.if_else(pa.array(masks[5]), "not-a-customer", customer)
    masks[6][0] = False
    previous = ids.take(pa.array(np.maximum(np.arange(rows) - 1, 0)))
    ids = pc.if_else(pa.array(masks[6]), previous, ids)  # a copy of the key, other values
    held_back = np.flatnonzero(day == HELD_BACK_DAY)[::4]
    tax[held_back] = -1
    start = np.datetime64(START.isoformat(), "s")
    orders = pa.table(
        {
            "id": ids,
            "customer": customer,
            "ordered_at": pa.array((start + seconds).astype("datetime64[us]")),
            "store_id": store,
            "subtotal": subtotal,
            "tax_paid": tax,
            "order_total": total,
        }
    )
    copies = orders.take(pa.array(kinds[7]))  # exact copies of rows
    # Keys already loaded in an earlier batch, on rows of a later one.
    later = kinds[7][seconds[kinds[7]] > seconds.min() + 86_400 * DAYS_PER_BATCH * 2]
    earlier = rng.integers(0, np.searchsorted(seconds, seconds.min() + 86_400 * DAYS_PER_BATCH))
    moved = orders.take(pa.array(later)).set_column(
        0, "id", pa.array([ids[int(earlier)].as_py()] * len(later), pa.string())
    )
    orders = pa.concat_tables([orders, copies, moved]).sort_by("ordered_at")  # stable
    orders = orders.append_column(PARTITION_COLUMN, pc.cast(orders["ordered_at"], pa.date32()))
    known = customers.filter(pa.array(rng.random(len(customers)) > 0.001))
    return orders.cast(ORDERS.schema), known, stores.slice(0, STORES)


class TimedWarehouse(WarehouseResource):
    """The DuckDB warehouse resource, timing its transactions and its look-ups."""

    def replace(self, *replacements: Replacement) -> None:
        started = time.perf_counter()
        super().replace(*replacements)
        TIMES["warehouse load"] += time.perf_counter() - started

    def find_keys(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super().find_keys(*args, **kwargs)
        finally:
            LOOKUPS["seconds"] += time.perf_counter() - started

    def distinct_values(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super().distinct_values(*args, **kwargs)
        finally:
            LOOKUPS["seconds"] += time.perf_counter() - started


TIMES: Counter = Counter()
LOOKUPS: Counter = Counter()


def run_platform(orders: pa.Table, customers, stores, folder: Path) -> int:
    """Load ``orders`` through the platform's loader; seconds per phase, rows quarantined."""
    warehouse = TimedWarehouse(url=f"duckdb:///{folder / 'warehouse.duckdb'}")
    with duckdb.connect(str(folder / "warehouse.duckdb")) as conn:
        conn.execute("create schema raw")
        conn.register("c", pa.table({"id": customers}))
        conn.register("s", pa.table({"id": stores}))
        conn.execute("create table raw.customers as select id from c")
        conn.execute("create table raw.stores as select id from s")
    lake = LakeResource(url=str(folder / "lake"))
    log = logging.getLogger("bench")
    quarantined = 0
    with warehouse.held():  # as the ingest's step holds it: one checkpoint at the end
        started = time.perf_counter()
        loader = Loader("bench", log, ORDERS, lake, warehouse, QualityPolicy())  # dimensions
        TIMES["screening"] += time.perf_counter() - started
        days = pc.unique(orders[PARTITION_COLUMN]).to_pylist()
        for batch_days in chunk_days(days, DAYS_PER_BATCH):
            batch = table_batch(ORDERS, _days(orders, batch_days), "shop_db.orders", batch_days)
            started = time.perf_counter()
            screening = loader.screen(batch)
            screened = time.perf_counter()
            loader.write(batch, screening)
            TIMES["screening"] += screened - started
            TIMES["lake write"] += time.perf_counter() - screened
            quarantined += screening.quarantine.num_rows
        closing = time.perf_counter()
    checkpoint = time.perf_counter() - closing
    TIMES["lake write"] -= TIMES["warehouse load"]
    TIMES["warehouse load"] += checkpoint
    return quarantined


def run_baseline(orders: pa.Table, folder: Path) -> Counter:
    """The same rows, a batch at a time, without checks: one Parquet file per batch, and a
    DuckDB insert of the Arrow table, all in one connection (the most DuckDB allows: one
    checkpoint, at the end, counted)."""
    times: Counter = Counter()
    days = pc.unique(orders[PARTITION_COLUMN]).to_pylist()
    (folder / "bare").mkdir()
    conn = duckdb.connect(str(folder / "bare.duckdb"))
    conn.register("incoming", orders.slice(0, 0))
    conn.execute("create table orders as select * from incoming")
    for number, batch_days in enumerate(chunk_days(days, DAYS_PER_BATCH)):
        rows = _days(orders, batch_days)
        started = time.perf_counter()
        pq.write_table(rows, folder / "bare" / f"{number}.parquet", compression="zstd")
        written = time.perf_counter()
        conn.register("incoming", rows)
        conn.execute("insert into orders select * from incoming")
        times["lake write"] += written - started
        times["warehouse load"] += time.perf_counter() - written
    started = time.perf_counter()
    conn.close()
    times["warehouse load"] += time.perf_counter() - started
    return times


def _days(orders: pa.Table, days: list[dt.date]) -> pa.Table:
    day = orders[PARTITION_COLUMN]
    return orders.filter(
        pc.and_(pc.greater_equal(day, pa.scalar(days[0])), pc.less_equal(day, pa.scalar(days[-1])))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=3_000_000, help="orders to generate")
    parser.add_argument("--days", type=int, default=730, help="days they span")
    args = parser.parse_args()
    started = time.perf_counter()
    orders, customers, stores = generate(args.rows, args.days)
    n = orders.num_rows
    print(f"generated {n:,} orders over {args.days} days in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory(prefix="bench-raw-path-") as folder:
        quarantined = run_platform(orders, customers, stores, Path(folder))
        bare = run_baseline(orders, Path(folder))
    print(f"quarantined: {quarantined:,} rows ({100 * quarantined / n:.2f} %)\n")
    print(f"{'phase':<16}{'platform rows/s':>18}{'bare rows/s':>16}{'platform/bare':>15}")
    total, bare_total = sum(TIMES.values()), sum(bare.values())
    for phase in ("screening", "lake write", "warehouse load", "total"):
        seconds = total if phase == "total" else TIMES[phase]
        bare_seconds = bare_total if phase == "total" else bare[phase]
        bare_rate = f"{n / bare_seconds:>16,.0f}" if bare_seconds else f"{'(none)':>16}"
        ratio = f"{bare_seconds / seconds:>14.2f}x" if bare_seconds else f"{'':>15}"
        print(f"{phase:<16}{n / seconds:>18,.0f}{bare_rate}{ratio}   ({seconds:.2f} s)")
        if phase == "screening":
            lookups = LOOKUPS["seconds"]
            print(f"{'  of it look-ups':<49}({lookups:.2f} s: {n / lookups:,.0f} rows/s)")
            rules = seconds - lookups
            print(f"{'  of it the rules':<49}({rules:.2f} s: {n / rules:,.0f} rows/s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (RSS): {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
