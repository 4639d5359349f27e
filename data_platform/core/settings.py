"""Where the platform keeps its state and which backends it talks to: one typed object.

Every setting is an environment variable, read once by :meth:`Settings.from_environ` into a
frozen :class:`Settings` (defaults, validation and the derived dbt profile values in this one
module) and passed to whatever needs it. Nothing here writes to ``os.environ``: importing this
module, or any other of the platform, changes nothing in the process.

Settings (name: default):

- ``DATA_PLATFORM_HOME``: ``<project>/.data``; the state folder.
- ``DATA_PLATFORM_LAKE_URL``: ``$DATA_PLATFORM_HOME/lake``; root of the lake (``landing/``,
  ``raw/`` and ``quarantine/`` zones), a folder or ``s3://bucket/prefix``.
- ``DATA_PLATFORM_WAREHOUSE_URL``: ``duckdb:///$DATA_PLATFORM_HOME/warehouse.duckdb``; the
  warehouse engine and where it is (``postgresql://user:password@host:port/database`` for
  PostgreSQL). It also picks the dbt target of the same engine (see :meth:`dbt_profile_env`).
- ``DATA_PLATFORM_SHOP_DB_URL``: ``sqlite:///$DATA_PLATFORM_HOME/shop.db``; any SQLAlchemy URL.
- ``DATA_PLATFORM_PARTITION_START``: the first day of the seeded history, as the last
  ``data-platform seed`` recorded it in ``$DATA_PLATFORM_HOME/history.json`` (see
  :mod:`data_platform.core.history`); without that file ``2018-09-01`` (jafgen's epoch). The
  first daily partition of every partitioned asset. Set explicitly, it wins.
- ``DAGSTER_HOME``: ``$DATA_PLATFORM_HOME/dagster``; Dagster's instance state.
- ``DATA_PLATFORM_DAGSTER_CONFIG``: ``deploy/dagster.yaml``; the instance configuration copied
  to ``$DAGSTER_HOME`` by ``data-platform prepare`` (``deploy/dagster.production.yaml`` for
  PostgreSQL storage); a path relative to the project root, or absolute.
- ``DATA_PLATFORM_RUN_RETENTION_DAYS``: ``90``; runs (and their event logs) older than this are
  deleted by the ``run_retention`` schedule.
- ``DATA_PLATFORM_QUARANTINE_MAX_PERCENT``: ``10``; the largest share (percent, integer 0-100)
  of a raw partition's rows that may be quarantined while the rest loads.
- ``DATA_PLATFORM_EVENTS_ALLOWED_LATENESS_MINUTES``: ``120``; a web event published more than
  this many minutes after its event time is quarantined as ``late`` (whole number, at least 0).
- ``DATA_PLATFORM_GIT_URL`` (unset) and ``DATA_PLATFORM_GIT_BRANCH`` (``main``): when the URL
  is set, the code references of every asset link to that repository in the Dagster UI.
- ``DATA_PLATFORM_EVENTS_URL``: empty; where the shop's web events are published and consumed
  (:class:`~data_platform.resources.events.EventBrokerResource`). Empty: newline-delimited JSON
  files in the lake's ``landing/events/``; ``nats://host:port``: a NATS JetStream server.
- ``DATA_PLATFORM_EVENTS_STREAM``: ``SHOP_EVENTS``; the JetStream stream holding the events (a
  NATS stream name: letters, digits, ``_`` and ``-``, at most 255).
- ``DATA_PLATFORM_EVENTS_ACK_WAIT_SECONDS``: ``300``; how long (seconds, at least 1) a message
  fetched and not acknowledged waits before the broker delivers it again.
- ``DATA_PLATFORM_ANALYST_ROLE``: ``analyst``; ``DATA_PLATFORM_ENGINEER_ROLE``: ``engineer``;
  the PostgreSQL group roles ``data-platform grants`` manages on a server warehouse (see
  :mod:`data_platform.core.warehouse_grants`): lower-case identifiers (letters, digits, ``_``,
  at most 63), different from each other and from the warehouse URL's user.
- ``DATA_PLATFORM_ALERT_SMTP_URL`` (unset): the alerts' mail server,
  ``smtp://[user:password@]host[:port]`` (port 25 when left out; STARTTLS when the server offers
  it) or ``smtps://...`` (TLS from the start, port 465 when left out).
- ``DATA_PLATFORM_ALERT_EMAIL_TO`` (unset): comma-separated recipients of the alert mails;
  ``DATA_PLATFORM_ALERT_EMAIL_FROM`` (``data-platform@localhost``): their sender. Mail is sent
  when the SMTP URL and at least one recipient are set.
- ``DATA_PLATFORM_ALERT_WEBHOOK_URL`` (unset): a Slack-compatible incoming webhook
  (``http(s)://...``) the alerts are posted to as ``{"text": ...}``.
- ``DATA_PLATFORM_UI_URL``: ``http://127.0.0.1:3000``; the Dagster UI the alerts link to.
- ``DATA_PLATFORM_PSEUDONYM_KEY`` (unset): the secret the marts' pseudonyms are keyed with
  (HMAC-SHA256, :mod:`data_platform.core.pseudonyms`), at least 16 characters; unset, a
  random key made once in ``$DATA_PLATFORM_HOME/pseudonym.key`` (owner-readable only). A new
  key gives every customer a new pseudonym: rebuild the daily facts in full after changing it.
- With the lake on S3, the AWS settings it reads are checked too: ``AWS_ENDPOINT_URL``
  (``http(s)://host[:port]``), ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (both or
  neither).

Every value is checked here, before anything is loaded or connected: URLs strictly (scheme,
host, port 1-65535, database or path; a bare path that looks like a mistyped URL is refused),
numbers in their range, the folders the platform creates creatable and writable. A value the
platform cannot use raises :class:`SettingsError` (a ``ValueError`` and a
:class:`~data_platform.core.errors.PlatformError` with exit code 2) naming the variable, the
expected form and an example, never a password. Imports only the standard library and
SQLAlchemy's URL parser, so the command line validates in well under a second.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from data_platform.core import urls
from data_platform.core.errors import PlatformError
from data_platform.core.history import read_history
from data_platform.core.pseudonyms import load_or_create_key
from data_platform.core.warehouse_grants import ROLE_NAME
from data_platform.core.warehouse_url import WarehouseLocation, parse_warehouse_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# jafgen's simulation starts on this day (jafgen.curves.Day.EPOCH).
JAFGEN_EPOCH = "2018-09-01"

HOME = "DATA_PLATFORM_HOME"
LAKE_URL = "DATA_PLATFORM_LAKE_URL"
WAREHOUSE_URL = "DATA_PLATFORM_WAREHOUSE_URL"
SHOP_DB_URL = "DATA_PLATFORM_SHOP_DB_URL"
PARTITION_START = "DATA_PLATFORM_PARTITION_START"
DAGSTER_HOME = "DAGSTER_HOME"
DAGSTER_CONFIG = "DATA_PLATFORM_DAGSTER_CONFIG"
RUN_RETENTION_DAYS = "DATA_PLATFORM_RUN_RETENTION_DAYS"
QUARANTINE_MAX_PERCENT = "DATA_PLATFORM_QUARANTINE_MAX_PERCENT"
ALLOWED_LATENESS_MINUTES = "DATA_PLATFORM_EVENTS_ALLOWED_LATENESS_MINUTES"
# Dagster's own, which headless runs and make set (data_platform/headless.py): Dagster reads
# it with a bare int() when it writes the first events, long after start, so it is checked
# here with the platform's settings.
EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE"
EVENTS_URL = "DATA_PLATFORM_EVENTS_URL"
EVENTS_STREAM = "DATA_PLATFORM_EVENTS_STREAM"
EVENTS_ACK_WAIT_SECONDS = "DATA_PLATFORM_EVENTS_ACK_WAIT_SECONDS"
GIT_URL = "DATA_PLATFORM_GIT_URL"
ANALYST_ROLE = "DATA_PLATFORM_ANALYST_ROLE"
ENGINEER_ROLE = "DATA_PLATFORM_ENGINEER_ROLE"
GIT_BRANCH = "DATA_PLATFORM_GIT_BRANCH"
ALERT_SMTP_URL = "DATA_PLATFORM_ALERT_SMTP_URL"
ALERT_EMAIL_TO = "DATA_PLATFORM_ALERT_EMAIL_TO"
ALERT_EMAIL_FROM = "DATA_PLATFORM_ALERT_EMAIL_FROM"
ALERT_WEBHOOK_URL = "DATA_PLATFORM_ALERT_WEBHOOK_URL"
UI_URL = "DATA_PLATFORM_UI_URL"
PSEUDONYM_KEY = "DATA_PLATFORM_PSEUDONYM_KEY"
PSEUDONYM_KEY_MIN_LENGTH = 16
# Outputs, not settings: what dbt_project/profiles.yml reads (see Settings.dbt_profile_env).
DBT_TARGET = "DATA_PLATFORM_DBT_TARGET"

DEFAULT_RUN_RETENTION_DAYS = 90
DEFAULT_QUARANTINE_MAX_PERCENT = 10
DEFAULT_ALLOWED_LATENESS_MINUTES = 120
DEFAULT_EVENTS_STREAM = "SHOP_EVENTS"
DEFAULT_EVENTS_ACK_WAIT_SECONDS = 300


# The AWS settings the S3 lake reads (through s3fs and botocore), checked when the lake is on S3.
AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
AWS_ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
AWS_SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"

SHOP_DB_DRIVERS = urls.SQLITE_DRIVERS | urls.POSTGRES_DRIVERS
SHOP_DB_EXAMPLE = "postgresql://shop@127.0.0.1:5432/shop"


class SettingsError(PlatformError, ValueError):
    """A setting has a value the platform cannot use; the message names the variable, the
    expected form and an example, never a secret. The command line exits with 2."""

    exit_code = 2


def defaults(home: Path) -> dict[str, str]:
    """The default value of every setting for a given state folder (pure; unit-tested)."""
    return {
        HOME: str(home),
        LAKE_URL: str(home / "lake"),
        WAREHOUSE_URL: f"duckdb:///{home / 'warehouse.duckdb'}",
        SHOP_DB_URL: f"sqlite:///{home / 'shop.db'}",
        PARTITION_START: JAFGEN_EPOCH,
        DAGSTER_HOME: str(home / "dagster"),
        DAGSTER_CONFIG: "deploy/dagster.yaml",
        RUN_RETENTION_DAYS: str(DEFAULT_RUN_RETENTION_DAYS),
        QUARANTINE_MAX_PERCENT: str(DEFAULT_QUARANTINE_MAX_PERCENT),
        ALLOWED_LATENESS_MINUTES: str(DEFAULT_ALLOWED_LATENESS_MINUTES),
        GIT_URL: "",
        GIT_BRANCH: "main",
        EVENTS_URL: "",
        EVENTS_STREAM: DEFAULT_EVENTS_STREAM,
        EVENTS_ACK_WAIT_SECONDS: str(DEFAULT_EVENTS_ACK_WAIT_SECONDS),
        ANALYST_ROLE: "analyst",
        ENGINEER_ROLE: "engineer",
        ALERT_SMTP_URL: "",
        ALERT_EMAIL_TO: "",
        ALERT_EMAIL_FROM: "data-platform@localhost",
        ALERT_WEBHOOK_URL: "",
        UI_URL: "http://127.0.0.1:3000",
        PSEUDONYM_KEY: "",
    }


@dataclass(frozen=True)
class Settings:
    """Every setting, typed and validated; ``explicit`` names those set in the environment."""

    home: Path
    lake_url: str
    warehouse_url: str
    shop_db_url: str
    partition_start: dt.date
    dagster_home: Path
    dagster_config: Path
    run_retention_days: int
    quarantine_max_percent: int
    allowed_lateness_minutes: int
    git_url: str | None
    git_branch: str
    events_url: str = ""  # "" = files in the lake's landing/events/
    events_stream: str = DEFAULT_EVENTS_STREAM
    events_ack_wait_seconds: int = DEFAULT_EVENTS_ACK_WAIT_SECONDS
    analyst_role: str = "analyst"  # PostgreSQL group roles of `data-platform grants`
    engineer_role: str = "engineer"
    alert_smtp_url: str = ""  # "" = no mail
    alert_email_to: tuple[str, ...] = ()
    alert_email_from: str = "data-platform@localhost"
    alert_webhook_url: str = ""  # "" = no webhook
    ui_url: str = "http://127.0.0.1:3000"
    dagster_dev: bool = False  # loaded by dagster dev or dg dev (DAGSTER_IS_DEV_CLI)
    pseudonym_key: str = field(default="", repr=False)  # a secret: never in a repr
    explicit: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings of ``environ`` (default: the process environment;
        empty values count as unset). Raises :class:`SettingsError`."""
        environ = os.environ if environ is None else environ
        home_text = environ.get(HOME) or str(PROJECT_ROOT / ".data")
        home = Path(home_text).expanduser().resolve()
        values = defaults(home)
        explicit = frozenset(name for name in values if environ.get(name))
        values.update({name: environ[name] for name in explicit})
        warehouse_url = values[WAREHOUSE_URL]
        with _naming(WAREHOUSE_URL):
            location = parse_warehouse_url(warehouse_url)
        with _naming(SHOP_DB_URL):
            shop_db = urls.database_url(values[SHOP_DB_URL], SHOP_DB_DRIVERS, SHOP_DB_EXAMPLE)
        with _naming(LAKE_URL):
            lake = urls.lake_location(values[LAKE_URL])
        if lake.bucket is not None:
            _check_aws(environ)
        with _naming(HOME):
            _check_writable(home)
        if PARTITION_START not in explicit:
            values[PARTITION_START] = _recorded_start(home) or values[PARTITION_START]
        dagster_home = Path(values[DAGSTER_HOME]).expanduser().resolve()
        with _naming(DAGSTER_HOME):
            _check_writable(dagster_home)
        # The files the platform creates: their folders must be creatable.
        for name, local in (
            (WAREHOUSE_URL, location.path),
            (SHOP_DB_URL, shop_db.database if shop_db.drivername in urls.SQLITE_DRIVERS else None),
        ):
            if local and not local.startswith("md:"):  # md: a MotherDuck database
                with _naming(name):
                    _check_writable(Path(local).expanduser().resolve().parent)
        if lake.folder is not None:
            with _naming(LAKE_URL):
                _check_writable(Path(lake.folder).expanduser().resolve())
        config = Path(values[DAGSTER_CONFIG])
        config = config if config.is_absolute() else PROJECT_ROOT / config
        if not config.is_file():
            moved = PROJECT_ROOT / "deploy" / config.name
            hint = f" (moved: {DAGSTER_CONFIG}=deploy/{config.name})" if moved.is_file() else ""
            raise SettingsError(
                f"{DAGSTER_CONFIG}: no instance configuration at {config}{hint}; expected a "
                f"file, absolute or relative to {PROJECT_ROOT}, e.g. deploy/dagster.yaml"
            )
        if values[GIT_URL]:
            with _naming(GIT_URL):
                urls.web_url(values[GIT_URL])
        if values[EVENTS_URL]:
            with _naming(EVENTS_URL):
                urls.nats_url(values[EVENTS_URL])
        with _naming(EVENTS_STREAM):
            urls.nats_stream_name(values[EVENTS_STREAM])
        for name in (ANALYST_ROLE, ENGINEER_ROLE):
            _role_name(name, values[name])
        if values[ANALYST_ROLE] == values[ENGINEER_ROLE]:
            raise SettingsError(
                f"{ANALYST_ROLE} and {ENGINEER_ROLE} are both {values[ANALYST_ROLE]!r}: expected "
                "two different roles, e.g. analyst and engineer"
            )
        if values[ALERT_SMTP_URL]:
            with _naming(ALERT_SMTP_URL):
                urls.smtp_url(values[ALERT_SMTP_URL])
        recipients = _addresses(ALERT_EMAIL_TO, values[ALERT_EMAIL_TO])
        _addresses(ALERT_EMAIL_FROM, values[ALERT_EMAIL_FROM])
        for name in (ALERT_WEBHOOK_URL, UI_URL):
            if values[name]:
                with _naming(name):
                    urls.web_url(values[name], secret_path=name == ALERT_WEBHOOK_URL)
        if values[PSEUDONYM_KEY] and len(values[PSEUDONYM_KEY]) < PSEUDONYM_KEY_MIN_LENGTH:
            # Never the value itself in the message: it is a secret.
            raise SettingsError(
                f"{PSEUDONYM_KEY}: {len(values[PSEUDONYM_KEY])} characters, expected at least "
                f"{PSEUDONYM_KEY_MIN_LENGTH} (a random secret, e.g. `openssl rand -hex 32`)"
            )
        if environ.get(EVENT_BATCH_SIZE):
            _integer(EVENT_BATCH_SIZE, environ[EVENT_BATCH_SIZE], 0, None)
        return cls(
            home=home,
            lake_url=values[LAKE_URL],
            warehouse_url=warehouse_url,
            shop_db_url=values[SHOP_DB_URL],
            partition_start=_date(PARTITION_START, values[PARTITION_START]),
            dagster_home=dagster_home,
            dagster_config=config,
            run_retention_days=_integer(RUN_RETENTION_DAYS, values[RUN_RETENTION_DAYS], 1, None),
            quarantine_max_percent=_integer(
                QUARANTINE_MAX_PERCENT, values[QUARANTINE_MAX_PERCENT], 0, 100
            ),
            allowed_lateness_minutes=_integer(
                ALLOWED_LATENESS_MINUTES, values[ALLOWED_LATENESS_MINUTES], 0, None
            ),
            git_url=values[GIT_URL] or None,
            git_branch=values[GIT_BRANCH],
            events_url=values[EVENTS_URL],
            events_stream=values[EVENTS_STREAM],
            events_ack_wait_seconds=_integer(
                EVENTS_ACK_WAIT_SECONDS, values[EVENTS_ACK_WAIT_SECONDS], 1, None
            ),
            analyst_role=values[ANALYST_ROLE],
            engineer_role=values[ENGINEER_ROLE],
            alert_smtp_url=values[ALERT_SMTP_URL],
            alert_email_to=recipients,
            alert_email_from=values[ALERT_EMAIL_FROM],
            alert_webhook_url=values[ALERT_WEBHOOK_URL],
            ui_url=values[UI_URL].rstrip("/"),
            dagster_dev=bool(environ.get("DAGSTER_IS_DEV_CLI")),
            pseudonym_key=values[PSEUDONYM_KEY],
            explicit=explicit,
        )

    @property
    def pseudonym_key_file(self) -> Path:
        """Where the pseudonym key is kept when ``DATA_PLATFORM_PSEUDONYM_KEY`` is unset."""
        return self.home / "pseudonym.key"

    def pseudonym_secret(self) -> bytes:
        """The pseudonym key: the setting's, else the key file's (made when missing). Raises
        ``OSError`` when the file cannot be read or made."""
        if self.pseudonym_key:
            return self.pseudonym_key.encode()
        return load_or_create_key(self.pseudonym_key_file)

    @property
    def warehouse(self) -> WarehouseLocation:
        return parse_warehouse_url(self.warehouse_url)

    def dbt_profile_env(self) -> dict[str, str]:
        """The variables ``dbt_project/profiles.yml`` reads (see :func:`dbt_profile_env`)."""
        return dbt_profile_env(self.warehouse_url)

    @property
    def dbt_executable(self) -> str:
        """dbt beside this interpreter (the platform runs without an activated virtualenv:
        ``.venv/bin/data-platform``, ``dg dev`` from make), else ``dbt`` on PATH."""
        beside = Path(sys.executable).parent / "dbt"
        return str(beside) if beside.exists() else "dbt"


