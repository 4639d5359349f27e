"""The landing source: files that outside systems drop into the lake's ``landing/`` zone.

- ``datasets.py``: the raw contracts of products, stores, supplies (reference CSVs) and tweets
  (daily JSON Lines);
- ``layout.py``: which landing files it expects;
- ``assets.py``: the raw ingests (``raw/products``, ``raw/stores``, ``raw/supplies``,
  ``raw/tweets``);
- ``jobs.py`` and ``sensor.py``: the landing sensor and the jobs it launches;
- ``seed.py``: the demo files.
"""

from __future__ import annotations

import datetime as dt

from data_platform.core.lake_layout import LANDING
from data_platform.core.sources import Resources, Source
from data_platform.sources.landing import assets, seed
from data_platform.sources.landing.datasets import DAILY, DATASETS
from data_platform.sources.landing.jobs import JOBS
from data_platform.sources.landing.layout import landing_file
from data_platform.sources.landing.sensor import landing_sensor


def data_window(resources: Resources) -> tuple[dt.date, dt.date] | None:
    """First and last day of the daily landing files (tweets), or ``None`` without any."""
    # Only the daily datasets' folders: on S3 a listing is paid per 1,000 keys.
    days = [
        found[1]
        for dataset in DAILY
        for f in resources["lake"].list_files(f"{LANDING}/{dataset.name}")
        if (found := landing_file(f.path)) and found[1]
    ]
    if not days:
        return None
    return dt.date.fromisoformat(min(days)), dt.date.fromisoformat(max(days))


SOURCE = Source(
    name="landing",
    datasets=DATASETS,
    build_assets=assets.build_assets,
    jobs=JOBS,
    sensors=(landing_sensor,),
    data_window=data_window,
    seed=seed.seed,
    seed_files=seed.SEED_FILES,
)
