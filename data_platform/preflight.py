"""Pre-flight: before a seed or a run starts, is the state folder ready and can the platform
reach every server its settings name?

- :func:`require_manifest`: the dbt manifest ``data-platform prepare`` writes (a path check,
  without loading dagster-dbt);
- :func:`require_seeded_file`: a SQLite shop database that was never seeded;
- :func:`check_servers`: the shop database when it is a server and the warehouse when it is
  PostgreSQL (connect, ``select 1``), the lake when it is on S3 (list one key of its bucket
  and prefix), the event broker when it is NATS (connect, the server's ``INFO`` greeting);
  all at once, each bounded.

Transient faults (refused connections, timeouts, resets: :func:`core.errors.is_transient`)
are retried with exponential backoff, at most :data:`TRIES` tries within :data:`MAX_SECONDS`;
permanent ones (credentials refused, a missing database, role or bucket) fail at the first.

Exit codes (see :mod:`data_platform.cli`): :class:`Unreachable` is 1 (the work could not be
done now; the same command may succeed later), :class:`Refused` and :class:`NotReady` are 2
(a setting, the server's configuration or the state folder must change first).

Imports no Dagster: the command line runs this before loading the code location.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import backoff
import botocore.session
import sqlalchemy as sa
from botocore.config import Config

from data_platform.core import urls
from data_platform.core.errors import PlatformError, is_transient, one_line, redact
from data_platform.core.settings import (
    AWS_ACCESS_KEY_ID,
    AWS_ENDPOINT_URL,
    AWS_SECRET_ACCESS_KEY,
    DBT_PROJECT_DIR,
    EVENTS_URL,
    LAKE_URL,
    SHOP_DB_URL,
    WAREHOUSE_URL,
    Settings,
)

TRIES = 3
MAX_SECONDS = 10.0  # per server; the servers are checked at the same time
CONNECT_TIMEOUT = 3  # seconds, per try
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
SEED_HINT = "run `data-platform seed --years 1` (or `data-platform seed --from-csv DIR`) first"

_FATAL = re.compile(r"FATAL:\s+(?P<reason>.+)")


class NotReady(PlatformError):
    """The state folder lacks what a command needs (the dbt manifest, seeded sources)."""

    exit_code = 2


class Unreachable(PlatformError):
    """A server did not answer within the bounded retries (down, a wrong host or port)."""

    exit_code = 1


class Refused(PlatformError):
    """A server answered no: credentials refused, a database, role or bucket missing."""

    exit_code = 2


@dataclass(frozen=True)
class Check:
    """One server to reach: the setting naming it, its address as shown (no password) and the
    probe, which raises the driver's error when the server cannot be used."""

    setting: str
    address: str
    probe: Callable[[], None]


def require_manifest() -> None:
    """Raises :class:`NotReady` when ``dbt_project/target/manifest.json`` is missing."""
    if not MANIFEST.is_file():
        raise NotReady(
            f"no dbt manifest at {MANIFEST}: run `data-platform prepare` first "
            "(it parses the dbt project the dbt assets are built from)"
        )


def require_seeded_file(settings: Settings) -> None:
    """Raises :class:`NotReady` when the shop database is a SQLite file that does not exist
    (a state folder never seeded); other databases are asked after connecting."""
    url = sa.engine.make_url(settings.shop_db_url)
    if url.drivername in urls.SQLITE_DRIVERS and not Path(url.database).expanduser().exists():
        raise NotReady(f"no shop database at {url.database} ({SHOP_DB_URL}): {SEED_HINT}")


def checks(settings: Settings, environ: Mapping[str, str]) -> list[Check]:
    """The servers ``settings`` name, in the order their failures are reported."""
    found = []
    shop_db = sa.engine.make_url(settings.shop_db_url)
    if shop_db.drivername not in urls.SQLITE_DRIVERS:
        found.append(Check(SHOP_DB_URL, _address(settings.shop_db_url), _database(shop_db)))
    warehouse = settings.warehouse
    if warehouse.server is not None:
        found.append(
            Check(
                WAREHOUSE_URL,
                _address(settings.warehouse_url),
                _database(sa.engine.make_url(warehouse.sqlalchemy_url())),
            )
        )
    lake = urls.lake_location(settings.lake_url)
    if lake.bucket is not None:
        endpoint = environ.get(AWS_ENDPOINT_URL) or None
        where = f"{settings.lake_url} at {endpoint or 'the AWS default endpoint'}"
        found.append(Check(LAKE_URL, _address(where), _bucket(lake, environ)))
    if settings.events_url:
        found.append(Check(EVENTS_URL, _address(settings.events_url), _nats(settings.events_url)))
    return found