def dbt_profile_env(warehouse_url: str) -> dict[str, str]:
    """The variables ``dbt_project/profiles.yml`` reads for a warehouse URL: the dbt target of
    its engine and how to reach it, and dbt's telemetry switch (pure; unit-tested). Derived,
    never set by hand. Raises ``ValueError`` for a URL of an unsupported engine."""
    location = parse_warehouse_url(warehouse_url)
    return {DBT_TARGET: location.dbt_target, **location.dbt_env(), "DO_NOT_TRACK": "1"}


def _role_name(name: str, text: str) -> None:
    if not ROLE_NAME.fullmatch(text):
        raise SettingsError(
            f"{name}={text!r}: expected a lower-case PostgreSQL role name (a letter or _, then "
            f"letters, digits or _, at most 63), e.g. {name}=analyst"
        )


def _addresses(name: str, text: str) -> tuple[str, ...]:
    """The comma-separated mail addresses of ``text`` (``local@domain`` each, blanks dropped)."""
    found = tuple(part.strip() for part in text.split(",") if part.strip())
    for address in found:
        local, at, domain = address.partition("@")
        if not (local and at and domain) or any(c.isspace() for c in address):
            raise SettingsError(
                f"{name}={text!r}: expected comma-separated mail addresses, e.g. "
                f"{name}=oncall@example.com,data@example.com"
            )
    return found


