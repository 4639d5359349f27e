"""The source type: what each folder under ``data_platform/sources/`` hands to the platform.

A source (the shop database, the landing zone, next an event stream or an API) is one folder
holding its datasets' contracts, its assets, its jobs and sensors, and how the demo data is
put in it. The code location, the command line and the headless run only ever go through
:class:`Source`, so adding a dataset to a source touches that folder (and the dbt project),
nothing else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import AssetsDefinition, SensorDefinition

from data_platform.core.datasets import Dataset
from data_platform.core.settings import Settings

Resources = Mapping[str, Any]
"""Initialized resources by key (``lake``, ``shop_db``, ``warehouse``...), as
``dagster.build_resources`` yields them."""


@dataclass
class SeedSummary:
    """What a seed wrote: rows per shop table, landing files written or left as they were, and
    the first and last day holding events."""

    rows: dict[str, int]
    files_written: list[str]
    files_unchanged: int = 0
    first_day: dt.date | None = None
    last_day: dt.date | None = None

    def saw_days(self, first: dt.date, last: dt.date) -> None:
        self.first_day = min(first, self.first_day or first)
        self.last_day = max(last, self.last_day or last)


class SeedError(ValueError):
    """The seed input is unusable (missing file or column, unparsable value): the message
    names the file, line and column."""


@dataclass(frozen=True)
class Source:
    """One source of raw data and everything that belongs to it.

    - ``build_assets(settings)``: its raw assets (partitions start at
      ``settings.partition_start``; the warehouse engine shows among their kinds);
    - ``jobs``, ``sensors``: the automation that is the source's own (a sensor on its
      landing folder, the jobs that sensor launches);
    - ``data_window(resources)``: the first and last day holding its events, or ``None``;
    - ``seed(csv_dir, resources, summary)``: puts the demo data in the source, from the
      jafgen CSVs named in ``seed_files`` (all checked to exist before any source is written).
    """

    name: str
    datasets: tuple[Dataset, ...]
    build_assets: Callable[[Settings], Sequence[AssetsDefinition]]
    jobs: tuple[Any, ...] = ()  # define_asset_job's (its return type is not public)
    sensors: tuple[SensorDefinition, ...] = ()
    data_window: Callable[[Resources], tuple[dt.date, dt.date] | None] | None = None
    seed: Callable[[Path, Resources, SeedSummary], None] | None = None
    seed_files: tuple[str, ...] = ()
