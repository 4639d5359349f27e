"""The demo landing zone: jafgen's reference CSVs as delivered files, its tweets by day.

Reads ``raw_<dataset>.csv`` for each reference dataset (copied to
``landing/<dataset>/<dataset>.csv`` as is) and ``raw_tweets.csv`` (one JSON Lines file per
``tweeted_at`` day). A file is written only when its content differs, so seeding the same
input twice gives the landing sensor no new file version. Raises :class:`SeedError` naming the
file, line and column of a tweet without a valid time.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

from data_platform.core.lake_layout import landing_daily_path, landing_reference_path
from data_platform.core.sources import Resources, SeedError, SeedSummary
from data_platform.sources.landing.datasets import DAILY, REFERENCE, TWEETS

SEED_FILES = tuple(f"raw_{d.name}.csv" for d in (*REFERENCE, *DAILY))


def seed(csv_dir: Path, resources: Resources, summary: SeedSummary) -> None:
    """Write the landing files of the jafgen folder ``csv_dir`` to ``resources["lake"]``."""
    lake = resources["lake"]
    for dataset in REFERENCE:
        data = (csv_dir / f"raw_{dataset.name}.csv").read_bytes()
        _put(lake, landing_reference_path(dataset.name), data, summary)
    for day, lines in sorted(_tweets_by_day(csv_dir / f"raw_{TWEETS.name}.csv").items()):
        _put(lake, landing_daily_path(TWEETS.name, day), "".join(lines).encode(), summary)


def _tweets_by_day(path: Path) -> dict[dt.date, list[str]]:
    fields = TWEETS.source_schema.names
    by_day: dict[dt.date, list[tuple]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for line, record in enumerate(csv.DictReader(handle), start=2):
            try:
                day = dt.datetime.fromisoformat(record[TWEETS.event_time]).date()
            except (KeyError, TypeError, ValueError) as error:
                raise SeedError(f"{path}, line {line}, column tweeted_at: {error}") from error
            by_day[day].append((record[TWEETS.event_time], record["id"], record))
    # Sorted so the same input always gives the same bytes (and the same file version).
    return {
        day: [
            json.dumps({k: r[k] for k in fields}, ensure_ascii=False) + "\n"
            for _, _, r in sorted(rows, key=lambda t: (t[0], t[1]))
        ]
        for day, rows in by_day.items()
    }


def _put(lake, path: str, data: bytes, summary: SeedSummary) -> None:
    if lake.exists(path) and lake.read_bytes(path) == data:
        summary.files_unchanged += 1
        return
    lake.write_bytes(path, data)
    summary.files_written.append(path)
