"""The event broker resource on its two backends: the NATS JetStream server on 127.0.0.1:4222
(a stream of its own per test, deleted after), a NATS server the test starts and restarts
itself, and newline-delimited JSON files in a lake (a local folder, and S3 through moto).

Under ``CI=true`` a missing NATS server fails these tests, never skips them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from data_platform.core.lake_layout import consumer_state_path, landing_events_path
from data_platform.core.settings import SettingsError
from data_platform.resources import EventBrokerResource, LakeResource, platform_resources
from data_platform.resources import events as events_module
from data_platform.resources import nats_broker as nats_module
from data_platform.resources.faults import TransientFault
from tests.conftest import SETTINGS
from tests.servers import create_bucket, free_port, unavailable

NATS_URL = "nats://127.0.0.1:4222"
NATS_SERVER = Path("/usr/sbin/nats-server")
# Bytes no JSON parser takes, and an empty payload: they must come through untouched.
ODD_PAYLOADS = [b"\xff\xfe not UTF-8", b'{"event_id": "trunc', b"", b"plain text"]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _delete_stream(url: str, stream: str) -> None:
    import nats

    async def delete() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(stream)
        finally:
            await nc.close()

    asyncio.run(delete())


@pytest.fixture
def nats_broker(tmp_path):
    """A broker on the machine's NATS server, on a stream of its own (deleted after)."""
    if not _reachable("127.0.0.1", 4222):
        unavailable(f"NATS at {NATS_URL}")
    stream = f"TEST_{uuid.uuid4().hex[:10].upper()}"
    broker = EventBrokerResource(
        url=NATS_URL,
        stream=stream,
        subject=f"test.{stream.lower()}",
        ack_wait_seconds=2,
        lake=LakeResource(url=str(tmp_path / "lake")),
    )
    yield broker
    _delete_stream(NATS_URL, stream)


@pytest.fixture
def file_broker(tmp_path):
    return EventBrokerResource(lake=LakeResource(url=str(tmp_path / "lake")))


@pytest.fixture(params=["file", "nats"])
def broker(request):
    return request.getfixturevalue(f"{request.param}_broker")


def _events(n: int, tag: str = "e") -> list[bytes]:
    return [json.dumps({"event_id": f"{tag}-{i}", "n": i}).encode() for i in range(n)]


def _drain(broker: EventBrokerResource, max_messages: int = 100_000) -> list[bytes]:
    """Fetch and acknowledge until nothing is pending; the payloads in delivery order."""
    seen: list[bytes] = []
    while True:
        delivery = broker.fetch(max_messages, wait_seconds=0.2)
        if not delivery.messages:
            return seen
        seen.extend(m.data for m in delivery.messages)
        delivery.ack()


def test_publish_fetch_ack_then_nothing_pending(broker):
    assert broker.backend == ("nats" if broker.url else "files")
    before = dt.datetime.now(dt.UTC)
    payloads = _events(5) + ODD_PAYLOADS
    broker.publish(payloads)
    after = dt.datetime.now(dt.UTC)

    delivery = broker.fetch(100, wait_seconds=1)
    assert [m.data for m in delivery.messages] == payloads  # untouched, in order
    positions = [m.position for m in delivery.messages]
    assert positions == sorted(positions) and len(set(positions)) == len(payloads)
    sources = {m.source for m in delivery.messages}
    if broker.backend == "nats":
        assert sources == {f"nats:{broker.stream}"}
        assert positions == list(range(1, len(payloads) + 1))  # a new stream's sequences
    else:
        [source] = sources
        assert source.startswith(f"landing/events/{before.date()}/") and source.endswith(".jsonl")
        assert positions == list(range(1, len(payloads) + 1))  # lines of the file
    slack = dt.timedelta(seconds=1)  # the server's clock rounds; same machine
    for message in delivery.messages:
        assert message.published_at.utcoffset() == dt.timedelta(0)
        assert before - slack <= message.published_at <= after + slack

    delivery.ack()
    delivery.ack()  # twice: harmless
    assert broker.fetch(100, wait_seconds=0.2).messages == []
    lag = broker.lag()
    assert (lag.pending, lag.oldest_published_at) == (0, None)
    assert lag.oldest_age_seconds(dt.datetime.now(dt.UTC)) is None


