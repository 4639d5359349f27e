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
  from the setting, up to :data:`MAX_ACK_PENDING` messages in flight). Publishing waits for
  the server's PubAck of every message; each message carries a ``Nats-Msg-Id`` unique to the
  publish call, so a retry after a lost PubAck (a server restarting) is dropped by the
  server's duplicate window instead of stored twice.

Unacknowledged messages are delivered again by a later fetch: on NATS once ``ack_wait`` has
passed, on files at the next fetch. A consumer is meant to be used by one process at a time
(the raw asset's runs are serialized); two processes acknowledging the same file day at once
could lose one's acknowledgement, which means a redelivery, never a loss.

The API is synchronous over nats-py's asyncio client: each call opens its own event loop and
connection (measured on loopback: about 3 ms for the connection and the stream and consumer
checks, next to about 1 s per 20,000 messages fetched and acknowledged). nats-py retries the
connection itself (:data:`CONNECT_ATTEMPTS` tries, :data:`RECONNECT_WAIT_SECONDS` apart); a
server that still does not answer raises a
:class:`~data_platform.resources.faults.TransientFault` naming the URL. Every other error of
the broker or the lake comes out as the faults of :mod:`data_platform.resources.faults`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import backoff
import nats
from dagster import ConfigurableResource
from nats.errors import NoRespondersError, NoServersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError, ServiceUnavailableError
from pydantic import Field

from data_platform.core.errors import redact
from data_platform.core.lake_layout import (
    EVENTS_LANDING,
    consumer_state_path,
    events_file_arrival,
    landing_events_path,
)
from data_platform.resources.faults import TransientFault, faults
from data_platform.resources.lake import LakeResource

# Messages in flight (delivered, not yet acknowledged) the NATS consumer allows: a batch of
# 50,000 and a redelivered one beside it.
MAX_ACK_PENDING = 200_000
# How long the NATS server remembers a message id to drop a republished copy; a publish
# retries within it.
DUPLICATE_WINDOW_SECONDS = 120
PUBLISH_RETRY_SECONDS = 60
CONNECT_ATTEMPTS = 10
RECONNECT_WAIT_SECONDS = 0.5
# A JetStream server just restarted accepts connections before it has recovered its streams:
# its API times out or has no responder meanwhile. The first request waits this long for it.
JETSTREAM_READY_SECONDS = 30
# Closed file days (nothing pending, older than yesterday) are listed again this often.
SWEEP_SECONDS = 3600


@backoff.on_exception(
    backoff.constant,
    (NatsTimeoutError, NoRespondersError, ServiceUnavailableError),
    interval=RECONNECT_WAIT_SECONDS,
    max_time=JETSTREAM_READY_SECONDS,
    jitter=None,
    logger=None,
)
async def _stream_info_when_ready(js, stream: str):
    """``js.stream_info(stream)``, waiting up to :data:`JETSTREAM_READY_SECONDS` for a
    JetStream server still recovering its streams; raises ``NotFoundError`` when there is no
    such stream, the last timeout after that wait."""
    return await js.stream_info(stream)


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

    def _impl(self) -> _FileBroker | _NatsBroker:
        if self.backend == "files":
            return _FileBroker(self.lake, self.consumer)
        return _NatsBroker(
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


class _NatsBroker:
    """The NATS JetStream backend (see the module's documentation)."""

    def __init__(self, url: str, stream: str, subject: str, consumer: str, ack_wait: int):
        self.url, self.stream, self.subject = url, stream, subject
        self.consumer, self.ack_wait = consumer, ack_wait
        self.what = f"event broker {redact(url)} (stream {stream})"
        self.source = f"nats:{stream}"

    def _run(self, what: str, work: Callable) -> object:
        """Run ``work(js)`` on a fresh connection in its own event loop, errors as faults."""
        with faults(f"{self.what}: {what}"):
            return asyncio.run(self._connected(work))

    async def _connected(self, work: Callable) -> object:
        errors: list[BaseException] = []

        async def remember(error: BaseException) -> None:
            errors.append(error)  # nats-py would log every failed try

        try:
            nc = await nats.connect(
                servers=[self.url],
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=CONNECT_ATTEMPTS,
                reconnect_time_wait=RECONNECT_WAIT_SECONDS,
                error_cb=remember,
            )
        except (NoServersError, OSError, TimeoutError) as error:
            cause = errors[-1] if errors else error
            raise TransientFault(
                f"{self.what}: no NATS server answers at {redact(self.url)} after "
                f"{CONNECT_ATTEMPTS} tries ({type(cause).__name__}: {cause or 'refused'}); "
                "start one (nats-server -js) or leave DATA_PLATFORM_EVENTS_URL empty for "
                "landing files (transient: retried with backoff)"
            ) from None
        try:
            js = nc.jetstream(timeout=10)
            await self._ensure_stream(js)
            return await work(nc, js)
        finally:
            await nc.close()

    async def _ensure_stream(self, js) -> None:
        try:
            info = await _stream_info_when_ready(js, self.stream)
        except NotFoundError:
            config = StreamConfig(
                name=self.stream,
                subjects=[self.subject],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
            await js.add_stream(config)  # the same config twice (a race) is accepted
            return
        if self.subject not in (info.config.subjects or []):
            raise ValueError(
                f"stream {self.stream} exists with subjects {info.config.subjects}, not "
                f"{self.subject}: pick another DATA_PLATFORM_EVENTS_STREAM or delete the stream"
            )

    async def _ensure_consumer(self, js) -> None:
        # Creating a durable consumer with the config it has is a no-op; a changed ack_wait
        # is an update the server accepts.
        await js.add_consumer(
            self.stream,
            ConsumerConfig(
                durable_name=self.consumer,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=float(self.ack_wait),
                max_ack_pending=MAX_ACK_PENDING,
                filter_subject=self.subject,
            ),
        )

    def publish(self, payloads: list[bytes]) -> None:
        async def work(nc, js) -> None:
            token = uuid.uuid4().hex
            waiting = dict(enumerate(payloads))
            deadline = asyncio.get_running_loop().time() + PUBLISH_RETRY_SECONDS
            last_error: BaseException | None = None
            while waiting:
                futures = {}
                for index, payload in waiting.items():
                    headers = {"Nats-Msg-Id": f"{token}-{index}"}
                    futures[index] = await js.publish_async(self.subject, payload, headers=headers)
                remaining = max(1.0, deadline - asyncio.get_running_loop().time())
                await asyncio.wait(futures.values(), timeout=min(10.0, remaining))
                for index, future in futures.items():
                    if not future.done():
                        future.cancel()
                    elif future.cancelled():
                        # nats-py cancels the PubAck waits of a connection it lost (a server
                        # restarting); exception() would raise CancelledError: publish again.
                        last_error = ConnectionResetError("the PubAck wait was cancelled")
                    elif future.exception() is None:
                        waiting.pop(index)  # a PubAck (maybe "duplicate": stored already)
                    else:
                        last_error = future.exception()
                if waiting and asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(
                        f"{len(waiting)} of {len(payloads)} messages without a PubAck after "
                        f"{PUBLISH_RETRY_SECONDS} s (last error: {last_error})"
                    )

        self._run(f"publishing {len(payloads)} messages", work)

    async def _pull(self, nc, batch: int, wait_seconds: float | None) -> list:
        """One pull request for up to ``batch`` messages: ``wait_seconds`` None asks for what
        is there now (``no_wait``), else waits up to that long for them.

        Not nats-py's ``PullSubscription.fetch``: its timeout bounds the whole receipt, so a
        large batch came back early while the server was still sending (measured: 1,406 of
        10,000 in a 1 s fetch), and the rest waited out ack_wait (5 min) to come again. Here
        the request ends when the server says so (all ``batch`` given, or a status: 404 no
        messages, 408 expired), and the timeout only guards against a server gone."""
        got: list = []
        finished = asyncio.Event()

        async def take(message) -> None:
            if not message.data and message.headers and message.headers.get("Status"):
                finished.set()  # the server ended the request
                return
            got.append(message)
            if len(got) >= batch:
                finished.set()

        inbox = nc.new_inbox()
        subscription = await nc.subscribe(
            inbox, cb=take, pending_msgs_limit=batch + 16, pending_bytes_limit=1 << 30
        )
        request: dict = {"batch": batch}
        if wait_seconds is None:
            request["no_wait"] = True
        else:
            request["expires"] = int(wait_seconds * 1e9)
        try:
            await nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}",
                json.dumps(request).encode(),
                reply=inbox,
            )
            await asyncio.wait_for(finished.wait(), (wait_seconds or 0) + 30)
        finally:
            await subscription.unsubscribe()
        return got

    def fetch(self, max_messages: int, wait_seconds: float) -> Delivery:
        async def work(nc, js) -> list:
            await self._ensure_consumer(js)
            received = await self._pull(nc, max_messages, None)
            if not received and wait_seconds > 0:
                # Nothing there: wait for the first, then take what came beside it.
                received = await self._pull(nc, 1, wait_seconds)
                if received and max_messages > 1:
                    received += await self._pull(nc, max_messages - 1, None)
            # Msg.metadata parses the reply subject on every access: once per message.
            return [
                (meta.sequence.stream, m.data, meta.timestamp, m.reply)
                for m in received
                for meta in (m.metadata,)
            ]

        rows = self._run(f"fetching up to {max_messages} messages for {self.consumer}", work)
        messages = [
            EventMessage(self.source, seq, data, published.astimezone(dt.UTC))
            for seq, data, published, _ in rows
        ]
        replies = [reply for *_, reply in rows]
        return Delivery(messages, lambda: self._ack(replies))

    def _ack(self, replies: list[str]) -> None:
        async def work(nc, js) -> None:
            # Every acknowledgement but the last is sent without waiting; the last waits for
            # the server's answer, and the server handles one connection's messages in order.
            for reply in replies[:-1]:
                await nc.publish(reply, b"+ACK")
            await nc.request(replies[-1], b"+ACK", timeout=10)

        self._run(f"acknowledging {len(replies)} messages for {self.consumer}", work)

    def lag(self) -> ConsumerLag:
        async def work(nc, js) -> ConsumerLag:
            await self._ensure_consumer(js)
            info = await js.consumer_info(self.stream, self.consumer)
            pending = (info.num_pending or 0) + (info.num_ack_pending or 0)
            if not pending:
                return ConsumerLag(0, None)
            first = (info.ack_floor.stream_seq if info.ack_floor else 0) + 1
            try:
                message = await js.get_msg(self.stream, seq=first, subject=self.subject, next=True)
            except NotFoundError:
                return ConsumerLag(pending, None)
            return ConsumerLag(pending, message.time.astimezone(dt.UTC) if message.time else None)

        return self._run(f"the lag of consumer {self.consumer}", work)
