"""Lake and warehouse agree through faults: real raw assets, real DuckDB, a real lake folder.

On a state folder of its own (the session's seeded sources copied in, the raw assets loaded
once over the 45 days), each fault case breaks one thing and asserts the step's outcome, the
first line of its message, the time it took, and that the lake and the warehouse agree after:

- a DuckDB file locked by another process: the step fails after the bounded retries;
- a lake file cut short, or holding other rows: the ``lake_files`` check fails naming it
  (and blocks the full refresh's models);
- a lake on a full file system (a 256 kB tmpfs over one partition's folder): the step fails at
  once, the warehouse keeps the old rows, no temporary file is left.
"""

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from dagster import AssetCheckKey, AssetKey

from data_platform.core.lake_layout import raw_partition_path
from data_platform.core.partitions import partition_range_tags
from data_platform.core.settings import HOME, Settings
from data_platform.headless import data_window, execute
from data_platform.loading.raw_asset import verify_lake_files
from data_platform.resources import LakeResource
from data_platform.sources import DATASETS
from data_platform.sources.shop_db.datasets import ORDERS
from data_platform.sources.shop_db.tables import orders
from tests import in_process
from tests.conftest import SETTINGS

ORDERS_KEY = AssetKey(["raw", "orders"])
DAY = dt.date(2018, 9, 3)
DAY_FILE = raw_partition_path("orders", DAY)


class Platform(in_process.Platform):
    """The module's state folder, and what its tests look at."""

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.lake_root = Path(settings.lake_url)

    def run(self, keys: list[AssetKey], partition: dt.date | None = None, tags=None):
        return self.materialize(keys, partition, tags)

    def day_rows(self) -> list[dict]:
        return self.warehouse.query(
            f"select * from raw.orders where _partition_date = date '{DAY}' order by id"
        )

    def agrees(self, days=(DAY, DAY)) -> bool:
        return verify_lake_files(ORDERS, self.lake, self.warehouse, days).passed

    def temporaries(self) -> list[Path]:
        return list(self.lake_root.rglob(".tmp-*"))


@pytest.fixture(scope="module")
def platform(tmp_path_factory, seeded) -> Platform:
    """A state folder of its own: the session's seeded shop database and landing zone copied
    in, and every raw asset loaded once over the data's window."""
    home = tmp_path_factory.mktemp("lake-agreement-home")
    shutil.copyfile(SETTINGS.home / "shop.db", home / "shop.db")
    shutil.copytree(Path(SETTINGS.lake_url) / "landing", home / "lake" / "landing")
    platform = Platform(Settings.from_environ({HOME: str(home)}))
    first, last = data_window(platform.settings)
    raw = [d.asset_key for d in DATASETS]
    result = platform.run(raw, tags=partition_range_tags(first.isoformat(), last.isoformat()))
    assert result.success
    return platform


def first_line(result) -> str:
    """The first line of the message the run's (first) step failure gives."""
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    data = failure.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description.splitlines()[0]
    error = data.error
    # After the last retry Dagster's own error ("Exceeded max_retries") wraps the step's.
    while error.cause and error.message.startswith("Exceeded max_retries"):
        error = error.cause
    return error.message.strip().splitlines()[0]


def test_each_lake_file_is_recorded_and_checked(platform):
    event = platform.instance.get_latest_materialization_event(ORDERS_KEY)
    files = event.asset_materialization.metadata["lake_files"].value
    raw = {f["path"]: f for f in files if f["path"].startswith("raw/")}
    assert len(raw) == 45
    recorded = raw[DAY_FILE]
    data = (platform.lake_root / DAY_FILE).read_bytes()
    assert recorded["bytes"] == len(data)
    assert recorded["sha256"] == hashlib.sha256(data).hexdigest()
    assert recorded["rows"] == len(platform.day_rows()) > 0
    # The batch datasets: the stream's micro-batches check their own files (tests/test_web_events.py).
    for dataset in (d for d in DATASETS if d.cadence != "streaming"):
        key = AssetCheckKey(dataset.asset_key, "lake_files")
        record = platform.instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[
            key
        ]
        assert record.event.dagster_event.event_specific_data.passed, dataset.name