def test_unacknowledged_delivery_comes_back(broker):
    payloads = _events(3)
    broker.publish(payloads)
    first = broker.fetch(10)
    assert [m.data for m in first.messages] == payloads
    if broker.backend == "nats":
        # In flight until ack_wait (2 s) has passed, then delivered again.
        assert broker.fetch(10, wait_seconds=0.2).messages == []
        time.sleep(2.5)
    again = broker.fetch(10, wait_seconds=2)
    assert [(m.source, m.position, m.data) for m in again.messages] == [
        (m.source, m.position, m.data) for m in first.messages
    ]
    again.ack()
    assert broker.fetch(10, wait_seconds=0.2).messages == []


def test_lag_counts_pending_and_dates_the_oldest(broker):
    broker.publish(_events(3, "a"))
    time.sleep(0.05)
    middle = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    broker.publish(_events(2, "b"))

    lag = broker.lag()
    assert lag.pending == 5
    assert lag.oldest_published_at < middle
    assert lag.oldest_age_seconds(middle + dt.timedelta(seconds=10)) > 10

    # Take the first publish only (on files: its whole file, 3 lines).
    delivery = broker.fetch(3)
    assert [m.data for m in delivery.messages] == _events(3, "a")
    lag = broker.lag()
    assert lag.pending == 5  # fetched is not acknowledged
    delivery.ack()
    lag = broker.lag()
    assert lag.pending == 2
    assert lag.oldest_published_at > middle
    assert _drain(broker) == _events(2, "b")
    assert broker.lag().pending == 0


def test_fetch_is_bounded_by_max_messages(broker):
    for tag in "abc":
        broker.publish(_events(4, tag))
    delivery = broker.fetch(6)
    if broker.backend == "files":
        # Whole files: the first (4 lines); the second would make 8.
        assert [m.data for m in delivery.messages] == _events(4, "a")
        assert len(broker.fetch(1).messages) == 4  # at least one file, however large
    else:
        assert [m.data for m in delivery.messages] == (_events(4, "a") + _events(4, "b"))[:6]
    delivery.ack()


def test_large_batch_in_one_fetch(broker):
    """A batch of 50,000 comes in one fetch and goes with one ack (the raw asset's size)."""
    payloads = _events(50_000)
    started = time.perf_counter()
    broker.publish(payloads)
    published = time.perf_counter()
    delivery = broker.fetch(50_000, wait_seconds=1)
    assert len(delivery.messages) == 50_000
    delivery.ack()
    done = time.perf_counter()
    print(
        f"{broker.backend}: published 50,000 in {published - started:.2f} s, fetched and "
        f"acknowledged in {done - published:.2f} s"
    )
    assert [m.data for m in delivery.messages] == payloads
    assert broker.lag().pending == 0


# -- files ------------------------------------------------------------------------------


def test_file_landing_layout(file_broker, tmp_path):
    file_broker.publish([b'{"a": 1}', b"x"])
    [path] = file_broker.lake.list_paths("landing/events/")
    day, name = path.split("/")[2:]
    assert dt.date.fromisoformat(day) == dt.datetime.now(dt.UTC).date()
    assert name.endswith(".jsonl") and name[8] == "T" and name.split("-")[0].endswith("Z")
    assert file_broker.lake.read_bytes(path) == b'{"a": 1}\nx\n'
    with pytest.raises(ValueError, match="payload 1 holds a newline"):
        file_broker.publish([b"ok", b"two\nlines"])
    assert len(file_broker.lake.list_paths("landing/events/")) == 1  # nothing written


def test_file_landing_late_with_an_older_name_is_delivered(file_broker):
    lake = file_broker.lake
    now = dt.datetime.now(dt.UTC)
    file_broker.publish([b"newer"])
    assert _drain(file_broker) == [b"newer"]
    # A file lands after the newer one was acknowledged, named by an earlier arrival.
    late = landing_events_path(now - dt.timedelta(seconds=30), "late0001")
    lake.write_bytes(late, b"older\n")
    delivery = file_broker.fetch(10)
    assert [(m.source, m.data) for m in delivery.messages] == [(late, b"older")]
    assert delivery.messages[0].published_at == now - dt.timedelta(seconds=30)
    delivery.ack()
    assert file_broker.lag().pending == 0


