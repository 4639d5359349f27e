"""The demo landing zone: jafgen's reference CSVs as delivered files, its tweets by day.

Reads ``raw_<dataset>.csv`` for each reference dataset (copied to
``landing/<dataset>/<dataset>.csv`` as is, or with its timestamps moved when the seed moves the
history) and ``raw_tweets.csv`` (one JSON Lines file per ``tweeted_at`` day), every file checked before any is written: read strictly against its
dataset's contract (see :func:`~data_platform.loading.file_formats.read_csv_strictly`), so a
file a run could not read, or a value that does not parse, raises :class:`SeedError` naming
file, line and column. A tweet without ``tweeted_at`` is refused too: its time decides its
file. An empty field of a tweet is ``null`` in its JSON line, never ``"None"``.

A file is written only when its content differs, so seeding the same input twice gives the
landing sensor no new file version.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from pathlib import Path

import pyarrow as pa

from data_platform.core.datasets import Dataset
from data_platform.core.history import HistoryMove
from data_platform.core.lake_layout import landing_daily_path, landing_reference_path
from data_platform.core.sources import Resources, SeedInput, SeedSummary, SeedWrite
from data_platform.loading.file_formats import BOM, CsvTable, read_csv_strictly
from data_platform.sources.landing.datasets import DAILY, REFERENCE, TWEETS

UPDATED_AT = "updated_at"
# jafgen's first simulated day: the seed's products and stores date from it (moved with the
# history).
JAFGEN_FIRST_DAY = dt.datetime(2018, 9, 1)
SEED_FILES = tuple(f"raw_{d.name}.csv" for d in (*REFERENCE, *DAILY))


def seed(csv_dir: Path) -> SeedInput:
    """Read and check the landing files of the jafgen folder ``csv_dir``; return the input
    whose write step writes them to ``resources["lake"]``. Raises :class:`SeedError` (nothing
    written).

    Moved (see :class:`~data_platform.core.history.HistoryMove`): a tweet's ``tweeted_at``
    shifts, and decides its day's file (a tweet after the move's last day is dropped); the
    timestamps of the reference files (a store's ``opened_at``) shift, their rows all kept;
    every other byte of those files stays as given."""
    references = {
        dataset: read_csv_strictly(
            csv_dir / f"raw_{dataset.name}.csv", _given_schema(csv_dir, dataset)
        )
        for dataset in REFERENCE
    }
    tweets = read_csv_strictly(csv_dir / f"raw_{TWEETS.name}.csv", TWEETS.source_schema, False)
    times = _tweet_times(tweets)
    days = (min(times).date(), max(times).date()) if times else None

    def moved(move: HistoryMove) -> SeedWrite:
        files: dict[str, bytes] = {}
        for dataset, read in references.items():
            path = landing_reference_path(dataset.name)
            data = _moved_csv(read, dataset, move) if move.moves else read.data
            if dataset.versioned and _lacks_updated_at(read):
                data = _with_updated_at(data, move.moved(JAFGEN_FIRST_DAY))
            files[path] = data
        for day, lines in sorted(_tweets_by_day(tweets.rows, times, move).items()):
            files[landing_daily_path(TWEETS.name, day)] = "".join(lines).encode()

        def write(resources: Resources, summary: SeedSummary) -> None:
            for path, data in files.items():
                _put(resources["lake"], path, data, summary)

        return write

    return SeedInput(days, moved)


def _given_schema(csv_dir: Path, dataset: Dataset) -> pa.Schema:
    """The columns to read of ``raw_<dataset>.csv``: the contract's, but a versioned file as
    jafgen writes it (without ``updated_at``) is read without one, given at write time."""
    schema = dataset.source_schema
    if not dataset.versioned:
        return schema
    try:
        first = (csv_dir / f"raw_{dataset.name}.csv").read_bytes().removeprefix(BOM)
        line = first.decode("utf-8", errors="replace").splitlines()[:1]
        header = [name.strip() for name in next(csv.reader(line), [])]
    except (OSError, csv.Error):
        header = []  # the strict read reports what is wrong with the file
    if UPDATED_AT in header or not header:
        return schema
    return pa.schema([f for f in schema if f.name != UPDATED_AT])


def _lacks_updated_at(read: CsvTable) -> bool:
    return not read.rows or UPDATED_AT not in read.rows[0]


def _with_updated_at(data: bytes, at: dt.datetime) -> bytes:
    """The CSV ``data`` with a last column ``updated_at`` of ``at`` on every row: jafgen's
    products and stores have no change time, so the seed dates every row to the history's
    first day (the first version of a key is valid from the beginning anyway)."""
    text = data.removeprefix(BOM).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    if not rows:
        return data
    value = at.isoformat(sep=" ")
    rows = [rows[0] + [UPDATED_AT]] + [row + [value] for row in rows[1:] if "".join(row).strip()]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n" if "\r\n" in text else "\n").writerows(rows)
    return out.getvalue().encode()


def _tweet_times(tweets: CsvTable) -> list[dt.datetime]:
    """Every tweet's ``tweeted_at`` (checked to parse by the strict read), in file order."""
    time = TWEETS.event_time
    times = []
    for index, record in enumerate(tweets.rows):
        if record[time] is None:
            raise tweets.error(index, time, "empty; a tweet's time decides its day's file")
        times.append(dt.datetime.fromisoformat(record[time].strip()))
    return times


def _tweets_by_day(
    records: list[dict], times: list[dt.datetime], move: HistoryMove
) -> dict[dt.date, list[str]]:
    """JSON Lines by day of ``tweeted_at`` after ``move``, from records of text, without the
    tweets the move drops."""
    time = TWEETS.event_time
    by_day: dict[dt.date, list[dict]] = defaultdict(list)
    for record, given in zip(records, times, strict=True):
        at = move.moved(given)
        if not move.keeps(at):
            continue
        if move.moves:
            record = {**record, time: move.moved_text(record[time])}
        by_day[at.date()].append(record)
    # Sorted so the same input always gives the same bytes (and the same file version).
    return {
        day: [
            json.dumps(r, ensure_ascii=False) + "\n"
            for r in sorted(rows, key=lambda r: (r[time], r["id"] or ""))
        ]
        for day, rows in by_day.items()
    }


def _moved_csv(read: CsvTable, dataset: Dataset, move: HistoryMove) -> bytes:
    """The CSV file ``read`` with the values of ``dataset``'s timestamp columns moved; every
    other field, the header and the line ends as given (a byte-order mark is dropped)."""
    dated = {f.name for f in dataset.source_schema if pa.types.is_timestamp(f.type)}
    text = read.data.removeprefix(BOM).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    positions = [i for i, name in enumerate(rows[0]) if name.strip() in dated] if rows else []
    if not positions:
        return read.data
    for row in rows[1:]:
        for i in positions:
            if i < len(row) and row[i].strip():
                row[i] = move.moved_text(row[i])
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n" if "\r\n" in text else "\n").writerows(rows)
    return out.getvalue().encode()


def _put(lake, path: str, data: bytes, summary: SeedSummary) -> None:
    if lake.exists(path) and lake.read_bytes(path) == data:
        summary.files_unchanged += 1
        return
    lake.write_bytes(path, data)
    summary.files_written.append(path)
