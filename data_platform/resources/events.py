"""The event broker: where the shop's web events are published, and the durable consumer that
takes them in bounded batches (see issue 13's contract).

Two backends behind one resource, picked by ``url`` (``DATA_PLATFORM_EVENTS_URL``):

- ``""`` (the default; a laptop needs nothing): **files** in the lake's landing zone, the
  pattern of a Firehose or Kafka Connect sink. Each :meth:`EventBrokerResource.publish` writes
  one newline-delimited JSON file, atomically, named by its arrival time in the folder of its
  UTC day (``landing/events/2026-12-02/20261202T104107123456Z-1a2b3c4d.jsonl``; see
  :func:`~data_platform.core.lake_layout.landing_events_path`). The consumer's state, which
  files it acknowledged, is in the lake too (``manifests/consumers/<consumer>/``), one JSON
  file per day of arrival, each written atomically. A fetch delivers whole pending files in
  name order. Pending means "not acknowledged", not "newer than the last acknowledged", so a
  file that lands late with an older name is still delivered. Listing cost stays bounded:
  once a day older than yesterday (UTC) has nothing pending it is *closed*, and closed days
  are listed again only by a sweep at most every :data:`SWEEP_SECONDS`. A file that lands in
  a closed day is delivered after the next sweep, never skipped.
- ``nats://host:port``: a **NATS JetStream** stream (file storage, subjects ``[subject_name]``,
  created when missing) and a durable pull consumer (explicit acknowledgements, ``ack_wait``
  from the setting, up to :data:`~data_platform.resources.nats_broker.MAX_ACK_PENDING` messages
  in flight). Publishing waits for the server's PubAck of every message; each message carries
  a ``Nats-Msg-Id`` unique to the publish call, so a retry after a lost PubAck (a server
  restarting) is dropped by the server's duplicate window instead of stored twice.

Unacknowledged messages are delivered again by a later fetch: on NATS once ``ack_wait`` has
passed, on files at the next fetch. A consumer is meant to be used by one process at a time
(the raw asset's runs are serialized); two processes acknowledging the same file day at once
could lose one's acknowledgement, which means a redelivery, never a loss.

The API is synchronous over nats-py's asyncio client: each call opens its own event loop and
connection (measured on loopback: about 3 ms for the connection and the stream and consumer
checks, next to about 1 s per 20,000 messages fetched and acknowledged). nats-py retries the
connection itself (``CONNECT_ATTEMPTS`` tries, ``RECONNECT_WAIT_SECONDS`` apart:
:mod:`data_platform.resources.nats_broker`, imported only for a ``nats://`` URL); a
server that still does not answer raises a
:class:`~data_platform.resources.faults.TransientFault` naming the URL. Every other error of
the broker or the lake comes out as the faults of :mod:`data_platform.resources.faults`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from pydantic import Field

from data_platform.core.errors import redact
from data_platform.core.lake_layout import (
    EVENTS_LANDING,
    consumer_state_path,
    events_file_arrival,
    landing_events_path,
)
from data_platform.resources.event_messages import ConsumerLag, Delivery, EventMessage
from data_platform.resources.faults import faults
from data_platform.resources.lake import LakeResource

if TYPE_CHECKING:
    from data_platform.resources.nats_broker import NatsBroker

__all__ = ["ConsumerLag", "Delivery", "EventBrokerResource", "EventMessage"]


# Closed file days (nothing pending, older than yesterday) are listed again this often.
SWEEP_SECONDS = 3600


class EventBrokerResource(ConfigurableResource):
    """Publishes web events and consumes them through a durable consumer: newline-delimited
    JSON files in the lake's ``landing/events/`` (``url`` empty) or NATS JetStream
    (``nats://host:port``). See the module's documentation."""

    url: str = Field(
        default="",
        description="Empty: files in the lake's landing/events/; nats://host:port: NATS JetStream.",
    )
    stream: str = Field(default="SHOP_EVENTS", description="The JetStream stream (NATS only).")
    subject: str = Field(
        default="",
        description=(
            "The subject events go to (NATS only); empty: ``<stream, lower case>.web_events``, "
            "so streams of two platforms sharing one server never claim the same subject."
        ),
    )
    consumer: str = Field(default="raw_web_events", description="The durable consumer's name.")
    ack_wait_seconds: int = Field(
        default=300, description="Seconds before a fetched, unacknowledged message comes again."
    )
    lake: LakeResource

    @property
    def backend(self) -> str:
        """``"files"`` or ``"nats"``; raises ``ValueError`` for any other URL."""
        if not self.url:
            return "files"
        if self.url.startswith("nats://"):
            return "nats"
        raise ValueError(
            f"event broker URL {redact(self.url)!r}: expected empty (files) or nats://host:port"
        )

    def _impl(self) -> _FileBroker | NatsBroker:
        if self.backend == "files":
            return _FileBroker(self.lake, self.consumer)
        # nats-py and aiohttp (about 0.1 s of imports, an SSL context among them) only where
        # the broker is NATS: every other process loads this module with the code location.
        from data_platform.resources.nats_broker import NatsBroker

        return NatsBroker(
            self.url, self.stream, self.subject_name, self.consumer, self.ack_wait_seconds
        )

    @property
    def subject_name(self) -> str:
        """The subject in use: ``subject``, or ``<stream, lower case>.web_events`` when empty
        (``SHOP_EVENTS`` publishes to ``shop_events.web_events``)."""
        return self.subject or f"{self.stream.lower()}.web_events"

    def publish(self, payloads: Sequence[bytes]) -> None:
        """Publish ``payloads`` (bytes each, sent as they are); durable when it returns (NATS:
        a PubAck for each; files: one file written atomically, one line per payload, so a
        payload holding a newline raises ``ValueError`` naming its index). Nothing to publish
        does nothing."""
        if payloads:
            self._impl().publish(list(payloads))

    def fetch(self, max_messages: int, wait_seconds: float = 1.0) -> Delivery:
        """Up to ``max_messages`` pending messages (on files: whole files, at least one, up to
        ``max_messages`` lines), waiting up to ``wait_seconds`` for the first on NATS; an empty
        delivery when none is pending."""
        if max_messages < 1:
            raise ValueError(f"max_messages={max_messages}: expected at least 1")
        return self._impl().fetch(max_messages, wait_seconds)

    def lag(self) -> ConsumerLag:
        """Messages published and not yet acknowledged by the consumer, and the publication
        time of the oldest of them."""
        return self._impl().lag()


# -- files ------------------------------------------------------------------------------


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _lines(data: bytes) -> list[bytes]:
    """The payloads of one landing file: its lines, the last newline optional."""
    if not data:
        return []
    return data.removesuffix(b"\n").split(b"\n")


class _FileBroker:
    """The file backend (see the module's documentation)."""

    def __init__(self, lake: LakeResource, consumer: str):
        self.lake = lake
        self.consumer = consumer
        self.what = f"event files in lake {redact(lake.url)}"

    # state: acked/<day>.json = {"files": [names]}; closed.json = {"days": [...], "swept_at"}
    def _acked(self, day: str) -> set[str]:
        path = consumer_state_path(self.consumer, f"acked/{day}.json")
        if not self.lake.exists(path):
            return set()
        return set(json.loads(self.lake.read_bytes(path))["files"])

    def _closed(self) -> tuple[set[str], dt.datetime | None]:
        path = consumer_state_path(self.consumer, "closed.json")
        if not self.lake.exists(path):
            return set(), None
        state = json.loads(self.lake.read_bytes(path))
        swept = state.get("swept_at")
        return set(state["days"]), dt.datetime.fromisoformat(swept) if swept else None

    def _write_closed(self, days: set[str], swept_at: dt.datetime | None) -> None:
        state = {"days": sorted(days), "swept_at": swept_at.isoformat() if swept_at else None}
        path = consumer_state_path(self.consumer, "closed.json")
        self.lake.write_bytes(path, json.dumps(state, indent=1).encode())

    def publish(self, payloads: list[bytes]) -> None:
        for index, payload in enumerate(payloads):
            if b"\n" in payload:
                raise ValueError(
                    f"payload {index} holds a newline: a landing events file keeps one "
                    "payload per line"
                )
        arrival = _utcnow()
        path = landing_events_path(arrival, uuid.uuid4().hex[:8])
        with faults(f"{self.what}: publishing {len(payloads)} events to {path}"):
            self.lake.write_bytes(path, b"".join(p + b"\n" for p in payloads))

    def _pending(self, update_state: bool) -> list[str]:
        """Every pending file's lake path, sorted. With ``update_state``, days found with
        nothing pending are closed and a sweep is recorded."""
        now = _utcnow()
        closed, swept_at = self._closed()
        sweep = swept_at is None or (now - swept_at).total_seconds() >= SWEEP_SECONDS
        days = self.lake.list_folders(EVENTS_LANDING)
        # Today and yesterday stay open: a file of theirs may still be landing.
        still_open = (now.date() - dt.timedelta(days=1)).isoformat()
        pending: list[str] = []
        closing, reopening = set(), set()
        for day in days:
            if day in closed and not sweep:
                continue
            acked = self._acked(day)
            waiting = [
                p
                for p in self.lake.list_paths(f"{EVENTS_LANDING}/{day}/")
                if p.rsplit("/", 1)[-1] not in acked
            ]
            pending.extend(waiting)
            if waiting and day in closed:
                reopening.add(day)
            elif not waiting and day < still_open and day not in closed:
                closing.add(day)
        if update_state and (closing or reopening or (sweep and closed)):
            self._write_closed((closed | closing) - reopening, now if sweep else swept_at)
        elif update_state and swept_at is None:
            self._write_closed(closed, now)
        return sorted(pending)

    def _published_at(self, path: str) -> dt.datetime:
        arrival = events_file_arrival(path)
        if arrival is not None:
            return arrival
        # A file another producer named: when it landed, by the store's clock.
        (info,) = self.lake.list_files(path)
        return dt.datetime.fromtimestamp(info.modified or 0, dt.UTC)

    def fetch(self, max_messages: int, wait_seconds: float) -> Delivery:
        with faults(f"{self.what}: fetching for consumer {self.consumer}"):
            messages: list[EventMessage] = []
            taken: list[str] = []
            for path in self._pending(update_state=True):
                lines = _lines(self.lake.read_bytes(path))
                if taken and len(messages) + len(lines) > max_messages:
                    break
                published_at = self._published_at(path)
                messages.extend(
                    EventMessage(path, line, data, published_at)
                    for line, data in enumerate(lines, start=1)
                )
                taken.append(path)
        return Delivery(messages, lambda: self._ack(taken))

    def _ack(self, paths: list[str]) -> None:
        by_day: dict[str, list[str]] = {}
        for path in paths:
            day, name = path.rsplit("/", 2)[-2:]
            by_day.setdefault(day, []).append(name)
        with faults(f"{self.what}: acknowledging {len(paths)} files for {self.consumer}"):
            for day, names in sorted(by_day.items()):
                acked = self._acked(day) | set(names)
                path = consumer_state_path(self.consumer, f"acked/{day}.json")
                self.lake.write_bytes(path, json.dumps({"files": sorted(acked)}).encode())

    def lag(self) -> ConsumerLag:
        with faults(f"{self.what}: the lag of consumer {self.consumer}"):
            pending = self._pending(update_state=False)
            count = sum(len(_lines(self.lake.read_bytes(p))) for p in pending)
            oldest = min((self._published_at(p) for p in pending), default=None)
        return ConsumerLag(count, oldest if count else None)


# -- NATS -------------------------------------------------------------------------------
