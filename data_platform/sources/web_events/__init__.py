"""The web events source: the shop's event stream (NATS JetStream, or JSON Lines files landing
in ``landing/events/``), loaded in micro-batches.

- ``datasets.py``: the raw contract of the events;
- ``consumer.py``: one micro-batch, exactly once in effect (fetch, screen, warehouse, lake, ack);
- ``assets.py``: the raw ingest ``raw/web_events``;
- ``jobs.py`` and ``sensor.py``: the micro-batch job and the sensor that launches it.

The events are produced by the shop's sites; for the demo, by ``data-platform simulate``.
"""

from __future__ import annotations

from data_platform.core.sources import Source
from data_platform.sources.web_events import assets
from data_platform.sources.web_events.datasets import DATASETS
from data_platform.sources.web_events.jobs import JOBS
from data_platform.sources.web_events.sensor import web_events_sensor

SOURCE = Source(
    name="web_events",
    datasets=DATASETS,
    build_assets=assets.build_assets,
    jobs=JOBS,
    sensors=(web_events_sensor,),
)
