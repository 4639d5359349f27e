"""The demo landing zone: jafgen's reference CSVs as delivered files, its tweets by day.

Reads ``raw_<dataset>.csv`` for each reference dataset (copied to
``landing/<dataset>/<dataset>.csv`` as is) and ``raw_tweets.csv`` (one JSON Lines file per
``tweeted_at`` day), every file checked before any is written: read strictly against its
dataset's contract (see :func:`~data_platform.loading.file_formats.read_csv_strictly`), so a
file a run could not read, or a value that does not parse, raises :class:`SeedError` naming
file, line and column. A tweet without ``tweeted_at`` is refused too: its time decides its
file. An empty field of a tweet is ``null`` in its JSON line, never ``"None"``.

A file is written only when its content differs, so seeding the same input twice gives the
landing sensor no new file version.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

from data_platform.core.lake_layout import landing_daily_path, landing_reference_path
from data_platform.core.sources import Resources, SeedSummary, SeedWrite
from data_platform.loading.file_formats import CsvTable, read_csv_strictly
from data_platform.sources.landing.datasets import DAILY, REFERENCE, TWEETS

SEED_FILES = tuple(f"raw_{d.name}.csv" for d in (*REFERENCE, *DAILY))


def seed(csv_dir: Path) -> SeedWrite:
    """Read and check the landing files of the jafgen folder ``csv_dir``; return the step
    writing them to ``resources["lake"]``. Raises :class:`SeedError` (nothing written)."""
    files: dict[str, bytes] = {}
    for dataset in REFERENCE:
        read = read_csv_strictly(csv_dir / f"raw_{dataset.name}.csv", dataset.source_schema)
        files[landing_reference_path(dataset.name)] = read.data
    tweets = read_csv_strictly(csv_dir / f"raw_{TWEETS.name}.csv", TWEETS.source_schema, False)
    for day, lines in sorted(_tweets_by_day(tweets).items()):
        files[landing_daily_path(TWEETS.name, day)] = "".join(lines).encode()

    def write(resources: Resources, summary: SeedSummary) -> None:
        for path, data in files.items():
            _put(resources["lake"], path, data, summary)

    return write


def _tweets_by_day(tweets: CsvTable) -> dict[dt.date, list[str]]:
    """JSON Lines by day of ``tweeted_at``, from records of text (checked to parse)."""
    time = TWEETS.event_time
    by_day: dict[dt.date, list[dict]] = defaultdict(list)
    for index, record in enumerate(tweets.rows):
        if record[time] is None:
            raise tweets.error(index, time, "empty; a tweet's time decides its day's file")
        by_day[dt.datetime.fromisoformat(record[time].strip()).date()].append(record)
    # Sorted so the same input always gives the same bytes (and the same file version).
    return {
        day: [
            json.dumps(r, ensure_ascii=False) + "\n"
            for r in sorted(rows, key=lambda r: (r[time], r["id"] or ""))
        ]
        for day, rows in by_day.items()
    }


def _put(lake, path: str, data: bytes, summary: SeedSummary) -> None:
    if lake.exists(path) and lake.read_bytes(path) == data:
        summary.files_unchanged += 1
        return
    lake.write_bytes(path, data)
    summary.files_written.append(path)
