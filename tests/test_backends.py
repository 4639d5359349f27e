"""The whole pipeline on server backends chosen by settings alone: the lake on an S3-API
server and the shop database on PostgreSQL; the marts against the independent oracle."""

import os
import subprocess
import uuid

import pytest
import sqlalchemy as sa

from data_platform.resources import LakeResource
from tests.conftest import BIN
from tests.mart_compare import MART_KEYS, differences, read_mart
from tests.oracle import compute_marts
from tests.servers import create_bucket


@pytest.fixture(scope="module")
def server_env(tmp_path_factory, s3_env, postgres_url):
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
            "DATA_PLATFORM_SHOP_DB_URL": postgres_url,
        }
    )
    return env


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
    return platform(server_env, "run")


def test_run_on_servers_succeeds(server_run):
    assert server_run.returncode == 0, server_run.stdout[-3000:] + server_run.stderr[-3000:]


def test_shop_database_is_postgresql(server_env, small_csv_dir):
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


@pytest.mark.parametrize("mart", sorted(MART_KEYS))
def test_marts_equal_the_oracle(server_run, server_env, small_csv_dir, mart):
    expected = compute_marts(small_csv_dir)[mart]
    warehouse = os.path.join(server_env["DATA_PLATFORM_HOME"], "warehouse.duckdb")
    assert differences(expected, read_mart(warehouse, mart), MART_KEYS[mart]) == []
