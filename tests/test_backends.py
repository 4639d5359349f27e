"""The whole pipeline on server backends chosen by settings alone: the lake on an S3-API
server, the shop database and the warehouse on PostgreSQL (two databases); the marts against
the independent oracle and against the DuckDB warehouse built from the same input."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_platform.core.pseudonyms import KEY_FILE, hmac_pads, pseudonym
from data_platform.core.settings import PROJECT_ROOT, Settings
from data_platform.resources import LakeResource, WarehouseResource
from tests.conftest import BIN, SETTINGS, cli
from tests.mart_compare import MART_KEYS, differences, read_mart
from tests.oracle import compute_marts
from tests.servers import create_bucket, postgres_database


@pytest.fixture(scope="module")
def warehouse_url():
    """A second, fresh PostgreSQL database: the warehouse, apart from the shop database."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def server_env(tmp_path_factory, s3_env, postgres_url, warehouse_url):
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    create_bucket(s3_env, bucket)
    home = tmp_path_factory.mktemp("server-home")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATA_PLATFORM_", "DAGSTER_HOME"))
    }
    env.update(s3_env)
    env.update(
        {
            "DATA_PLATFORM_HOME": str(home),
            "DATA_PLATFORM_LAKE_URL": f"s3://{bucket}/jaffle",
            # Secrets in every URL and key (the server trusts loopback and moto checks no
            # signature, so any will do): none may appear in anything the platform writes.
            "DATA_PLATFORM_SHOP_DB_URL": with_password(postgres_url, SHOP_PASSWORD),
            "DATA_PLATFORM_WAREHOUSE_URL": with_password(warehouse_url, WAREHOUSE_PASSWORD),
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "DATA_PLATFORM_PSEUDONYM_KEY": PSEUDONYM_KEY,
        }
    )
    return env


SHOP_PASSWORD, WAREHOUSE_PASSWORD, S3_SECRET = "Sh0p-S3cr3t", "Wh-S3cr3t", "S3-S3cr3t-key"
PSEUDONYM_KEY = "Ps3ud0nym-S3cr3t-key"
# The key's HMAC pads are the key in another form: the warehouse holds them, nothing else.
SECRETS = (
    SHOP_PASSWORD,
    WAREHOUSE_PASSWORD,
    S3_SECRET,
    PSEUDONYM_KEY,
    *hmac_pads(PSEUDONYM_KEY.encode()),
)


def with_password(url: str, password: str) -> str:
    return sa.engine.make_url(url).set(password=password).render_as_string(hide_password=False)


def platform(env, *args):
    return subprocess.run(
        [str(BIN / "data-platform"), *args], env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def server_run(server_env, small_csv_dir):
    seeded = platform(server_env, "seed", "--from-csv", str(small_csv_dir))
    assert seeded.returncode == 0, seeded.stderr
    prepared = platform(server_env, "prepare")
    assert prepared.returncode == 0, prepared.stderr
    result = platform(server_env, "run")
    # The dbt manifest (dbt_project/target) is shared with the session's DuckDB runs, which read
    # each model's relation (database, schema) from it: parse it for them again.
    assert cli("prepare").returncode == 0
    return result


def test_run_on_servers_succeeds(server_run):
    assert server_run.returncode == 0, server_run.stdout[-3000:] + server_run.stderr[-3000:]


def test_no_secret_in_the_output_the_state_folder_or_the_logs(server_run, server_env):
    """Not in the console, the Dagster instance (event logs, run storage, compute logs), the
    lake files it wrote, nor dbt's logs and artifacts."""
    assert server_run.returncode == 0, server_run.stderr[-2000:]
    texts = {"stdout": server_run.stdout, "stderr": server_run.stderr}
    folders = [Path(server_env["DATA_PLATFORM_HOME"]), PROJECT_ROOT / "dbt_project"]
    files = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)  # the instance's run and event storage
    for path in files:
        texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    found = [
        (where, secret) for where, text in texts.items() for secret in SECRETS if secret in text
    ]
    assert found == []
    # Given in the environment, the key is not written to a file either.
    assert not (Path(server_env["DATA_PLATFORM_HOME"]) / KEY_FILE).exists()


def test_shop_database_is_postgresql(server_run, server_env, small_csv_dir):
    engine = sa.create_engine(server_env["DATA_PLATFORM_SHOP_DB_URL"])
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        orders = conn.execute(sa.text("select count(*) from orders")).scalar_one()
    engine.dispose()
    with (small_csv_dir / "raw_orders.csv").open() as handle:
        assert orders == sum(1 for _ in handle) - 1


def test_lake_is_on_s3(server_run, server_env, monkeypatch):
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.setenv(name, server_env[name])
    lake = LakeResource(url=server_env["DATA_PLATFORM_LAKE_URL"])
    raw = lake.list_files("raw/orders")
    assert raw and all(f.path.endswith("/orders.parquet") for f in raw)
    assert lake.list_files("landing/tweets")
    assert "lake" not in os.listdir(server_env["DATA_PLATFORM_HOME"])


def test_warehouse_is_postgresql(server_run, server_env, small_csv_dir):
    warehouse = WarehouseResource(url=server_env["DATA_PLATFORM_WAREHOUSE_URL"])
    assert warehouse.engine == "postgres"
    (row,) = warehouse.query("select count(*) as n from raw.orders")
    with (small_csv_dir / "raw_orders.csv").open() as handle:
        assert row["n"] == sum(1 for _ in handle) - 1
    tables = warehouse.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw', 'staging', 'marts')"
    )
    assert {(t["table_schema"], t["table_name"]) for t in tables} >= {
        ("raw", "orders"),
        ("staging", "stg_orders"),
        ("marts", "fct_orders"),
    }
    assert not os.path.exists(os.path.join(server_env["DATA_PLATFORM_HOME"], "warehouse.duckdb"))


@pytest.mark.parametrize("mart", sorted(MART_KEYS))
def test_marts_equal_the_oracle(server_run, server_env, small_csv_dir, mart):
    key = Settings.from_environ(server_env).pseudonym_secret()
    expected = compute_marts(small_csv_dir, key)[mart]
    actual = read_mart(server_env["DATA_PLATFORM_WAREHOUSE_URL"], mart)
    assert differences(expected, actual, MART_KEYS[mart]) == []


@pytest.mark.parametrize("mart", sorted(MART_KEYS))
def test_postgresql_marts_equal_the_duckdb_marts(server_run, server_env, full_run, mart):
    """The same input (the session's small CSVs) through both engines gives the same rows;
    the customers' pseudonyms are those of each state folder's key."""
    assert full_run.returncode == 0, full_run.stdout[-2000:]
    duckdb_rows = read_mart(SETTINGS.warehouse_url, mart)
    postgres_rows = read_mart(server_env["DATA_PLATFORM_WAREHOUSE_URL"], mart)
    if duckdb_rows and "customer_key" in duckdb_rows[0]:
        ids = [
            r["customer_id"]
            for r in WarehouseResource(url=SETTINGS.warehouse_url).query(
                "select customer_id from staging.stg_customers"
            )
        ]
        server_key = Settings.from_environ(server_env).pseudonym_secret()
        to_server = {
            pseudonym(SETTINGS.pseudonym_secret(), i): pseudonym(server_key, i) for i in ids
        }
        duckdb_rows = [{**r, "customer_key": to_server[r["customer_key"]]} for r in duckdb_rows]
    assert len(duckdb_rows) == len(postgres_rows)
    assert differences(duckdb_rows, postgres_rows, MART_KEYS[mart]) == []
