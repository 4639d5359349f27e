"""One retry policy: transient faults retried with backoff, permanent ones failing at once.

Real raw assets against real servers (a port where nothing listens, the machine's PostgreSQL
asked for a database it does not have, moto's S3 without the bucket), each run in-process on a
state folder of its own with a Dagster instance on disk, so that the event logs and compute
logs can be searched for the password. Asserted: the attempts made, the first line of the
message, the time it took, and that the password appears nowhere.
"""

import time
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, Failure

from data_platform.core.errors import MASK
from data_platform.core.settings import HOME, LAKE_URL, WAREHOUSE_URL, Settings
from data_platform.definitions import build_definitions
from data_platform.loading.raw_asset import RAW_RETRY_POLICY
from data_platform.resources.faults import PermanentFault, TransientFault, fault
from tests.conftest import SETTINGS
from tests.servers import free_port
from tests.test_lake_agreement import first_line

PASSWORD = "S3cr3t-pw"
PRODUCTS = AssetKey(["raw", "products"])


def run_products(tmp_path: Path, monkeypatch, **environ: str):
    """Materialize raw/products with ``environ`` set, on a lake holding the session's landing
    products file (unless ``environ`` moves the lake); (result, seconds, instance folder)."""
    home = tmp_path / "home"
    landing = home / "lake" / "landing" / "products"
    landing.mkdir(parents=True)
    source = Path(SETTINGS.lake_url) / "landing" / "products" / "products.csv"
    landing.joinpath("products.csv").write_bytes(source.read_bytes())
    monkeypatch.setenv(HOME, str(home))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_environ()
    job = build_definitions(settings).resolve_implicit_global_asset_job_def()
    instance_dir = tmp_path / "instance"
    instance_dir.mkdir()
    with DagsterInstance.local_temp(str(instance_dir)) as instance:
        started = time.monotonic()
        result = job.execute_in_process(
            instance=instance, asset_selection=[PRODUCTS], raise_on_error=False
        )
        return result, time.monotonic() - started, instance_dir


def retries(result) -> int:
    return sum(1 for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY")


def assert_no_secret(result, instance_dir: Path) -> None:
    events = "\n".join(repr(e) for e in result.all_events)
    assert PASSWORD not in events
    for path in instance_dir.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


@pytest.mark.usefixtures("seeded")
def test_a_refused_connection_is_retried_with_backoff_then_fails(tmp_path, monkeypatch):
    url = f"postgresql://platform:{PASSWORD}@127.0.0.1:{free_port()}/wh"
    result, seconds, instance_dir = run_products(tmp_path, monkeypatch, **{WAREHOUSE_URL: url})
    assert not result.success
    assert retries(result) == RAW_RETRY_POLICY.max_retries == 2
    line = first_line(result)
    assert line.startswith(
        "data_platform.resources.faults.TransientFault: warehouse "
        f"(DATA_PLATFORM_WAREHOUSE_URL=postgresql://platform:{MASK}@127.0.0.1:"
    ), line
    assert "Connection refused" in line and line.endswith("(transient: retried with backoff)")
    # Delays of 2 s and 4 s, each +-2 s of jitter: bounded, and seconds rather than minutes.
    assert 2 < seconds < 20, seconds
    assert_no_secret(result, instance_dir)


def test_a_missing_database_fails_at_once(tmp_path, monkeypatch, postgres_url, seeded):
    server = postgres_url.split("@", 1)[1].rsplit("/", 1)[0]
    url = f"postgresql://postgres:{PASSWORD}@{server}/no_such_database"
    result, seconds, instance_dir = run_products(tmp_path, monkeypatch, **{WAREHOUSE_URL: url})
    assert not result.success
    assert retries(result) == 0
    line = first_line(result)
    # The first thing the load asks the warehouse: the versions it holds (change capture).
    assert line.startswith(
        f"warehouse (DATA_PLATFORM_WAREHOUSE_URL=postgresql://postgres:{MASK}@{server}/"
        "no_such_database): reading: "
    ), line
    assert line.endswith('database "no_such_database" does not exist'), line
    assert seconds < 10, seconds
    assert_no_secret(result, instance_dir)


def test_a_missing_bucket_fails_at_once(tmp_path, monkeypatch, s3_env, seeded):
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    result, seconds, _ = run_products(
        tmp_path, monkeypatch, **{LAKE_URL: "s3://no-such-bucket/lake"}
    )
    assert not result.success
    assert retries(result) == 0
    assert first_line(result) == (
        "raw.products: landing file landing/products/products.csv is missing from the lake"
    )
    assert seconds < 10, seconds


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionResetError("Connection reset by peer"), True),
        (TimeoutError("timed out"), True),
        (duckdb.IOException('IO Error: Could not set lock on file "w.duckdb"'), True),
        (OSError(28, "No space left on device"), False),
        (PermissionError("denied"), False),
        (FileNotFoundError("s3://b/k"), False),
        (RuntimeError('FATAL: password authentication failed for user "u"'), False),
        (ValueError("not a plain SQL identifier: 'x y'"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_faults_are_classified_and_redacted(error, transient):
    url = f"postgresql://u:{PASSWORD}@h/db"
    translated = fault(f"warehouse {url}", error, [PASSWORD])
    assert isinstance(translated, TransientFault if transient else PermanentFault)
    assert PASSWORD not in str(translated) and f"u:{MASK}@h" in str(translated)
    if not transient:
        assert isinstance(translated, Failure) and translated.allow_retries is False


def test_every_raw_step_has_the_one_policy(defs):
    graph = defs.resolve_asset_graph()
    raw = [k for k in graph.get_all_asset_keys() if k.path[0] == "raw"]
    assert raw
    for key in raw:
        assert graph.get(key).assets_def.op.retry_policy == RAW_RETRY_POLICY, key
