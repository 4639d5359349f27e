"""Demo sources from real generated data: the Jaffle Shop of dbt Labs' ``jafgen``.

:func:`seed_from_csv` takes a directory of jafgen CSVs (``raw_customers.csv``,
``raw_orders.csv``, ``raw_items.csv``, ``raw_products.csv``, ``raw_stores.csv``,
``raw_supplies.csv``, ``raw_tweets.csv``) and puts

- customers, orders and order items into the shop database (upserted by primary key);
- products, stores and supplies as CSV files into ``landing/<dataset>/<dataset>.csv``;
- tweets as one JSON Lines file per ``tweeted_at`` day into ``landing/tweets/``.

Seeding the same input twice changes nothing the second time: database rows are upserted and
landing files are only written when their content differs, so the landing sensor sees no new
file versions.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from data_platform.lake_layout import landing_daily_path, landing_reference_path
from data_platform.resources.lake import LakeResource
from data_platform.resources.shop_db import ShopDatabaseResource, customers, order_items, orders

CSV_FILES = {
    "customers": "raw_customers.csv",
    "orders": "raw_orders.csv",
    "items": "raw_items.csv",
    "products": "raw_products.csv",
    "stores": "raw_stores.csv",
    "supplies": "raw_supplies.csv",
    "tweets": "raw_tweets.csv",
}


class SeedError(ValueError):
    """The seed input is unusable (missing file or column, unparsable value)."""


@dataclass
class SeedSummary:
    """Rows written per shop table, and landing files written or left as they were."""

    rows: dict[str, int] = field(default_factory=dict)
    files_written: list[str] = field(default_factory=list)
    files_unchanged: int = 0
    first_day: dt.date | None = None
    last_day: dt.date | None = None


def generate_jafgen(years: int, target: Path) -> Path:
    """Run jafgen for ``years`` years in ``target`` and return the folder of its CSVs.

    jafgen writes to ``./jaffle-data`` of its working directory and is not deterministic, so a
    generated folder is kept and reused: generating into the same ``target`` again returns the
    existing data. Raises ``subprocess.CalledProcessError`` if jafgen fails.
    """
    out = target / "jaffle-data"
    if all((out / name).exists() for name in CSV_FILES.values()):
        return out
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", "from jafgen.cli import app; app()", str(years)],
        cwd=target,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def seed_from_csv(csv_dir: Path, shop_db: ShopDatabaseResource, lake: LakeResource) -> SeedSummary:
    """Load a directory of jafgen CSVs into the shop database and the landing zone."""
    csv_dir = Path(csv_dir)
    missing = [name for name in CSV_FILES.values() if not (csv_dir / name).is_file()]
    if missing:
        raise SeedError(f"{csv_dir}: missing {', '.join(missing)}")
    summary = SeedSummary()

    shop_db.create_tables()
    summary.rows["customers"] = shop_db.upsert(
        customers, _rows(csv_dir, "customers", {"id": str, "name": str})
    )
    order_rows = list(
        _rows(
            csv_dir,
            "orders",
            {
                "id": str,
                "customer": str,
                "ordered_at": dt.datetime.fromisoformat,
                "store_id": str,
                "subtotal": int,
                "tax_paid": int,
                "order_total": int,
            },
        )
    )
    summary.rows["orders"] = shop_db.upsert(orders, order_rows)
    if order_rows:
        summary.first_day = min(r["ordered_at"] for r in order_rows).date()
        summary.last_day = max(r["ordered_at"] for r in order_rows).date()
    summary.rows["order_items"] = shop_db.upsert(
        order_items, _rows(csv_dir, "items", {"id": str, "order_id": str, "sku": str})
    )

    for dataset in ("products", "stores", "supplies"):
        _put(
            lake,
            landing_reference_path(dataset),
            (csv_dir / CSV_FILES[dataset]).read_bytes(),
            summary,
        )
    for day, lines in sorted(_tweets_by_day(csv_dir).items()):
        _put(lake, landing_daily_path("tweets", day), "".join(lines).encode(), summary)
    return summary


def _rows(csv_dir: Path, entity: str, columns: dict):
    path = csv_dir / CSV_FILES[entity]
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        absent = set(columns) - set(reader.fieldnames or [])
        if absent:
            raise SeedError(f"{path}: missing column(s) {', '.join(sorted(absent))}")
        for line, record in enumerate(reader, start=2):
            row = {}
            for name, parse in columns.items():
                try:
                    row[name] = parse(record[name])
                except (TypeError, ValueError) as error:
                    raise SeedError(
                        f"{path}, line {line}, column {name}: {record[name]!r} is not valid ({error})"
                    ) from error
            yield row


def _tweets_by_day(csv_dir: Path) -> dict[dt.date, list[str]]:
    path = csv_dir / CSV_FILES["tweets"]
    by_day: dict[dt.date, list[tuple]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for line, record in enumerate(csv.DictReader(handle), start=2):
            try:
                day = dt.datetime.fromisoformat(record["tweeted_at"]).date()
            except (KeyError, TypeError, ValueError) as error:
                raise SeedError(f"{path}, line {line}, column tweeted_at: {error}") from error
            by_day[day].append((record["tweeted_at"], record["id"], record))
    # Sorted so the same input always gives the same bytes (and the same file version).
    return {
        day: [
            json.dumps(
                {k: r[k] for k in ("id", "user_id", "tweeted_at", "content")}, ensure_ascii=False
            )
            + "\n"
            for _, _, r in sorted(rows, key=lambda t: (t[0], t[1]))
        ]
        for day, rows in by_day.items()
    }


def _put(lake: LakeResource, path: str, data: bytes, summary: SeedSummary) -> None:
    if lake.exists(path) and lake.read_bytes(path) == data:
        summary.files_unchanged += 1
        return
    lake.write_bytes(path, data)
    summary.files_written.append(path)