def test_a_truncated_file_fails_the_check_and_blocks_the_full_refresh(platform):
    path = platform.lake_root / DAY_FILE
    original = path.read_bytes()
    path.write_bytes(original[: len(original) // 2])
    try:
        started = time.monotonic()
        summary = execute(platform.settings, "full_refresh_job", platform.instance)
        seconds = time.monotonic() - started
        assert not summary.success
        run = platform.instance.get_run_by_id(summary.run_id)
        failed = [
            e
            for e in platform.instance.all_logs(run.run_id)
            if e.dagster_event
            and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
            and not e.dagster_event.event_specific_data.passed
        ]
        descriptions = {
            e.dagster_event.event_specific_data.asset_check_key.asset_key.to_user_string(): (
                e.dagster_event.event_specific_data.description
            )
            for e in failed
        }
        assert descriptions == {
            "raw/orders": f"{DAY_FILE}: not a Parquet file (truncated?); "
            "re-run those partitions to rewrite both"
        }
        # Blocking: no model was rebuilt on the lake that disagrees.
        assert summary.materializations == 0
        assert seconds < 30, seconds
    finally:
        path.write_bytes(original)
    assert platform.agrees()


def test_a_file_with_other_rows_names_both_counts(platform):
    path = platform.lake_root / DAY_FILE
    original = path.read_bytes()
    table = pq.read_table(path)
    pq.write_table(table.slice(0, 1), path)
    try:
        result = verify_lake_files(ORDERS, platform.lake, platform.warehouse, None)
        assert not result.passed
        assert result.description == (
            f"{DAY_FILE}: 1 rows in the lake, {table.num_rows} in raw.orders for {DAY}: the lake "
            "is behind the warehouse; re-run those partitions to rewrite both"
        )
        # A run of the partition repairs the lake from the partition's source.
        assert platform.run([ORDERS_KEY], DAY).success
        assert pq.read_metadata(path).num_rows == table.num_rows
        assert platform.agrees(None)
    finally:
        if not platform.agrees():
            path.write_bytes(original)


def test_a_locked_warehouse_fails_after_bounded_retries_and_changes_nothing(platform):
    before = (platform.lake_root / DAY_FILE).read_bytes()
    rows = platform.day_rows()
    hold = (
        f"import duckdb, time; c = duckdb.connect({platform.settings.warehouse.path!r}); "
        f"print({in_process.READY!r}, flush=True); time.sleep(60)"
    )
    with in_process.held_by_another_process(hold):
        started = time.monotonic()
        result = platform.run([ORDERS_KEY], DAY)
        seconds = time.monotonic() - started
    assert not result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 2
    line = first_line(result)
    assert line.startswith(
        "data_platform.resources.faults.TransientFault: warehouse "
        f"(DATA_PLATFORM_WAREHOUSE_URL={platform.settings.warehouse_url}): opening: IO Error: "
        "Could not set lock on file"
    ), line
    assert line.endswith("(transient: retried with backoff)"), line
    # 3 attempts of up to 5 s each, 2 s and 4 s (+-2 s) between: bounded, far below 100 s.
    assert 6 < seconds < 40, seconds
    assert (platform.lake_root / DAY_FILE).read_bytes() == before
    assert platform.day_rows() == rows
    assert platform.agrees()
    assert platform.temporaries() == []


@pytest.fixture
def full_partition_folder(platform):
    """The lake folder of raw/orders' partition DAY on a 256 kB tmpfs, filled up but for the
    partition's files; unmounted (the files put back) afterwards."""
    folder = (platform.lake_root / DAY_FILE).parent
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode:
        message = f"cannot mount a tmpfs (root and CAP_SYS_ADMIN needed): {mounted.stderr}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        for name, data in saved.items():
            (folder / name).write_bytes(data)
        filler = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError:
            pass  # full: what the fixture wants
        finally:
            os.close(filler)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_lake_fails_at_once_and_the_warehouse_keeps_its_rows(
    platform, full_partition_folder
):
    before = (full_partition_folder / "orders.parquet").read_bytes()
    rows = platform.day_rows()
    # The source changes, so a load that went through would change the warehouse's rows.
    first = rows[0]["id"]
    with platform.shop_db.engine().begin() as conn:
        tax = conn.execute(sa.select(orders.c.tax_paid).where(orders.c.id == first)).scalar_one()
        conn.execute(sa.update(orders).where(orders.c.id == first).values(tax_paid=tax + 1))
    try:
        started = time.monotonic()
        result = platform.run([ORDERS_KEY], DAY)
        seconds = time.monotonic() - started
    finally:
        with platform.shop_db.engine().begin() as conn:
            conn.execute(sa.update(orders).where(orders.c.id == first).values(tax_paid=tax))
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    line = first_line(result)
    assert line == (
        f"lake {platform.settings.lake_url}: writing {DAY_FILE}: [Errno 28] No space left on device"
    ), line
    assert seconds < 10, seconds
    assert platform.day_rows() == rows
    assert (full_partition_folder / "orders.parquet").read_bytes() == before
    assert sorted(p.name for p in full_partition_folder.iterdir()) == ["filler", "orders.parquet"]
    assert platform.agrees()


def test_stage_discards_on_failure_and_places_after(tmp_path):
    lake = LakeResource(url=str(tmp_path))
    table = pa.table({"a": [1, 2]})
    with pytest.raises(RuntimeError), lake.staged() as stage:
        stage.write_parquet("raw/x/x.parquet", table)
        assert not lake.exists("raw/x/x.parquet")
        raise RuntimeError("the warehouse transaction failed")
    assert list(tmp_path.rglob("*.parquet")) == [] and list(tmp_path.rglob(".tmp-*")) == []
    with lake.staged() as stage:
        stage.write_parquet("raw/x/x.parquet", table)
    assert lake.parquet_rows("raw/x/x.parquet") == 2
    assert stage.files[0].rows == 2 and len(stage.files[0].sha256) == 64


def test_a_long_run_lists_its_files_in_a_manifest(platform, monkeypatch):
    """Beyond LAKE_FILES_INLINE_MAX files the list goes to a manifest in the lake (Dagster
    copies a range run's metadata to every partition): the materialization names it, and it
    holds every file with its rows, bytes and checksum."""
    from data_platform.loading import loader

    monkeypatch.setattr(loader, "LAKE_FILES_INLINE_MAX", 10)
    first, last = data_window(platform.settings)
    result = platform.run(
        [ORDERS_KEY], tags=partition_range_tags(first.isoformat(), last.isoformat())
    )
    assert result.success
    metadata = platform.instance.get_latest_materialization_event(
        ORDERS_KEY
    ).asset_materialization.metadata
    assert "lake_files" not in metadata
    manifest = metadata["lake_files_manifest"].value
    assert manifest == f"manifests/raw/orders/run-{result.run_id}.json"
    files = {f["path"]: f for f in json.loads(platform.lake.read_bytes(manifest))}
    assert len(files) == metadata["lake_files_count"].value
    assert len([p for p in files if p.startswith("raw/")]) == 45
    assert sum(f["bytes"] for f in files.values()) == metadata["lake_bytes"].value
    data = (platform.lake_root / DAY_FILE).read_bytes()
    assert files[DAY_FILE]["sha256"] == hashlib.sha256(data).hexdigest()
    assert files[DAY_FILE]["rows"] == len(platform.day_rows()) > 0