def check_servers(settings: Settings, environ: Mapping[str, str], only: str | None = None) -> None:
    """Reach every server of :func:`checks` (``only``: the one of that setting, e.g.
    ``DATA_PLATFORM_WAREHOUSE_URL``), at the same time; raises :class:`Unreachable` or
    :class:`Refused` (the first failing server's, with one line for each of the others)."""
    todo = [c for c in checks(settings, environ) if only is None or c.setting == only]
    if not todo:
        return
    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        failures = [f for f in pool.map(_attempt, todo) if f is not None]
    if failures:
        first = failures[0]
        message = "\n".join(str(f) for f in failures)
        raise type(first)(message)


def _attempt(check: Check) -> PlatformError | None:
    """Run ``check.probe`` with bounded backoff; the failure as an error to raise, or None."""
    given_up: dict = {}
    probe = backoff.on_exception(
        backoff.expo,
        Exception,
        max_tries=TRIES,
        max_time=MAX_SECONDS,
        giveup=lambda error: not is_transient(error),
        on_giveup=given_up.update,
        logger=None,  # the failure is reported once, below, not per try
        jitter=None,  # waits of 1 s, then 2 s: a blip passes, a dead server fails in seconds
    )(check.probe)
    started = time.monotonic()
    try:
        probe()
    # Whatever the driver raises is the server's answer, classified by is_transient.
    except Exception as error:  # noqa: BLE001
        cause = redact(_cause(error))
        if not is_transient(error):
            return Refused(f"{check.setting}: {check.address} refused: {cause} (not retried)")
        tries = given_up.get("tries", TRIES)
        seconds = given_up.get("elapsed", time.monotonic() - started)
        return Unreachable(
            f"{check.setting}: cannot reach {check.address} "
            f"({cause}; gave up after {tries} tries in {seconds:.1f} s)"
        )
    return None


def _address(url: str) -> str:
    return redact(url)


def _cause(error: BaseException) -> str:
    """What the server or driver said, in a few words."""
    chain = _chain(error)
    everything = " ".join(str(e) for e in chain).lower()
    if "connection refused" in everything:
        return "connection refused"
    if "timed out" in everything or "timeout expired" in everything:
        return f"no answer within {CONNECT_TIMEOUT} s"
    for current in chain:
        fatal = _FATAL.search(str(current))
        if fatal:  # PostgreSQL's reason: role or database missing, password refused
            return fatal.group("reason").strip()
        response = getattr(current, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code"):
            # An S3 error: its code says most (InvalidAccessKeyId, NoSuchBucket, AccessDenied).
            details = response["Error"]
            return f"{details['Code']}: {details.get('Message', '')}".rstrip(": ")
    # SQLAlchemy wraps the driver's error; the driver's says it without the statement.
    return one_line(getattr(error, "orig", None) or error)


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and what caused it, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _database(url: sa.engine.URL) -> Callable[[], None]:
    engine = sa.create_engine(
        url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT}
    )

    def probe() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))

    return probe


def _nats(url: str) -> Callable[[], None]:
    # The NATS protocol starts with the server's INFO line: enough to know a NATS server
    # answers, without the client library's event loop (JetStream itself is checked by the
    # broker resource, which creates the stream).
    parts = urllib.parse.urlsplit(url)

    def probe() -> None:
        with socket.create_connection(
            (parts.hostname, parts.port or 4222), timeout=CONNECT_TIMEOUT
        ) as connection:
            greeting = connection.recv(4)
        if greeting != b"INFO":
            raise ConnectionError(f"not a NATS server (it answered {greeting!r})")

    return probe


def _bucket(lake: urls.LakeLocation, environ: Mapping[str, str]) -> Callable[[], None]:
    # The keys and region of ``environ`` (unset ones: botocore's usual chain, as s3fs's).
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=environ.get(AWS_ENDPOINT_URL) or None,
        region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
        aws_access_key_id=environ.get(AWS_ACCESS_KEY_ID) or None,
        aws_secret_access_key=environ.get(AWS_SECRET_ACCESS_KEY) or None,
        aws_session_token=environ.get("AWS_SESSION_TOKEN") or None,
        # One attempt per try: the retries are ours, bounded above.
        config=Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=CONNECT_TIMEOUT,
            retries={"mode": "standard", "total_max_attempts": 1},
        ),
    )

    def probe() -> None:
        client.list_objects_v2(Bucket=lake.bucket, Prefix=lake.prefix, MaxKeys=1)

    return probe
