"""A raw step keeps a DuckDB warehouse open (``WarehouseResource.held``): its transactions
commit one by one, the file is checkpointed once at the end, and it is locked meanwhile."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from data_platform.resources.warehouse import Replacement, WarehouseResource

DAYS = [dt.date(2026, 12, 1), dt.date(2026, 12, 2)]


def _day(day: dt.date, rows: int) -> Replacement:
    batch = pa.table({"id": [f"{day}-{n}" for n in range(rows)], "_partition_date": [day] * rows})
    return Replacement("raw", "orders_held", batch, "_partition_date", (day,))


def _other_process_reads(path: Path) -> subprocess.CompletedProcess:
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print(c.execute('select count(*) from raw.orders_held').fetchall()[0][0])"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False
    )


def test_held_commits_each_transaction_and_checkpoints_once_at_the_end(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse = WarehouseResource(url=f"duckdb:///{path}")
    wal = Path(f"{path}.wal")
    with warehouse.held():
        warehouse.replace(_day(DAYS[0], 3))
        with warehouse.held():  # re-entrant: the same connection
            warehouse.replace(_day(DAYS[1], 2))
        counts = warehouse.query("select count(*) as n from raw.orders_held")
        assert counts == [{"n": 5}]
        assert wal.exists(), "committed but not checkpointed yet"
        locked = _other_process_reads(path)
        assert locked.returncode != 0 and "lock" in locked.stderr.lower(), locked.stderr
        with pytest.raises(Exception, match="orders_held"):  # a failed transaction rolls back
            warehouse.execute(["delete from raw.orders_held", "select * from raw.orders_held_x"])
        assert warehouse.query("select count(*) as n from raw.orders_held") == [{"n": 5}]
    assert not wal.exists(), "checkpointed when the block ended"
    after = _other_process_reads(path)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "5"


def test_without_held_each_transaction_checkpoints_and_leaves_the_file_free(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse = WarehouseResource(url=f"duckdb:///{path}")
    warehouse.replace(_day(DAYS[0], 3))
    assert not Path(f"{path}.wal").exists()
    read = _other_process_reads(path)
    assert read.returncode == 0 and read.stdout.strip() == "3", read.stderr


def test_held_is_nothing_on_postgresql(postgres_url):
    warehouse = WarehouseResource(url=postgres_url)
    with warehouse.held():
        warehouse.replace(_day(DAYS[0], 2))
        assert warehouse.query("select count(*) as n from raw.orders_held") == [{"n": 2}]
    warehouse.execute(["drop table raw.orders_held"])