def test_file_days_close_and_a_sweep_finds_late_files(file_broker, monkeypatch):
    """Old days with nothing pending are not listed on every fetch; the sweep still finds a
    file landing there later."""
    lake = file_broker.lake
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    lake.write_bytes(landing_events_path(old, "aaaa0001"), b"one\n")
    assert _drain(file_broker) == [b"one"]
    file_broker.fetch(10)  # finds the day with nothing pending: closed
    closed = json.loads(lake.read_bytes(consumer_state_path("raw_web_events", "closed.json")))
    assert closed["days"] == [old.date().isoformat()]

    listed: list[str] = []
    original = LakeResource.list_paths

    def spy(self, prefix):
        listed.append(prefix)
        return original(self, prefix)

    monkeypatch.setattr(LakeResource, "list_paths", spy)
    late = landing_events_path(old + dt.timedelta(seconds=1), "aaaa0002")
    lake.write_bytes(late, b"two\n")
    assert file_broker.fetch(10).messages == []  # closed: not listed before the sweep
    assert not any(old.date().isoformat() in p for p in listed)
    assert file_broker.lag().pending == 0

    monkeypatch.setattr(events_module, "SWEEP_SECONDS", 0)
    delivery = file_broker.fetch(10)
    assert [(m.source, m.data) for m in delivery.messages] == [(late, b"two")]
    delivery.ack()
    monkeypatch.setattr(events_module, "SWEEP_SECONDS", 3600)
    assert _drain(file_broker) == []


def test_file_landing_of_another_producer(file_broker):
    """A file named by another producer: delivered, dated by when it landed."""
    path = "landing/events/2026-01-02/part-0001.jsonl"
    file_broker.lake.write_bytes(path, b'{"a": 1}\n{"a": 2}')  # no final newline
    delivery = file_broker.fetch(10)
    assert [(m.position, m.data) for m in delivery.messages] == [(1, b'{"a": 1}'), (2, b'{"a": 2}')]
    age = dt.datetime.now(dt.UTC) - delivery.messages[0].published_at
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=1)


def test_file_backend_on_s3(s3_env, monkeypatch):
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    bucket = f"events-{uuid.uuid4().hex[:8]}"
    create_bucket(s3_env, bucket)
    broker = EventBrokerResource(lake=LakeResource(url=f"s3://{bucket}/platform"))
    broker.publish(_events(3, "s3"))
    broker.publish(ODD_PAYLOADS)
    assert broker.lag().pending == 3 + len(ODD_PAYLOADS)
    unacked = broker.fetch(3)
    assert [m.data for m in unacked.messages] == _events(3, "s3")
    assert _drain(broker) == _events(3, "s3") + ODD_PAYLOADS
    assert broker.lag().pending == 0


# -- NATS -------------------------------------------------------------------------------


