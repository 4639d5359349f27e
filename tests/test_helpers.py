"""Pure helpers: settings defaults and their strict parsing, lake layout, partition windows."""

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

from data_platform.core import lake_layout, settings, urls
from data_platform.core.errors import redact
from data_platform.core.partitions import (
    chunk_days,
    days_in_window,
    dbt_partition_env,
    dbt_partition_vars,
    parse_partition_range,
    run_partition_env,
)
from data_platform.core.warehouse_url import parse_warehouse_url
from data_platform.resources.dbt import stale_invocations
from data_platform.sources.landing import datasets as landing
from data_platform.sources.landing.layout import landing_file
from data_platform.transformation.dbt_assets import DbtBuildConfig, build_args
from tests.conftest import BIN


def test_defaults_derive_from_one_state_folder():
    values = settings.defaults(Path("/srv/state"))
    assert values["DATA_PLATFORM_LAKE_URL"] == "/srv/state/lake"
    assert values["DATA_PLATFORM_WAREHOUSE_URL"] == "duckdb:////srv/state/warehouse.duckdb"
    assert values["DATA_PLATFORM_SHOP_DB_URL"] == "sqlite:////srv/state/shop.db"
    assert values["DAGSTER_HOME"] == "/srv/state/dagster"
    assert values["DATA_PLATFORM_PARTITION_START"] == "2018-09-01"


def test_warehouse_url_picks_the_engine_and_the_dbt_target():
    assert settings.dbt_profile_env("duckdb:////srv/state/warehouse.duckdb") == {
        "DATA_PLATFORM_DBT_TARGET": "duckdb",
        "DATA_PLATFORM_WAREHOUSE_PATH": "/srv/state/warehouse.duckdb",
        "DO_NOT_TRACK": "1",
    }
    assert settings.dbt_profile_env("duckdb:///md:jaffle")["DATA_PLATFORM_WAREHOUSE_PATH"] == (
        "md:jaffle"
    )
    assert settings.dbt_profile_env("postgresql://dbt:p%40ss@wh.internal:6432/analytics") == {
        "DATA_PLATFORM_DBT_TARGET": "postgres",
        "DATA_PLATFORM_WAREHOUSE_HOST": "wh.internal",
        "DATA_PLATFORM_WAREHOUSE_PORT": "6432",
        "DATA_PLATFORM_WAREHOUSE_USER": "dbt",
        "DATA_PLATFORM_WAREHOUSE_PASSWORD": "p@ss",
        "DATA_PLATFORM_WAREHOUSE_DATABASE": "analytics",
        "DO_NOT_TRACK": "1",
    }


def test_postgres_warehouse_urls_for_each_driver():
    location = parse_warehouse_url("postgresql+psycopg2://dbt:p%40ss@wh.internal/analytics")
    assert location.engine == "postgres"
    assert location.libpq_url() == "postgresql://dbt:p%40ss@wh.internal/analytics"
    assert location.sqlalchemy_url() == "postgresql+psycopg://dbt:p%40ss@wh.internal/analytics"
    assert location.dbt_env()["DATA_PLATFORM_WAREHOUSE_PORT"] == "5432"


@pytest.mark.parametrize(
    "url",
    [
        "snowflake://account/db",  # an engine the raw loads do not write
        "postgresql://user@host:5432",  # no database
        "duckdb://relative.duckdb",  # a host, not a path
    ],
)
def test_unsupported_warehouse_urls_are_refused(url):
    with pytest.raises(ValueError, match="warehouse URL"):
        parse_warehouse_url(url)


def test_landing_paths_round_trip():
    assert (
        lake_layout.landing_daily_path("tweets", dt.date(2018, 9, 1))
        == "landing/tweets/2018-09-01.jsonl"
    )
    assert lake_layout.parse_landing_path("landing/tweets/2018-09-01.jsonl") == (
        "tweets",
        "2018-09-01",
    )
    assert lake_layout.landing_reference_path("stores") == "landing/stores/stores.csv"
    assert lake_layout.parse_landing_path("landing/stores/stores.csv") == ("stores", None)


