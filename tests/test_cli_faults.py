"""Faults and mistakes through the real command line: a message in seconds, never a traceback,
never a secret.

Each case runs ``data-platform`` in a subprocess with an environment of its own (a fresh
state folder under ``tmp_path``, none of the session's settings) and asserts the exit code,
the first line of stderr, the time it took, and that the password ``S3cr3t`` appears nowhere:
not in stdout, stderr, nor any file under the case's folder. Most cases fail before Dagster
is loaded, so each costs about a second.

The PostgreSQL server of the tests trusts every connection from 127.0.0.1 (``pg_hba.conf``:
``host all all 127.0.0.1/32 trust``), so a wrong password is accepted there: a permanent
refusal is shown with a role and a database that do not exist instead.
"""

import io
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_platform import cli, preflight
from tests.conftest import BIN
from tests.servers import s3_server

SECRET = "S3cr3t"
SETTINGS_SECONDS = 3.0  # a setting the platform cannot use is reported within this
UNREACHABLE_SECONDS = 12.0  # bounded retries (3 tries, waits of 1 s and 2 s) and start-up


def data_platform(
    tmp_path: Path, *args: str, **settings: str
) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``data-platform *args`` with ``settings`` over a fresh state folder; the result
    and the seconds it took."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATA_PLATFORM_", "AWS_")) and name != "DAGSTER_HOME"
    }
    env.update({"DATA_PLATFORM_HOME": str(tmp_path / "home"), **settings})
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "data-platform"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return result, time.monotonic() - started


def assert_fails(
    outcome: tuple[subprocess.CompletedProcess, float],
    tmp_path: Path,
    exit_code: int,
    first_line: str,
    seconds: float,
) -> str:
    """The command failed with ``exit_code``, its first line of stderr matches the regular
    expression ``first_line``, it took less than ``seconds``, without a traceback, and the
    secret is nowhere. Returns stderr."""
    result, took = outcome
    assert result.returncode == exit_code, result.stdout[-2000:] + result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert lines and re.fullmatch(first_line, lines[0]), result.stderr[-3000:]
    assert took < seconds, f"took {took:.1f} s: {lines[0]}"
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
    return result.stderr


@pytest.mark.parametrize(
    ("settings", "first_line"),
    [
        (
            {"DATA_PLATFORM_QUARANTINE_MAX_PERCENT": "abc"},
            (
                r"run: DATA_PLATFORM_QUARANTINE_MAX_PERCENT='abc': expected a whole number from 0 "
                r"to 100, e\.g\. DATA_PLATFORM_QUARANTINE_MAX_PERCENT=10"
            ),
        ),
        (
            {"DATA_PLATFORM_QUARANTINE_MAX_PERCENT": "-5"},
            r"run: DATA_PLATFORM_QUARANTINE_MAX_PERCENT='-5': expected a whole number .*",
        ),
        (
            {"DATA_PLATFORM_QUARANTINE_MAX_PERCENT": "150"},
            r"run: DATA_PLATFORM_QUARANTINE_MAX_PERCENT='150': expected a whole number .*",
        ),
        (
            # A missing ':' once made this a DuckDB file name, and the run stalled 7 minutes.
            {"DATA_PLATFORM_WAREHOUSE_URL": f"postgresql//user:{SECRET}@127.0.0.1/wh"},
            (
                r"run: DATA_PLATFORM_WAREHOUSE_URL: 'postgresql//user:\*\*\*@127\.0\.0\.1/wh' looks "
                r"like a URL, not a path: expected duckdb:///<path> or postgresql://.*"
            ),
        ),
        (
            {"DATA_PLATFORM_SHOP_DB_URL": f"postgresql://shop:{SECRET}@127.0.0.1:99999/shop"},
            (
                r"run: DATA_PLATFORM_SHOP_DB_URL: 'postgresql://shop:\*\*\*@127\.0\.0\.1:99999/shop': "
                r"port 99999 is not from 1 to 65535: expected .*"
            ),
        ),
        (
            {"DATA_PLATFORM_LAKE_URL": "s3://Jaffle_Lake/raw"},
            (
                r"run: DATA_PLATFORM_LAKE_URL: 's3://Jaffle_Lake/raw': 'Jaffle_Lake' is not a valid "
                r"S3 bucket name .*"
            ),
        ),
        (
            {
                "DATA_PLATFORM_LAKE_URL": "s3://jaffle-lake/raw",
                "AWS_ENDPOINT_URL": "127.0.0.1:9000",
            },
            r"run: AWS_ENDPOINT_URL: '127\.0\.0\.1:9000': expected http\(s\)://host\[:port\], .*",
        ),
        (
            # Dagster's own variable, which the platform sets: Dagster read it only when the
            # run's first events were written, and said "invalid literal for int()".
            {"DAGSTER_EVENT_BATCH_SIZE": "abc"},
            r"run: DAGSTER_EVENT_BATCH_SIZE='abc': expected a whole number of at least 0, .*",
        ),
    ],
    ids=[
        "percent-abc",
        "percent-negative",
        "percent-150",
        "warehouse-colon",
        "shop-port",
        "bucket",
        "endpoint",
        "event-batch-size",
    ],
)
def test_a_setting_the_platform_cannot_use_is_named_in_seconds(tmp_path, settings, first_line):
    outcome = data_platform(tmp_path, "run", **settings)
    assert_fails(outcome, tmp_path, 2, first_line, SETTINGS_SECONDS)
    assert len(outcome[0].stderr.splitlines()) == 1  # one line, not a pydantic report