def _integer(name: str, text: str, low: int, high: int | None) -> int:
    bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
    example = min(max(low, 10), high) if high is not None else max(low, 90)
    expected = f"expected a whole number {bounds}, e.g. {name}={example}"
    try:
        value = int(text.strip())
    except ValueError:
        raise SettingsError(f"{name}={text!r}: {expected}") from None
    if value < low or (high is not None and value > high):
        raise SettingsError(f"{name}={text!r}: {expected}")
    return value


def _date(name: str, text: str) -> dt.date:
    expected = f"expected a date YYYY-MM-DD, e.g. {name}={JAFGEN_EPOCH}"
    try:
        value = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise SettingsError(f"{name}={text!r}: {expected}") from None
    if value > dt.datetime.now(dt.UTC).date():
        raise SettingsError(f"{name}={text!r} is in the future: {expected}")
    return value


def _recorded_start(home: Path) -> str | None:
    """The first day of the history recorded in ``home``, as ISO text, or ``None``; a day
    after today (a seed of dates in the future, as given) gives today, so a state folder stays
    usable. Raises :class:`SettingsError` for a file that cannot be read."""
    try:
        recorded = read_history(home)
    except ValueError as error:
        raise SettingsError(f"{PARTITION_START} (default): {error}") from None
    if recorded is None:
        return None
    return min(recorded.first_day, dt.datetime.now(dt.UTC).date()).isoformat()


