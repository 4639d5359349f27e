"""Demo sources from real generated data: the Jaffle Shop of dbt Labs' ``jafgen``.

:func:`seed_from_csv` takes a directory of jafgen CSVs (``raw_customers.csv``,
``raw_orders.csv``, ``raw_items.csv``, ``raw_products.csv``, ``raw_stores.csv``,
``raw_supplies.csv``, ``raw_tweets.csv``) and hands it to every source's seed (see
``data_platform/sources/<source>/seed.py``): customers, orders and order items go into the shop
database (upserted by primary key); products, stores and supplies as CSV files into
``landing/<dataset>/<dataset>.csv``; tweets as one JSON Lines file per day into
``landing/tweets/``.

All or nothing: every file of every source is read and checked first (encoding, quoting, field
size, columns, every value; see each source's ``seed.py``), and a file that cannot be used
raises :class:`SeedError` naming the file, the line and the column before anything is written.
Then the shop database is written in one transaction across its tables, then the landing files
(each written atomically). A failure while writing (a full disk, a server gone) can leave the
landing zone behind the shop database; seeding the same input again completes it.

Seeding the same input twice changes nothing the second time: database rows are upserted and
landing files are only written when their content differs, so the landing sensor sees no new
file versions.

History ending yesterday: with ``end`` (``seed --years N`` always, ``seed --from-csv DIR
--end-yesterday``), every timestamp of the input moves by the smallest whole number of weeks
that puts the input's last day with events (orders, tweets) on ``end`` or after it, and the
events that then fall after ``end`` are dropped (orders with their items, tweets): the history
ends on ``end`` and every weekday pattern stays (see :mod:`data_platform.core.history`). The
move is computed from every source's input and applied to all of it before anything is
written. After writing, ``<home>/history.json`` records the first and last day holding events
in the sources and the shift; the daily partitions start at that first day (see
:mod:`data_platform.core.settings`). A state folder whose sources hold history moved by another
shift is refused (:class:`SeedError`, nothing written): the rows of the days in between would
stay behind, twice over; such a seed goes into a fresh state folder.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from data_platform.core.history import (
    AS_GIVEN,
    History,
    HistoryMove,
    history_path,
    read_history,
    write_history,
)
from data_platform.core.sources import Resources, SeedError, SeedSummary
from data_platform.sources import SOURCES, data_window

__all__ = ["SeedError", "SeedSummary", "generate_jafgen", "has_data", "seed_from_csv"]

SEED_FILES = tuple(name for source in SOURCES for name in source.seed_files)


def generate_jafgen(years: int, target: Path) -> Path:
    """Run jafgen for ``years`` years in ``target`` and return the folder of its CSVs.

    jafgen writes to ``./jaffle-data`` of its working directory and is not deterministic, so a
    generated folder is kept and reused: generating into the same ``target`` again returns the
    existing data. Raises ``subprocess.CalledProcessError`` if jafgen fails.
    """
    out = target / "jaffle-data"
    if all((out / name).exists() for name in SEED_FILES):
        return out
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", "from jafgen.cli import app; app()", str(years)],
        cwd=target,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def seed_from_csv(
    csv_dir: Path, resources: Resources, *, end: dt.date | None = None, home: Path | None = None
) -> SeedSummary:
    """Put a directory of jafgen CSVs into every source; with ``end``, moved to end that day
    (UTC; see the module's docstring), else with the dates as given. With ``home``, record the
    sources' history in ``<home>/history.json`` afterwards.

    Raises :class:`SeedError` before anything is written when a file is missing or unusable
    (naming file, line and column), or when the sources already hold history that ``home``
    records as moved by another number of weeks."""
    csv_dir = Path(csv_dir)
    missing = [name for name in SEED_FILES if not (csv_dir / name).is_file()]
    if missing:
        raise SeedError(f"{csv_dir}: missing {', '.join(missing)}")
    inputs = [source.seed(csv_dir) for source in SOURCES if source.seed is not None]
    days = [i.days for i in inputs if i.days]
    move = AS_GIVEN
    if end is not None and days:
        move = HistoryMove.ending(max(d[1] for d in days), end)
    recorded = read_history(home) if home is not None else None
    if recorded and recorded.shift_weeks != move.weeks and has_data(resources):
        raise SeedError(_moved_otherwise(home, recorded, move))
    writes = [i.moved(move) for i in inputs]
    summary = SeedSummary(rows={}, files_written=[], shift_weeks=move.weeks)
    for write in writes:
        write(resources, summary)
    if home is not None and (window := data_window(resources)):
        write_history(home, History(window[0], window[1], move.weeks))
    return summary


def _moved_otherwise(home: Path, recorded: History, move: HistoryMove) -> str:
    return (
        f"{history_path(home)}: the sources hold history from {recorded.first_day} to "
        f"{recorded.last_day} moved by {recorded.shift_weeks} week(s); this seed would move its "
        f"input by {move.weeks} week(s) and leave the rows of the other days behind. Seed into "
        "a fresh state folder (another DATA_PLATFORM_HOME, or remove this one: `make clean`), "
        "or keep what is there (`seed --if-empty`)"
    )


def has_data(resources: Resources) -> bool:
    """Whether any source already holds events (orders, tweets)."""
    return any(s.data_window and s.data_window(resources) for s in SOURCES)
