"""The text of alerts (pure; unit-tested): first lines that say what, which asset and
partition, since when and where to look in the Dagster UI. Times are UTC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from dagster import AssetKey

# Dagster's tags on a run (documented in Dagster's run retries guide).
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
MAX_RETRIES_TAG = "dagster/max_retries"
RETRY_NUMBER_TAG = "dagster/retry_number"
RETRY_ON_FAILURE_TAG = "dagster/retry_on_asset_or_op_failure"


def utc(at: dt.datetime | float) -> str:
    """``at`` (a datetime or a POSIX timestamp) as ``YYYY-MM-DD HH:MM UTC``."""
    moment = dt.datetime.fromtimestamp(at, dt.UTC) if isinstance(at, int | float) else at
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def partition_of(tags: Mapping[str, str]) -> str:
    """The partition (or ``start...end`` range) a run's tags name; ``""`` when unpartitioned."""
    if tags.get(PARTITION_TAG):
        return tags[PARTITION_TAG]
    if tags.get(RANGE_START_TAG):
        return f"{tags[RANGE_START_TAG]}...{tags.get(RANGE_END_TAG, '')}"
    return ""


def will_retry(tags: Mapping[str, str], default_max_retries: int, retries_enabled: bool) -> bool:
    """Whether Dagster's run retries will start another try of a failed run with ``tags``
    (its ``dagster/max_retries``, else the instance's default when retries are enabled)."""
    if not retries_enabled:
        return False
    if tags.get(RETRY_ON_FAILURE_TAG, "true").lower() == "false":
        return False  # an asset or op failure is not retried, and a step failed
    try:
        allowed = int(tags.get(MAX_RETRIES_TAG, default_max_retries))
        done = int(tags.get(RETRY_NUMBER_TAG, 0))
    except ValueError:
        return False
    return done < allowed


def run_link(ui_url: str, run_id: str) -> str:
    return f"{ui_url}/runs/{run_id}"


def asset_link(ui_url: str, key: AssetKey, view: str = "") -> str:
    path = "/".join(quote(part, safe="") for part in key.path)
    return f"{ui_url}/assets/{path}" + (f"?view={view}" if view else "")


def instigator_link(ui_url: str, location: str, kind: str, name: str) -> str:
    """The UI page of a sensor or schedule (``kind``: ``sensors`` or ``schedules``)."""
    return f"{ui_url}/locations/{location}/{kind}/{name}"


def where(assets: Sequence[str], partition: str) -> str:
    """``asset a, b (partition p)``: which assets and partition, for a first line."""
    shown = ", ".join(assets[:3]) + (f" and {len(assets) - 3} more" if len(assets) > 3 else "")
    text = f"asset {shown}" if assets else "no asset"
    return text + (f" (partition {partition})" if partition else "")


def first_line_of(text: str | None, limit: int = 160) -> str:
    """The first non-blank line of ``text``, at most ``limit`` characters."""
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def duration(seconds: float) -> str:
    """``45 s``, ``12 min`` or ``3.5 h``: a lapse for a first line."""
    if seconds < 120:
        return f"{round(seconds)} s"
    if seconds < 7200:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def recovery_line(what: str, since: str, count: int, now: dt.datetime) -> str:
    """The first line of a recovery: which incident, how long it lasted, how often it fired."""
    opened = dt.datetime.fromisoformat(since)
    lasted = duration(max(0.0, (now - opened).total_seconds()))
    return (
        f"RESOLVED after {lasted} ({count} failure{'s' if count != 1 else ''} since "
        f"{utc(opened)}): {what}"
    )
