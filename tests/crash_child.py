"""A partition run that stops dead at a chosen point, for the crash-safety test.

    python -m tests.crash_child {lake|warehouse} DAY SIGNAL_FILE

Runs ``daily_job`` for partition DAY in-process, as ``data-platform run --partition DAY``
does, with one library call wrapped so the run halts at a real point of a write:

- ``lake``: the raw orders Parquet file of DAY is written under its temporary name, the
  warehouse transaction has committed, and the rename to its final name is next;
- ``warehouse``: the rows of DAY are deleted from ``raw.orders`` inside the open transaction,
  and the insert and commit are next.

There the child creates SIGNAL_FILE and sleeps until the test kills it with SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path


def _halt(signal_file: str) -> None:
    Path(signal_file).touch()
    time.sleep(3600)


def halt_lake_write(signal_file: str) -> None:
    from fsspec.implementations.local import LocalFileSystem

    rename = LocalFileSystem.mv

    def mv(self, path1, path2, *args, **kwargs):
        if "/raw/orders/" in str(path2):
            _halt(signal_file)
        return rename(self, path1, path2, *args, **kwargs)

    LocalFileSystem.mv = mv


class _HaltAfterDelete:
    """A DuckDB connection that halts right after deleting rows of raw.orders, and whose
    cursors do (a raw step holds one connection and writes through its cursors)."""

    def __init__(self, connection, signal_file: str):
        self._connection = connection
        self._signal_file = signal_file

    def execute(self, sql: str, *args):
        result = self._connection.execute(sql, *args)
        if sql.lstrip().lower().startswith('delete from "raw"."orders"'):
            _halt(self._signal_file)
        return result

    def cursor(self):
        return _HaltAfterDelete(self._connection.cursor(), self._signal_file)

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._connection.close()


def halt_warehouse_load(signal_file: str) -> None:
    from data_platform.resources import warehouse

    connect = warehouse.connect_duckdb

    def connect_duckdb(path: str, read_only: bool = False):
        connection = connect(path, read_only)
        return connection if read_only else _HaltAfterDelete(connection, signal_file)

    # The warehouse's writes open their connection through this function (looked up by name).
    warehouse.connect_duckdb = connect_duckdb


def main() -> None:
    point, day, signal_file = sys.argv[1:4]
    {"lake": halt_lake_write, "warehouse": halt_warehouse_load}[point](signal_file)

    from data_platform.cli import prepare_dagster_home
    from data_platform.core.settings import Settings
    from data_platform.headless import execute

    settings = Settings.from_environ()
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    prepare_dagster_home(settings)
    partition = dt.date.fromisoformat(day)
    execute(settings, "daily_job", partitions=(partition, partition))
    sys.exit(f"the run finished without reaching the {point} halt")


if __name__ == "__main__":
    main()
