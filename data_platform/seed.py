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
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from data_platform.core.sources import Resources, SeedError, SeedSummary
from data_platform.sources import SOURCES

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


def seed_from_csv(csv_dir: Path, resources: Resources) -> SeedSummary:
    """Put a directory of jafgen CSVs into every source. Raises :class:`SeedError` before
    anything is written when a file is missing or unusable (naming file, line and column)."""
    csv_dir = Path(csv_dir)
    missing = [name for name in SEED_FILES if not (csv_dir / name).is_file()]
    if missing:
        raise SeedError(f"{csv_dir}: missing {', '.join(missing)}")
    writes = [source.seed(csv_dir) for source in SOURCES if source.seed is not None]
    summary = SeedSummary(rows={}, files_written=[])
    for write in writes:
        write(resources, summary)
    return summary


def has_data(resources: Resources) -> bool:
    """Whether any source already holds events (orders, tweets)."""
    return any(s.data_window and s.data_window(resources) for s in SOURCES)
