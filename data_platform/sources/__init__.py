"""The sources of raw data, one folder each (see :class:`data_platform.core.sources.Source`).

A new source is a new folder with a ``SOURCE`` and one line here.
"""

from __future__ import annotations

import datetime as dt

from data_platform.core.sources import Resources, Source
from data_platform.sources import landing, shop_db, web_events

SOURCES: tuple[Source, ...] = (shop_db.SOURCE, landing.SOURCE, web_events.SOURCE)
DATASETS = tuple(d for source in SOURCES for d in source.datasets)


def data_window(resources: Resources) -> tuple[dt.date, dt.date] | None:
    """First and last day holding events in any source (orders, tweets), or ``None``."""
    windows = [w for s in SOURCES if s.data_window and (w := s.data_window(resources))]
    if not windows:
        return None
    return min(w[0] for w in windows), max(w[1] for w in windows)