def test_an_empty_partition_is_refused_not_taken_as_every_day(tmp_path):
    assert_fails(
        data_platform(tmp_path, "run", "--partition", ""),
        tmp_path,
        2,
        r"run: --partition is empty: expected a day YYYY-MM-DD or FIRST\.\.\.LAST, .*",
        SETTINGS_SECONDS,
    )


def test_a_state_folder_never_seeded_says_to_seed(tmp_path):
    assert_fails(
        data_platform(tmp_path, "run"),
        tmp_path,
        2,
        r"run: no shop database at .*/shop\.db \(DATA_PLATFORM_SHOP_DB_URL\): run "
        r"`data-platform seed --years 1` \(or `data-platform seed --from-csv DIR`\) first",
        SETTINGS_SECONDS,
    )


def test_an_empty_shop_database_says_to_seed(tmp_path):
    # The database exists but holds no table: found by the sources' data window, after the
    # code location is loaded (seconds), still before any run starts.
    (tmp_path / "home").mkdir()
    sa.create_engine(f"sqlite:///{tmp_path / 'home' / 'shop.db'}").connect().close()
    assert_fails(
        data_platform(tmp_path, "run"),
        tmp_path,
        2,
        r"run: the sources hold no orders or tweets: run `data-platform seed --years 1` .*",
        30.0,
    )


def test_an_unexpected_failure_is_one_line_and_debug_keeps_the_traceback(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "shop.db").write_text("not a database")
    result, took = data_platform(tmp_path, "--debug", "run")
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.splitlines()[-1] == (
        "run: failed: DatabaseError: (sqlite3.DatabaseError) file is not a database"
    )
    assert took < 30.0