@contextmanager
def _naming(name: str) -> Iterator[None]:
    """Turn a parser's ``ValueError`` into a :class:`SettingsError` naming the variable."""
    try:
        yield
    except SettingsError:
        raise
    except ValueError as error:
        # The parsers quote values through urls.shown (passwords as ***) already.
        raise SettingsError(f"{name}: {error}") from None


def _check_writable(path: Path) -> None:
    """``path`` is, or can be created as, a folder this process writes in; raises
    ``ValueError`` naming the first existing part that stops it."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{existing} is a file, not a folder: expected a folder path")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "create" if existing != path else "write in"
        raise ValueError(f"cannot {what} {path}: {existing} is not writable by this user")


def _check_aws(environ: Mapping[str, str]) -> None:
    """The AWS settings of an S3 lake: an endpoint of the right form, both halves of a key."""
    if environ.get(AWS_ENDPOINT_URL):
        with _naming(AWS_ENDPOINT_URL):
            urls.http_endpoint(environ[AWS_ENDPOINT_URL])
    given = [n for n in (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) if environ.get(n)]
    if len(given) == 1:
        missing = AWS_SECRET_ACCESS_KEY if given == [AWS_ACCESS_KEY_ID] else AWS_ACCESS_KEY_ID
        raise SettingsError(
            f"{missing}: not set while {given[0]} is: set both (an access key and its secret), "
            "or neither to use the AWS credential chain (profile, instance role)"
        )
