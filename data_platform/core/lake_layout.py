"""Where each dataset lives in the lake: pure functions, one per path kind.

Zones:

- ``landing/``: files as delivered by outside systems. Reference data arrives as one CSV per
  dataset (``landing/products/products.csv``); tweets arrive as one JSON Lines file per day
  (``landing/tweets/2018-09-01.jsonl``).
  Web events published by the event broker's file backend arrive as one newline-delimited
  JSON file per publish, in a folder per UTC day of arrival, named by the arrival time
  (``landing/events/2026-12-02/20261202T104107123456Z-1a2b3c4d.jsonl``).
- ``raw/``: the platform's Parquet copy of every source, one file per daily partition
  (``raw/orders/date=2018-09-01/orders.parquet``) or one file for unpartitioned data
  (``raw/customers/customers.parquet``).
- ``quarantine/``: the rows a raw ingest held back, with their reasons, laid out as ``raw/``
  (``quarantine/orders/date=2018-09-01/orders.parquet``); a partition without quarantined
  rows has no file.
- ``manifests/``: what a run wrote, when it wrote too many files to list in its
  materialization: ``manifests/raw/orders/run-<run id>.json``, a JSON list of the files
  (path, rows, bytes, sha256). An event consumer's durable state (which landing event files
  it acknowledged) is under ``manifests/consumers/<consumer>/``.
"""

from __future__ import annotations

import datetime as dt
import re

LANDING = "landing"
RAW = "raw"
QUARANTINE = "quarantine"
MANIFESTS = "manifests"

_DAILY_FILE = re.compile(r"^landing/(?P<dataset>[a-z_]+)/(?P<day>\d{4}-\d{2}-\d{2})\.jsonl$")
_REFERENCE_FILE = re.compile(r"^landing/(?P<dataset>[a-z_]+)/(?P=dataset)\.csv$")


def landing_reference_path(dataset: str) -> str:
    """Landing path of a reference dataset's CSV, e.g. ``landing/products/products.csv``."""
    return f"{LANDING}/{dataset}/{dataset}.csv"


def landing_daily_path(dataset: str, day: dt.date | str) -> str:
    """Landing path of one day's JSON Lines file, e.g. ``landing/tweets/2018-09-01.jsonl``."""
    return f"{LANDING}/{dataset}/{_iso(day)}.jsonl"


def parse_landing_path(path: str) -> tuple[str, str | None] | None:
    """``(dataset, day or None)`` for a path laid out as a landing file, else ``None``; which
    datasets are expected there is the landing source's to say.

    >>> parse_landing_path("landing/tweets/2018-09-01.jsonl")
    ('tweets', '2018-09-01')
    >>> parse_landing_path("landing/products/products.csv")
    ('products', None)
    """
    if match := _DAILY_FILE.match(path):
        return (match["dataset"], match["day"]) if _is_date(match["day"]) else None
    if match := _REFERENCE_FILE.match(path):
        return match["dataset"], None
    return None


EVENTS_LANDING = f"{LANDING}/events"
_EVENT_FILE_TIME = "%Y%m%dT%H%M%S%fZ"


def landing_events_path(arrival: dt.datetime, token: str) -> str:
    """Landing path of one published batch of events that arrived at ``arrival`` (tz-aware),
    in the folder of its UTC day, e.g.
    ``landing/events/2026-12-02/20261202T104107123456Z-1a2b3c4d.jsonl``."""
    arrival = arrival.astimezone(dt.UTC)
    return f"{EVENTS_LANDING}/{arrival.date().isoformat()}/{arrival.strftime(_EVENT_FILE_TIME)}-{token}.jsonl"


def events_file_arrival(path: str) -> dt.datetime | None:
    """The arrival time (tz-aware UTC) in the name of a landing events file, or ``None`` when
    the name is not one :func:`landing_events_path` gives.

    >>> events_file_arrival("landing/events/2026-12-02/20261202T104107123456Z-1a2b.jsonl")
    datetime.datetime(2026, 12, 2, 10, 41, 7, 123456, tzinfo=datetime.timezone.utc)
    """
    stamp = path.rsplit("/", 1)[-1].split("-", 1)[0]
    try:
        return dt.datetime.strptime(stamp, _EVENT_FILE_TIME).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def consumer_state_path(consumer: str, name: str) -> str:
    """Where an event consumer keeps its durable state file ``name``, e.g.
    ``manifests/consumers/raw_web_events/acked/2026-12-02.json``."""
    return f"{MANIFESTS}/consumers/{consumer}/{name}"


def run_manifest_path(table: str, run_id: str) -> str:
    """Manifest of the raw files one run wrote for ``table``, e.g.
    ``manifests/raw/orders/run-<run id>.json``."""
    return f"{MANIFESTS}/{RAW}/{table}/run-{run_id}.json"


def raw_partition_path(table: str, day: dt.date | str) -> str:
    """Raw-zone Parquet path of one daily partition of ``table``."""
    return f"{RAW}/{table}/date={_iso(day)}/{table}.parquet"


def raw_table_path(table: str) -> str:
    """Raw-zone Parquet path of an unpartitioned ``table``."""
    return f"{RAW}/{table}/{table}.parquet"


def quarantine_partition_path(table: str, day: dt.date | str) -> str:
    """Quarantine-zone Parquet path of one daily partition of ``table``."""
    return f"{QUARANTINE}/{table}/date={_iso(day)}/{table}.parquet"


def quarantine_table_path(table: str) -> str:
    """Quarantine-zone Parquet path of an unpartitioned ``table``."""
    return f"{QUARANTINE}/{table}/{table}.parquet"


def _iso(day: dt.date | str) -> str:
    return day.isoformat() if isinstance(day, dt.date) else dt.date.fromisoformat(day).isoformat()


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True