def test_run_before_prepare_says_to_prepare(tmp_path, monkeypatch, capsys):
    # In-process: the manifest of the working tree is the session's, which other tests need,
    # so the command looks for it elsewhere instead of having it removed.
    monkeypatch.setattr(preflight, "MANIFEST", tmp_path / "target" / "manifest.json")
    monkeypatch.setenv("DATA_PLATFORM_HOME", str(tmp_path / "home"))
    assert cli.main(["run"]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == (
        f"run: no dbt manifest at {tmp_path}/target/manifest.json: run `data-platform prepare` "
        "first (it parses the dbt project the dbt assets are built from)"
    )


def test_console_output_is_redacted_a_line_at_a_time():
    out = io.StringIO()
    stream = cli.Redacting(out, {"hunter22"})
    stream.write("shop at postgresql://shop:S3c")
    stream.write("r3t@db/shop, key hun")
    stream.write("ter22\npartial ")
    assert out.getvalue() == "shop at postgresql://shop:***@db/shop, key ***\n"
    stream.flush()
    assert out.getvalue().endswith("partial ")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_shop_database_where_nothing_listens_gives_up_after_bounded_retries(tmp_path):
    port = _closed_port()
    stderr = assert_fails(
        data_platform(
            tmp_path,
            "run",
            DATA_PLATFORM_SHOP_DB_URL=f"postgresql://shop:{SECRET}@127.0.0.1:{port}/shop",
        ),
        tmp_path,
        1,
        rf"run: DATA_PLATFORM_SHOP_DB_URL: cannot reach postgresql://shop:\*\*\*@127\.0\.0\.1:"
        rf"{port}/shop \(connection refused; gave up after 3 tries in \d+\.\d s\)",
        UNREACHABLE_SECONDS,
    )
    assert float(re.search(r"in (\d+\.\d) s", stderr).group(1)) >= 2.5  # it did back off


def test_a_nats_broker_where_nothing_listens_gives_up_after_bounded_retries(tmp_path):
    port = _closed_port()
    assert_fails(
        data_platform(
            tmp_path, "consume", DATA_PLATFORM_EVENTS_URL=f"nats://events:{SECRET}@127.0.0.1:{port}"
        ),
        tmp_path,
        1,
        rf"consume: DATA_PLATFORM_EVENTS_URL: cannot reach nats://events:\*\*\*@127\.0\.0\.1:"
        rf"{port} \(connection refused; gave up after 3 tries in \d+\.\d s\)",
        UNREACHABLE_SECONDS,
    )


def test_an_unknown_database_role_is_refused_at_once(tmp_path, postgres_url):
    url = sa.engine.make_url(postgres_url).set(username="no_such_role", password=SECRET)
    shown = re.escape(url.render_as_string(hide_password=True))
    assert_fails(
        data_platform(
            tmp_path, "run", DATA_PLATFORM_SHOP_DB_URL=url.render_as_string(hide_password=False)
        ),
        tmp_path,
        2,
        rf"run: DATA_PLATFORM_SHOP_DB_URL: {shown} refused: "
        r'role "no_such_role" does not exist \(not retried\)',
        SETTINGS_SECONDS + 2,
    )


def test_a_missing_warehouse_database_is_refused_before_the_seed_writes(tmp_path, postgres_url):
    url = sa.engine.make_url(postgres_url).set(database="no_such_db", password=SECRET)
    empty = tmp_path / "csv"
    empty.mkdir()
    assert_fails(
        data_platform(
            tmp_path,
            "seed",
            "--from-csv",
            str(empty),
            DATA_PLATFORM_WAREHOUSE_URL=url.render_as_string(hide_password=False),
        ),
        tmp_path,
        2,
        r"seed: DATA_PLATFORM_WAREHOUSE_URL: .*/no_such_db refused: "
        r'database "no_such_db" does not exist \(not retried\)',
        SETTINGS_SECONDS + 2,
    )
    assert not (tmp_path / "home" / "shop.db").exists()


S3_LAKE = {"DATA_PLATFORM_LAKE_URL": "s3://jaffle-lake/raw", "AWS_REGION": "us-east-1"}


def test_an_s3_endpoint_that_refuses_connections_gives_up_after_bounded_retries(tmp_path):
    port = _closed_port()
    assert_fails(
        data_platform(
            tmp_path,
            "run",
            **S3_LAKE,
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY=SECRET,
        ),
        tmp_path,
        1,
        rf"run: DATA_PLATFORM_LAKE_URL: cannot reach s3://jaffle-lake/raw at http://127\.0\.0\.1:"
        rf"{port} \(connection refused; gave up after 3 tries in \d+\.\d s\)",
        UNREACHABLE_SECONDS,
    )


@pytest.fixture(scope="module")
def s3_with_auth():
    """A moto S3 server checking credentials: keys unknown to its IAM are refused."""
    with s3_server(auth=True) as env:
        yield env


def test_wrong_s3_credentials_are_refused_at_once(tmp_path, s3_with_auth):
    assert_fails(
        data_platform(
            tmp_path,
            "run",
            **S3_LAKE,
            AWS_ENDPOINT_URL=s3_with_auth["AWS_ENDPOINT_URL"],
            AWS_ACCESS_KEY_ID="AKIAWRONGKEY",
            AWS_SECRET_ACCESS_KEY=SECRET,
        ),
        tmp_path,
        2,
        r"run: DATA_PLATFORM_LAKE_URL: s3://jaffle-lake/raw at http://127\.0\.0\.1:\d+ refused: "
        r"InvalidAccessKeyId: .* \(not retried\)",
        SETTINGS_SECONDS + 2,
    )


def test_a_missing_bucket_is_refused_at_once(tmp_path, s3_env):
    assert_fails(
        data_platform(
            tmp_path,
            "run",
            **{**s3_env, "AWS_SECRET_ACCESS_KEY": SECRET},
            DATA_PLATFORM_LAKE_URL="s3://no-such-bucket/raw",
        ),
        tmp_path,
        2,
        r"run: DATA_PLATFORM_LAKE_URL: s3://no-such-bucket/raw at http://127\.0\.0\.1:\d+ "
        r"refused: NoSuchBucket: .* \(not retried\)",
        SETTINGS_SECONDS + 2,
    )
