"""Where each dataset lives in the lake: pure functions, one per path kind.

Zones:

- ``landing/``: files as delivered by outside systems. Reference data arrives as one CSV per
  dataset (``landing/products/products.csv``); tweets arrive as one JSON Lines file per day
  (``landing/tweets/2018-09-01.jsonl``).
- ``raw/``: the platform's Parquet copy of every source, one file per daily partition
  (``raw/orders/date=2018-09-01/orders.parquet``) or one file for unpartitioned data
  (``raw/customers/customers.parquet``).
- ``quarantine/``: the rows a raw ingest held back, with their reasons, laid out as ``raw/``
  (``quarantine/orders/date=2018-09-01/orders.parquet``); a partition without quarantined
  rows has no file.
- ``manifests/``: what a run wrote, when it wrote too many files to list in its
  materialization: ``manifests/raw/orders/run-<run id>.json``, a JSON list of the files
  (path, rows, bytes, sha256).
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