@pytest.mark.parametrize(
    "path",
    [
        "landing/tweets/2018-02-30.jsonl",  # not a date
        "landing/orders/2018-09-01.jsonl",  # not a daily landing dataset
        "landing/products/stores.csv",  # wrong file for the folder
        "landing/unknown/unknown.csv",
        "raw/tweets/date=2018-09-01/tweets.parquet",
        "landing/tweets/.tmp-abc",
    ],
)
def test_unknown_landing_paths_are_ignored(path):
    assert landing_file(path) is None


def test_landing_files_name_their_dataset_and_day():
    assert landing_file("landing/tweets/2018-09-01.jsonl") == (landing.TWEETS, "2018-09-01")
    assert landing_file("landing/supplies/supplies.csv") == (landing.SUPPLIES, None)
    # Laid out as a landing file, but not one the landing source expects.
    assert lake_layout.parse_landing_path("landing/orders/2018-09-01.jsonl") == (
        "orders",
        "2018-09-01",
    )


def test_raw_paths():
    assert (
        lake_layout.raw_partition_path("orders", "2018-09-01")
        == "raw/orders/date=2018-09-01/orders.parquet"
    )
    assert lake_layout.raw_table_path("customers") == "raw/customers/customers.parquet"


def test_days_in_window_is_half_open():
    start = dt.datetime(2018, 9, 1)
    assert days_in_window(start, dt.datetime(2018, 9, 2)) == [dt.date(2018, 9, 1)]
    assert len(days_in_window(start, dt.datetime(2018, 10, 1))) == 30
    assert days_in_window(start, dt.datetime(2018, 9, 2, 6)) == [
        dt.date(2018, 9, 1),
        dt.date(2018, 9, 2),
    ]


def test_chunk_days_keeps_order_and_size():
    days = [dt.date(2018, 9, 1) + dt.timedelta(days=i) for i in range(70)]
    chunks = list(chunk_days(days, 31))
    assert [len(c) for c in chunks] == [31, 31, 8]
    assert [d for c in chunks for d in c] == days


def test_partition_window_to_dbt_vars():
    one_day = dbt_partition_vars(dt.datetime(2019, 2, 3), dt.datetime(2019, 2, 4))
    assert one_day == {"min_date": "2019-02-03", "max_date": "2019-02-03"}
    january = dbt_partition_vars(dt.datetime(2019, 1, 1), dt.datetime(2019, 2, 1))
    assert january == {"min_date": "2019-01-01", "max_date": "2019-01-31"}
    with pytest.raises(ValueError, match="empty partition window"):
        dbt_partition_vars(dt.datetime(2019, 1, 1), dt.datetime(2019, 1, 1))


def test_partition_window_to_dbt_environment():
    window = dbt_partition_vars(dt.datetime(2019, 1, 1), dt.datetime(2019, 2, 1))
    assert dbt_partition_env(window) == {
        "DATA_PLATFORM_DBT_MIN_DATE": "2019-01-01",
        "DATA_PLATFORM_DBT_MAX_DATE": "2019-01-31",
    }
    range_run = {"dagster/asset_partition_range_start": "2019-01-01"}
    range_run["dagster/asset_partition_range_end"] = "2019-01-31"
    assert run_partition_env(range_run) == dbt_partition_env(window)
    one_day = run_partition_env({"dagster/partition": "2019-01-05"})
    assert set(one_day.values()) == {"2019-01-05"}
    assert run_partition_env({"dagster/backfill": "x"}) == {}
    # The names the dbt macro reads.
    macro = (settings.DBT_PROJECT_DIR / "macros" / "partition_window.sql").read_text()
    assert all(f"env_var('{name}'" in macro for name in dbt_partition_env(window))


