"""Partitions all the way through, on a state folder of their own: partition runs in any order
and with overlaps converge to the full-history marts; an old day re-run picks up a changed
and an added order; a run killed with SIGKILL in the middle of a write leaves no partial
partition, and re-running it converges."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_platform.core.settings import PROJECT_ROOT, Settings
from data_platform.resources.lake import LakeResource
from data_platform.resources.warehouse import WarehouseResource
from tests.conftest import BIN
from tests.mart_compare import MART_KEYS, differences, read_mart
from tests.oracle import compute_marts

RAW_TABLES = ("customers", "orders", "order_items", "products", "stores", "supplies", "tweets")
# The session's data covers 2018-09-01..2018-10-15 (TEST_DAYS = 45).
FIRST_ROUND = ("2018-09-21...2018-10-15", "2018-09-01...2018-09-25", "2018-09-10")
SECOND_ROUND = ("2018-09-05...2018-10-15", "2018-09-01...2018-09-07")
OLD_DAY = "2018-09-05"


@pytest.fixture(scope="module")
def env(tmp_path_factory, small_csv_dir):
    """A state folder of its own (local backends), seeded with the session's small data."""
    home = tmp_path_factory.mktemp("partitions-home")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATA_PLATFORM_", "DAGSTER_HOME"))
    }
    env["DATA_PLATFORM_HOME"] = str(home)
    platform(env, "seed", "--from-csv", str(small_csv_dir))
    return env


def platform(env, *args) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(BIN / "data-platform"), *args], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
    return result


def warehouse_url(env) -> str:
    return Settings.from_environ(env).warehouse_url


def snapshot(env) -> dict[str, str]:
    """A checksum of every raw and mart table and of every raw Parquet file's rows."""
    warehouse = WarehouseResource(url=warehouse_url(env))
    sums = {}
    for table in [f"raw.{t}" for t in RAW_TABLES] + [f"marts.{m}" for m in MART_KEYS]:
        sums[table] = _digest(warehouse.query(f"select * from {table}"))
    lake = LakeResource(url=Settings.from_environ(env).lake_url)
    for file in lake.list_files("raw"):
        sums[file.path] = _digest(lake.read_parquet(file.path).to_pylist())
    return sums


def _digest(rows: list[dict]) -> str:
    return hashlib.sha256(
        "\n".join(sorted(repr(sorted(r.items())) for r in rows)).encode()
    ).hexdigest()


def assert_marts_equal(env, csv_dir: Path) -> None:
    expected = compute_marts(csv_dir, Settings.from_environ(env).pseudonym_secret())
    for mart, key in MART_KEYS.items():
        problems = differences(expected[mart], read_mart(warehouse_url(env), mart), key)
        assert problems == [], (mart, problems[:5])


@pytest.fixture(scope="module")
def converged(env, small_csv_dir) -> dict[str, str]:
    """Partition runs in a shuffled order with overlaps; the snapshot they converge to."""
    for partitions in FIRST_ROUND:
        flag = "--partition-range" if "..." in partitions else "--partition"
        platform(env, "run", flag, partitions)
    assert_marts_equal(env, small_csv_dir)
    return snapshot(env)


def test_partition_runs_in_any_order_converge(env, converged, small_csv_dir):
    for partitions in SECOND_ROUND:
        platform(env, "run", "--partition-range", partitions)
    assert snapshot(env) == converged
    assert_marts_equal(env, small_csv_dir)


def kill_at(env, point: str, folder: Path) -> None:
    """Run partition OLD_DAY in a child that halts at ``point``; SIGKILL it there."""
    signal_file, log = folder / f"{point}.halted", folder / f"{point}.log"
    with log.open("w") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_child", point, OLD_DAY, str(signal_file)],
            env=env,
            cwd=PROJECT_ROOT,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 180
    while not signal_file.exists():
        assert child.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"the run never reached the {point} write"
        time.sleep(0.2)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def test_sigkill_mid_write_leaves_no_partial_partition(env, converged, tmp_path):
    before = snapshot(env)

    kill_at(env, "lake", tmp_path)
    # The half-done lake write is a temporary object that no listing or reader sees.
    folder = Path(env["DATA_PLATFORM_HOME"]) / "lake" / "raw" / "orders" / f"date={OLD_DAY}"
    assert any(p.name.startswith(".tmp-") for p in folder.iterdir()), "killed too late"
    assert snapshot(env) == before

    kill_at(env, "warehouse", tmp_path)
    # The day's rows were deleted in an open transaction: DuckDB drops it on the next open.
    assert snapshot(env) == before

    platform(env, "run", "--partition", OLD_DAY)
    assert snapshot(env) == before


def test_changed_old_order_is_picked_up_by_rerunning_its_day(
    env, converged, small_csv_dir, tmp_path
):
    changed = tmp_path / "changed"
    shutil.copytree(small_csv_dir, changed)
    orders = list(csv.DictReader((changed / "raw_orders.csv").open(newline="")))
    on_day = [o for o in orders if o["ordered_at"].startswith(OLD_DAY)]
    # One order of the day gets a dollar more on its subtotal (and total).
    edited = on_day[0]
    edited["subtotal"] = str(int(edited["subtotal"]) + 100)
    edited["order_total"] = str(int(edited["order_total"]) + 100)
    # A late-arriving order on that day, for a customer whose first order came later: every
    # later order of the customer moves one place in customer_order_number.
    firsts = {}
    for order in sorted(orders, key=lambda o: o["ordered_at"]):
        firsts.setdefault(order["customer"], order["ordered_at"])
    customer = next(c for c, first in sorted(firsts.items()) if first > f"{OLD_DAY}T23:59:59")
    orders.append(
        {
            **on_day[0],
            "id": "late-arriving-order",
            "customer": customer,
            "ordered_at": f"{OLD_DAY}T09:30:00",
            "subtotal": "600",
            "tax_paid": "36",
            "order_total": "636",
        }
    )
    with (changed / "raw_orders.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(orders[0]))
        writer.writeheader()
        writer.writerows(orders)

    platform(env, "seed", "--from-csv", str(changed))
    platform(env, "run", "--partition", OLD_DAY)
    assert_marts_equal(env, changed)
    (row,) = WarehouseResource(url=warehouse_url(env)).query(
        "select customer_order_number from marts.fct_orders where order_id = 'late-arriving-order'"
    )
    assert row["customer_order_number"] == 1
