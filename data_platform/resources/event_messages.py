"""What the event broker hands out, whichever its backend (:mod:`data_platform.resources.events`):
the messages of a fetch, their acknowledgement, and how far the consumer is behind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class EventMessage:
    """One message as the broker delivered it.

    - ``source``: ``"nats:<stream>"``, or the landing file's lake path
      (``landing/events/2026-12-02/....jsonl``);
    - ``position``: the stream sequence (NATS), or the 1-based line in the file;
    - ``data``: the payload exactly as published (it may be malformed: not JSON, not UTF-8);
    - ``published_at``: tz-aware UTC, when the broker took it (the NATS server's timestamp;
      the file's arrival time in its name).
    """

    source: str
    position: int
    data: bytes
    published_at: dt.datetime


@dataclass(frozen=True)
class ConsumerLag:
    """How far the consumer is behind: ``pending`` messages published and not yet
    acknowledged, and when the oldest of them was published (tz-aware UTC; ``None`` when
    nothing is pending)."""

    pending: int
    oldest_published_at: dt.datetime | None

    def oldest_age_seconds(self, now: dt.datetime) -> float | None:
        """Seconds from the oldest pending message's publication to ``now`` (tz-aware), at
        least 0; ``None`` when nothing is pending."""
        if self.oldest_published_at is None:
            return None
        return max(0.0, (now - self.oldest_published_at).total_seconds())


class Delivery:
    """What :meth:`EventBrokerResource.fetch` returns: ``messages`` in delivery order (NATS:
    stream order; files: file name order, then line) and :meth:`ack`."""

    def __init__(self, messages: list[EventMessage], acknowledge: Callable[[], None]):
        self.messages = messages
        self._acknowledge = acknowledge

    def __len__(self) -> int:
        return len(self.messages)

    def ack(self) -> None:
        """Acknowledge every message of this delivery; durable when it returns (NATS: the
        server confirmed the last acknowledgement; files: the consumer state is written). Raises
        the faults of :mod:`data_platform.resources.faults`; acknowledging twice is harmless."""
        if self.messages:
            self._acknowledge()
