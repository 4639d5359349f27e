"""The sources of raw data, one folder each (see :class:`data_platform.core.sources.Source`).

A new source is a new folder with a ``SOURCE`` and one line here.
"""

from __future__ import annotations

from data_platform.core.sources import Source
from data_platform.sources import landing, shop_db, web_events

SOURCES: tuple[Source, ...] = (shop_db.SOURCE, landing.SOURCE, web_events.SOURCE)
DATASETS = tuple(d for source in SOURCES for d in source.datasets)