@contextmanager
def _own_nats(port: int, store: Path):
    """A NATS server with JetStream on loopback ``port``, storing in ``store``."""
    if not NATS_SERVER.exists():
        unavailable(f"{NATS_SERVER}")
    process = subprocess.Popen(
        [str(NATS_SERVER), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not _reachable("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nats-server on port {port} did not start", pytrace=False)
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_nats_server_restarted_mid_stream_loses_nothing(tmp_path):
    """A server restarted while events are published and consumed: every event arrives, and
    none acknowledged comes again."""
    port, store = free_port(), tmp_path / "jetstream"
    broker = EventBrokerResource(
        url=f"nats://127.0.0.1:{port}",
        stream="RESTART_TEST",
        ack_wait_seconds=2,
        lake=LakeResource(url=str(tmp_path / "lake")),
    )
    published: list[bytes] = []
    acked: list[bytes] = []
    failures: list[BaseException] = []

    def publish_steadily(chunks: int) -> None:
        for chunk in range(chunks):
            payloads = _events(200, f"c{chunk}")
            try:
                broker.publish(payloads)  # retries through the restart on its own
            except BaseException as error:  # noqa: BLE001 - reported by the test
                failures.append(error)
                return
            published.extend(payloads)
            time.sleep(0.02)

    with _own_nats(port, store):
        broker.publish(_events(500, "before"))
        published.extend(_events(500, "before"))
        delivery = broker.fetch(300)
        delivery.ack()
        acked.extend(m.data for m in delivery.messages)
        unacked = broker.fetch(100)  # in flight across the restart: delivered again later
        assert len(unacked.messages) == 100
        publisher = threading.Thread(target=publish_steadily, args=(40,))
        publisher.start()
        time.sleep(0.3)
    # Down for a second while the publisher keeps trying, then up on the same store.
    time.sleep(1)
    with _own_nats(port, store):
        publisher.join(timeout=120)
        assert not failures, failures
        time.sleep(2.5)  # past ack_wait: the unacknowledged 100 are due again
        acked.extend(_drain(broker, 1_000))
        assert broker.lag().pending == 0
        assert broker.fetch(100, wait_seconds=0.5).messages == []
    assert len(published) == 500 + 40 * 200
    assert sorted(acked) == sorted(published)  # nothing lost, nothing twice
    assert len(set(acked)) == len(acked)


def test_nats_refused_names_the_url(tmp_path, monkeypatch):
    monkeypatch.setattr(nats_module, "CONNECT_ATTEMPTS", 1)
    url = f"nats://127.0.0.1:{free_port()}"
    broker = EventBrokerResource(url=url, lake=LakeResource(url=str(tmp_path / "lake")))
    for call in (lambda: broker.publish([b"x"]), lambda: broker.fetch(1), broker.lag):
        with pytest.raises(TransientFault, match=f"no NATS server answers at {url}"):
            call()


def test_nats_stream_with_other_subjects_is_refused(nats_broker):
    nats_broker.publish([b"x"])
    other = nats_broker.model_copy(update={"subject": "test.other"})
    with pytest.raises(Exception, match="exists with subjects"):
        other.publish([b"y"])


# -- settings and wiring ----------------------------------------------------------------


def _environ(**values: str) -> dict[str, str]:
    return {"DATA_PLATFORM_HOME": str(SETTINGS.home), **values}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATA_PLATFORM_EVENTS_URL", "http://127.0.0.1:4222", "expected nats://host:port"),
        ("DATA_PLATFORM_EVENTS_URL", "nats://127.0.0.1:99999", "port is not a number"),
        ("DATA_PLATFORM_EVENTS_URL", "nats://", "e.g. nats://127.0.0.1:4222"),
        ("DATA_PLATFORM_EVENTS_STREAM", "shop.events", "e.g. SHOP_EVENTS"),
        ("DATA_PLATFORM_EVENTS_ACK_WAIT_SECONDS", "0", "of at least 1"),
        ("DATA_PLATFORM_EVENTS_ACK_WAIT_SECONDS", "5m", "whole number"),
    ],
)
def test_settings_refuse_bad_event_settings(name, value, message):
    with pytest.raises(SettingsError, match=message) as raised:
        from data_platform.core.settings import Settings

        Settings.from_environ(_environ(**{name: value}))
    assert str(raised.value).startswith(name)


def test_settings_and_resource_wiring():
    from data_platform.core.settings import Settings

    default = Settings.from_environ(_environ())
    assert (default.events_url, default.events_stream, default.events_ack_wait_seconds) == (
        "",
        "SHOP_EVENTS",
        300,
    )
    assert platform_resources(default)["events"].backend == "files"
    given = Settings.from_environ(
        _environ(
            DATA_PLATFORM_EVENTS_URL=NATS_URL,
            DATA_PLATFORM_EVENTS_STREAM="LIVE",
            DATA_PLATFORM_EVENTS_ACK_WAIT_SECONDS="60",
        )
    )
    assert (given.events_url, given.events_stream, given.events_ack_wait_seconds) == (
        NATS_URL,
        "LIVE",
        60,
    )
    events = platform_resources(given)["events"]
    # Set in the environment: passed as EnvVar, so the UI shows where the value comes from.
    assert type(events.url).__name__ == "EnvVar" and events.url == "DATA_PLATFORM_EVENTS_URL"