def test_dbt_resource_overrides_still_exist_in_dagster_dbt():
    """The resource overrides two private methods of dagster-dbt (resources/dbt.py): if an
    upgrade renames them, the overrides would silently stop saving dbt's start-up."""
    from dagster_dbt import DbtCliResource
    from dbt.version import __version__

    from data_platform.resources.dbt import WarehouseDbtCliResource, dbt_project

    for name in ("_cli_version", "_initialize_dbt_core_adapter"):
        assert name in vars(DbtCliResource), name
    resource = WarehouseDbtCliResource(
        project_dir=dbt_project, dbt_executable="/bin/false", warehouse_url="duckdb:///x"
    )
    # No `dbt --version` subprocess (/bin/false would fail it) and no adapter.
    assert str(resource._cli_version) == __version__
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_stale_dbt_invocations_are_the_oldest_beyond_the_kept_per_step():
    folders = {
        "transform_dbt-a1b2c3d-0000001": 1.0,
        "transform_dbt-a1b2c3d-0000002": 3.0,
        "transform_dbt-e4f5a6b-0000003": 2.0,
        "transform_daily_dbt-a1b2c3d-0000004": 0.5,
        "transform_dbt-notes": 0.0,  # not an invocation's folder: never picked
        "partial_parse.msgpack": 0.0,
    }
    assert stale_invocations(folders, keep=2) == ["transform_dbt-a1b2c3d-0000001"]
    assert stale_invocations(folders, keep=1) == [
        "transform_dbt-a1b2c3d-0000001",
        "transform_dbt-e4f5a6b-0000003",
    ]
    assert stale_invocations(folders, keep=3) == []


def test_planned_events_per_asset_only_while_enabled(monkeypatch):
    from data_platform.headless import PLANNED_SUBSET_ENV, planned_events_per_asset

    monkeypatch.delenv(PLANNED_SUBSET_ENV, raising=False)
    with planned_events_per_asset(False):
        assert PLANNED_SUBSET_ENV not in os.environ
    with planned_events_per_asset(True):
        assert os.environ[PLANNED_SUBSET_ENV] == "true"
    assert PLANNED_SUBSET_ENV not in os.environ
    monkeypatch.setenv(PLANNED_SUBSET_ENV, "false")  # the user's choice wins
    with planned_events_per_asset(True):
        assert os.environ[PLANNED_SUBSET_ENV] == "false"
    assert os.environ[PLANNED_SUBSET_ENV] == "false"


def test_dbt_build_arguments():
    assert build_args(DbtBuildConfig()) == ["build"]
    assert build_args(DbtBuildConfig(full_refresh=True), {"max_date": "b", "min_date": "a"}) == [
        "build",
        "--vars",
        '{"max_date": "b", "min_date": "a"}',
        "--full-refresh",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-02-03", (dt.date(2019, 2, 3), dt.date(2019, 2, 3))),
        ("2019-01-01...2019-01-31", (dt.date(2019, 1, 1), dt.date(2019, 1, 31))),
    ],
)
def test_partition_range_syntax(text, expected):
    assert parse_partition_range(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2019-01-31...2019-01-01", "ends before it starts"),
        ("2019-01-01...", "expected FIRST...LAST"),
        ("2019-13-01", "YYYY-MM-DD"),
        ("2019-01-01..2019-01-31", "YYYY-MM-DD"),  # two dots: not Dagster's syntax
    ],
)
def test_malformed_partition_ranges_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_partition_range(text)


def test_an_instance_configuration_left_at_its_old_place_is_named(tmp_path):
    with pytest.raises(settings.SettingsError, match="deploy/dagster.production.yaml"):
        settings.Settings.from_environ(
            {settings.HOME: str(tmp_path), settings.DAGSTER_CONFIG: "dagster.production.yaml"}
        )


def test_a_setting_the_platform_cannot_use_stops_the_command_with_a_message(tmp_path):
    env = {
        **os.environ,
        "DATA_PLATFORM_HOME": str(tmp_path),
        "DATA_PLATFORM_WAREHOUSE_URL": "snowflake://dbt:S3cr3t@account/db",
    }
    result = subprocess.run(
        [str(BIN / "data-platform"), "run"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "DATA_PLATFORM_WAREHOUSE_URL" in result.stderr and "unsupported engine" in result.stderr
    assert "S3cr3t" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql//user:S3cr3t@127.0.0.1/wh", "looks like a URL, not a path"),  # ':' missing
        ("user@host/warehouse.duckdb", "looks like a URL"),
        ("postgresql://u:S3cr3t@h:99999/db", "port 99999 is not from 1 to 65535"),
        ("postgresql://u:S3cr3t@h:port/db", "the port is not a number"),
        ("postgresql://u:S3cr3t@/db", "names no host"),
        ("duckdb:///", "expected duckdb:///<path to the file>"),
    ],
)
def test_warehouse_urls_are_parsed_strictly_and_never_show_the_password(url, message):
    with pytest.raises(ValueError, match=message) as raised:
        parse_warehouse_url(url)
    assert "S3cr3t" not in str(raised.value)


