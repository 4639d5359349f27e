"""Test session set-up: a fresh state folder, small real jafgen data, a prepared dbt manifest.

The state folder is created before anything imports ``data_platform.definitions``, so every
resource, dbt and the Dagster instance write below it and nowhere else.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from filelock import FileLock

# Every state folder of the session (this one, pytest's tmp_path, the children's temporary
# files) lives in memory when the machine has a tmpfs: Dagster's SQLite instance commits (and
# syncs) each event on its own, and on this machine's disk that bookkeeping was two thirds of
# a run's time (a 45-day run: 104 s on disk, 37 s on tmpfs). Same files, same engines.
MEMORY = Path("/dev/shm")
if MEMORY.is_dir() and os.access(MEMORY, os.W_OK):
    tempfile.tempdir = str(MEMORY)
    os.environ["TMPDIR"] = str(MEMORY)
STATE = Path(tempfile.mkdtemp(prefix="data-platform-test-"))
# What the session's processes share: pytest-xdist's workers (make test runs the suite on
# several) inherit this from the controller, which created it and removes it at the end.
# Only read-only inputs live there (the generated jafgen year), made once under a file lock.
SHARED_VARIABLE = "DATA_PLATFORM_TEST_SHARED"
OWNS_SHARED = SHARED_VARIABLE not in os.environ
if OWNS_SHARED:
    os.environ[SHARED_VARIABLE] = tempfile.mkdtemp(prefix="data-platform-test-shared-")
SHARED = Path(os.environ[SHARED_VARIABLE])
os.environ["DATA_PLATFORM_HOME"] = str(STATE / "home")
for name in (
    "DATA_PLATFORM_LAKE_URL",
    "DATA_PLATFORM_WAREHOUSE_URL",
    "DATA_PLATFORM_SHOP_DB_URL",
    "DATA_PLATFORM_PARTITION_START",
    "DAGSTER_HOME",
):
    os.environ.pop(name, None)
os.environ["DO_NOT_TRACK"] = "1"

from data_platform.core.settings import Settings

SETTINGS = Settings.from_environ()
# DagsterInstance.get() in this process and its children: the session's instance.
os.environ["DAGSTER_HOME"] = str(SETTINGS.dagster_home)
SETTINGS.home.mkdir(parents=True, exist_ok=True)

BIN = Path(sys.executable).parent
# Days of jafgen data the pipeline tests use: small, but spanning month boundaries.
TEST_DAYS = 45


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the ``data-platform`` command with the session's environment."""
    return subprocess.run(
        [str(BIN / "data-platform"), *args], capture_output=True, text=True, check=check
    )


def pytest_sessionstart(session):
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller prepared the manifest before starting it
    # @dbt_assets reads the manifest when the definitions load.
    result = cli("prepare", check=False)
    if result.returncode:
        raise RuntimeError(f"data-platform prepare failed:\n{result.stdout}\n{result.stderr}")


# The longest modules (each 2-6 minutes of a worker, measured with --durations): started first,
# so that under pytest-xdist (one module per worker at a time: their module-scoped state is
# built once) none of them is the last thing left running while the other workers are idle.
LONGEST_FIRST = (
    "test_web_events.py",
    "test_partitions.py",
    "test_instance.py",
    "test_stream_marts.py",
    "test_type2_history.py",
    "test_backends.py",
)


def pytest_collection_modifyitems(session, config, items):
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every module keeps its own order


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(STATE, ignore_errors=True)
    if OWNS_SHARED:
        shutil.rmtree(SHARED, ignore_errors=True)


