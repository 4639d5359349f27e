"""The NATS JetStream backend of the event broker (:mod:`data_platform.resources.events`, whose
documentation describes it): a stream with file storage and a durable pull consumer, over
nats-py's asyncio client. Imported only where the broker's URL is ``nats://``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable

import backoff
import nats
from nats.errors import NoRespondersError, NoServersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError, ServiceUnavailableError

from data_platform.core.errors import redact
from data_platform.resources.event_messages import ConsumerLag, Delivery, EventMessage
from data_platform.resources.faults import TransientFault, faults

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


class NatsBroker:
    """The NATS JetStream backend (see :mod:`data_platform.resources.events`); its methods
    are the resource's, which picks it for a ``nats://`` URL."""

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
