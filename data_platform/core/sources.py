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
from data_platform.core.errors import PlatformError
from data_platform.core.history import AS_GIVEN, HistoryMove
from data_platform.core.settings import Settings

Resources = Mapping[str, Any]
"""Initialized resources by key (``lake``, ``shop_db``, ``warehouse``...), as
``dagster.build_resources`` yields them."""


@dataclass
class SeedSummary:
    """What a seed wrote: rows per shop table, landing files written or left as they were, the
    first and last day holding orders, and the whole weeks its input's timestamps moved by."""

    rows: dict[str, int]
    files_written: list[str]
    files_unchanged: int = 0
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    shift_weeks: int = 0

    def saw_days(self, first: dt.date, last: dt.date) -> None:
        self.first_day = min(first, self.first_day or first)
        self.last_day = max(last, self.last_day or last)


SeedWrite = Callable[[Resources, SeedSummary], None]
"""The write step of a source's seed: ``write(resources, summary)`` puts the input already
read and checked into the source and adds what it wrote to ``summary``."""


@dataclass(frozen=True)
class SeedInput:
    """A source's seed input, read and checked, not yet written.

    - ``days``: the first and last day holding its events (orders, tweets) as given, or
      ``None``; the seed moves the input by the whole window of every source (see
      :mod:`data_platform.core.history`);
    - ``moved(move)``: the :data:`SeedWrite` step of the input moved by ``move`` (every
      timestamp shifted, the events after ``move.last_day`` dropped), computed before anything
      is written.

    Calling it writes the input as given (``moved(AS_GIVEN)``).
    """

    days: tuple[dt.date, dt.date] | None
    moved: Callable[[HistoryMove], SeedWrite]

    def __call__(self, resources: Resources, summary: SeedSummary) -> None:
        self.moved(AS_GIVEN)(resources, summary)


class SeedError(PlatformError, ValueError):
    """The seed input is unusable (a missing file or column, bytes that are not UTF-8, broken
    quoting, an oversized field, a value that does not parse, a key twice): the message names
    the file, and the line and column where there is one. Raised before anything is written;
    exit code 2 (the input to correct)."""

    exit_code = 2


@dataclass(frozen=True)
class Source:
    """One source of raw data and everything that belongs to it.

    - ``build_assets(settings)``: its raw assets (partitions start at
      ``settings.partition_start``; the warehouse engine shows among their kinds);
    - ``jobs``, ``sensors``: the automation that is the source's own (a sensor on its
      landing folder, the jobs that sensor launches);
    - ``data_window(resources)``: the first and last day holding its events, or ``None``;
    - ``seed(csv_dir)``: reads and checks every one of the jafgen CSVs named in
      ``seed_files`` (all checked to exist first), raising :class:`SeedError` and writing
      nothing, and returns the :class:`SeedInput` that puts the demo data in the source.
      Every source's input is read before any source is written: a seed is all or nothing.
    """

    name: str
    datasets: tuple[Dataset, ...]
    build_assets: Callable[[Settings], Sequence[AssetsDefinition]]
    jobs: tuple[Any, ...] = ()  # define_asset_job's (its return type is not public)
    sensors: tuple[SensorDefinition, ...] = ()
    data_window: Callable[[Resources], tuple[dt.date, dt.date] | None] | None = None
    seed: Callable[[Path], SeedInput] | None = None
    seed_files: tuple[str, ...] = ()