@pytest.fixture(scope="session")
def jafgen_home() -> Path:
    """A state folder of its own seeded by ``data-platform seed --years 1``: jafgen run by the
    platform itself, once per session and shared by the session's processes (about a minute:
    every test that needs generated data shares it; the tests only read it)."""
    home = SHARED / "jafgen-home"
    done = SHARED / "jafgen-home.done"
    with FileLock(SHARED / "jafgen-home.lock"):
        if not done.exists():
            shutil.rmtree(home, ignore_errors=True)  # a worker that failed half-way
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("DATA_PLATFORM_", "DAGSTER_HOME"))
            }
            env["DATA_PLATFORM_HOME"] = str(home)
            result = subprocess.run(
                [str(BIN / "data-platform"), "seed", "--years", "1"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
            done.touch()
    return home


@pytest.fixture(scope="session")
def jafgen_year(jafgen_home: Path) -> Path:
    """One year of real jafgen data (the generator's minimum), as ``seed --years 1`` keeps it."""
    return jafgen_home / "generated" / "jafgen-1y" / "jaffle-data"


@pytest.fixture(scope="session")
def small_csv_dir(jafgen_year: Path) -> Path:
    """The first TEST_DAYS days of the jafgen year, as jafgen CSVs (every customer kept).

    Customers whose first order is later have no orders here: the marts must keep them.
    """
    return cut_jafgen(jafgen_year, STATE / "small", TEST_DAYS)


def cut_jafgen(source: Path, target: Path, days: int) -> Path:
    """Write the first ``days`` days of a jafgen folder to ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    with (source / "raw_orders.csv").open(newline="") as handle:
        first = min(dt.datetime.fromisoformat(r["ordered_at"]) for r in csv.DictReader(handle))
    end = dt.datetime.combine(first.date() + dt.timedelta(days=days), dt.time())
    kept_orders: set[str] = set()

    def keep(name: str, predicate) -> None:
        with (source / name).open(newline="") as src, (target / name).open("w", newline="") as dst:
            reader = csv.DictReader(src)
            writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
            writer.writeheader()
            writer.writerows(row for row in reader if predicate(row))

    def order_in_window(row) -> bool:
        if dt.datetime.fromisoformat(row["ordered_at"]) < end:
            kept_orders.add(row["id"])
            return True
        return False

    keep("raw_orders.csv", order_in_window)
    keep("raw_items.csv", lambda r: r["order_id"] in kept_orders)
    keep("raw_tweets.csv", lambda r: dt.datetime.fromisoformat(r["tweeted_at"]) < end)
    for name in ("raw_customers.csv", "raw_products.csv", "raw_stores.csv", "raw_supplies.csv"):
        shutil.copyfile(source / name, target / name)
    return target


@pytest.fixture(scope="session")
def seeded(small_csv_dir: Path) -> Path:
    """The session's shop database and landing zone, seeded from the small CSVs."""
    result = cli("seed", "--from-csv", str(small_csv_dir))
    assert "landing files written" in result.stdout, result.stdout
    return small_csv_dir


@pytest.fixture(scope="session")
def full_run(seeded: Path) -> subprocess.CompletedProcess:
    """``data-platform run`` over every partition of the seeded data."""
    return cli("run", check=False)


@pytest.fixture(scope="session")
def s3_env():
    """An S3-API server on loopback (moto, its own process) and the AWS settings to reach it."""
    from tests.servers import s3_server

    with s3_server() as env:
        yield env


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database on the machine's server (127.0.0.1:5432)."""
    from tests.servers import postgres_database

    with postgres_database() as url:
        yield url


@functools.cache
def code_location():
    """The code location, loaded once as Dagster loads it (after the manifest is prepared)."""
    from data_platform.definitions import defs as load

    return load()


@pytest.fixture(scope="session")
def defs():
    return code_location()


@pytest.fixture(scope="session")
def graph(defs):
    """The code location's asset graph."""
    return defs.resolve_asset_graph()


@pytest.fixture(scope="session")
def manifest() -> dict:
    """The prepared dbt manifest the dbt assets are built from."""
    from data_platform.resources.dbt import dbt_project

    return json.loads(dbt_project.manifest_path.read_text())


@pytest.fixture
def resources():
    """The session's lake, shop database and warehouse, opened outside a run."""
    from data_platform.resources import open_resources

    with open_resources(SETTINGS, "lake", "shop_db", "warehouse") as opened:
        yield opened
