"""The lake and the landing sensor on an S3-API server, over real HTTP (moto in its own process)."""

import datetime as dt
import uuid

import pyarrow as pa
import pytest

from data_platform.core.lake_layout import landing_daily_path, landing_reference_path
from data_platform.resources import LakeResource
from tests.servers import create_bucket
from tests.test_automation import RANGE_END, RANGE_START, tick


@pytest.fixture
def s3_lake(s3_env, monkeypatch) -> LakeResource:
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    create_bucket(s3_env, bucket)
    return LakeResource(url=f"s3://{bucket}/platform")


def test_write_read_list_delete(s3_lake):
    s3_lake.write_bytes("landing/products/products.csv", b"sku\nJAF-001\n")
    s3_lake.write_parquet("raw/orders/date=2018-09-01/orders.parquet", pa.table({"id": ["a", "b"]}))
    assert s3_lake.exists("landing/products/products.csv")
    assert s3_lake.read_bytes("landing/products/products.csv") == b"sku\nJAF-001\n"
    assert s3_lake.read_parquet("raw/orders/date=2018-09-01/orders.parquet").num_rows == 2
    files = s3_lake.list_files("")
    assert [f.path for f in files] == [
        "landing/products/products.csv",
        "raw/orders/date=2018-09-01/orders.parquet",
    ]
    s3_lake.delete("landing/products/products.csv")
    assert not s3_lake.exists("landing/products/products.csv")
    assert [f.path for f in s3_lake.list_files("landing")] == []


def test_version_is_the_etag_and_follows_content(s3_lake):
    path = landing_reference_path("stores")
    s3_lake.write_bytes(path, b"one")
    [first] = s3_lake.list_files("landing")
    s3_lake.write_bytes(path, b"one")
    [same] = s3_lake.list_files("landing")
    s3_lake.write_bytes(path, b"two")
    [changed] = s3_lake.list_files("landing")
    assert first.version == same.version != changed.version


def test_sensor_on_s3_listings_past_1000_keys(s3_lake):
    """1,050 daily files: listed across pages, taken 500 per tick, each version once."""
    start = dt.date(2016, 1, 1)
    days = [start + dt.timedelta(days=i) for i in range(1050)]
    for day in days:
        s3_lake.write_bytes(landing_daily_path("tweets", day), f"{day}\n".encode())
    assert len(s3_lake.list_files("landing")) == 1050

    cursor, ranges = None, []
    for _ in range(3):
        requests, cursor = tick(s3_lake, cursor)
        ranges += [
            (r.tags[RANGE_START], r.tags[RANGE_END], int(r.tags["landing_files"])) for r in requests
        ]
    assert ranges == [
        (days[0].isoformat(), days[499].isoformat(), 500),
        (days[500].isoformat(), days[999].isoformat(), 500),
        (days[1000].isoformat(), days[1049].isoformat(), 50),
    ]
    # Restart: a new evaluation with the stored cursor requests nothing more.
    assert tick(s3_lake, cursor)[0] == []

    # Uploaded again with new content (new ETag): requested again; deleted: nothing.
    s3_lake.write_bytes(landing_daily_path("tweets", days[10]), b"changed\n")
    s3_lake.delete(landing_daily_path("tweets", days[20]))
    requests, cursor = tick(s3_lake, cursor)
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [
        (days[10].isoformat(), days[10].isoformat())
    ]
    assert tick(s3_lake, cursor)[0] == []