def test_postgres_scheme_alias_and_bare_paths_select_their_engine():
    assert parse_warehouse_url("postgres://dbt@wh:6432/analytics").server.port == 6432
    assert parse_warehouse_url("/srv/state/warehouse.duckdb").path == "/srv/state/warehouse.duckdb"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://shop:S3cr3t@h/shop", "unsupported engine 'mysql'"),
        ("postgresql://shop:S3cr3t@h:5432", "names no database"),
        ("postgresql://shop:S3cr3t@:5432/shop", "names no host"),
        ("sqlite://", "names no database file"),
        ("shop.db", "is not a URL"),
    ],
)
def test_shop_database_urls_are_parsed_strictly(url, message):
    with pytest.raises(ValueError, match=message) as raised:
        urls.database_url(url, settings.SHOP_DB_DRIVERS, settings.SHOP_DB_EXAMPLE)
    assert "S3cr3t" not in str(raised.value)
    assert "e.g. postgresql://shop@127.0.0.1:5432/shop" in str(raised.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/srv/lake", urls.LakeLocation(folder="/srv/lake")),
        ("file:///srv/lake", urls.LakeLocation(folder="/srv/lake")),
        ("s3://jaffle-lake/prod/", urls.LakeLocation(bucket="jaffle-lake", prefix="prod")),
        ("s3://jaffle.lake", urls.LakeLocation(bucket="jaffle.lake")),
    ],
)
def test_lake_urls(url, expected):
    assert urls.lake_location(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gs://bucket/lake", "unsupported scheme 'gs'"),
        ("s3://Jaffle_Lake/x", "not a valid S3 bucket name"),
        ("s3://ab", "not a valid S3 bucket name"),
        ("s3://192.168.1.1/x", "not a valid S3 bucket name"),
        ("s3//bucket/lake", "looks like a URL"),
        ("", "empty path"),
    ],
)
def test_malformed_lake_urls_are_refused(url, message):
    with pytest.raises(ValueError, match=message):
        urls.lake_location(url)


@pytest.mark.parametrize(
    "url", ["localhost:9000", "ftp://h:21", "http://h:9000/path", "http://h:0", "http://h:99999"]
)
def test_s3_endpoints_are_http_host_and_port(url):
    with pytest.raises(ValueError, match=r"expected http\(s\)://host\[:port\]"):
        urls.http_endpoint(url)
    assert urls.http_endpoint("https://s3.example.com:9000/") == "https://s3.example.com:9000/"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({settings.RUN_RETENTION_DAYS: "0"}, "DATA_PLATFORM_RUN_RETENTION_DAYS='0': expected"),
        ({settings.PARTITION_START: "2999-01-01"}, "is in the future"),
        ({settings.GIT_URL: "git@github.com:o/r"}, "DATA_PLATFORM_GIT_URL: .* http"),
        (
            {settings.LAKE_URL: "s3://jaffle-lake", "AWS_ACCESS_KEY_ID": "AKIA"},
            "AWS_SECRET_ACCESS_KEY: not set while AWS_ACCESS_KEY_ID is",
        ),
    ],
)
def test_settings_name_the_variable(tmp_path, environ, message):
    with pytest.raises(settings.SettingsError, match=message) as raised:
        settings.Settings.from_environ({settings.HOME: str(tmp_path), **environ})
    assert raised.value.exit_code == 2


def test_a_state_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(settings.SettingsError, match=r"DATA_PLATFORM_HOME: .*is a file"):
        settings.Settings.from_environ({settings.HOME: str(tmp_path / "file" / "home")})


def test_redact_masks_passwords_in_urls_even_mistyped_ones():
    assert redact("at postgresql://u:p@ss@h/db now") == "at postgresql://u:***@h/db now"
    assert redact("'postgresql//u:S3cr3t@h/wh'") == "'postgresql//u:***@h/wh'"
    assert redact("postgresql://dbt@h:5432/wh s3://bucket/x") == (
        "postgresql://dbt@h:5432/wh s3://bucket/x"
    )
    assert redact("key=hunter22", {"hunter22"}) == "key=***"
