"""The event stream into raw.web_events: exactly once in effect, with the real broker.

Each backend (JSON Lines files in the lake's landing zone; NATS JetStream on this machine's
server, a stream of the test's own) gets a state folder of its own with the session's seeded
sources and the stores and products loaded. Events are made here, independently of the
simulator, from the seeded stores and products, and published through the platform's broker
resource; micro-batches run as the sensor launches them (``headless.micro_batch``).

Asserted: every published event arrives once (ids match) after a normal run, after a run killed
with SIGKILL after its warehouse write and before its acknowledgement, after one killed between
the warehouse write and the lake write, after the same batch is delivered again, and across a
NATS server restart; late, duplicate, out-of-order, future and malformed events end where the
rules say, and published = loaded + quarantined.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from unittest import mock

import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance

from data_platform.core.settings import HOME, Settings
from data_platform.headless import execute, micro_batch
from data_platform.resources import open_resources
from tests import in_process
from tests.conftest import SETTINGS
from tests.mart_compare import differences
from tests.servers import free_port
from tests.stream_oracle import KEYS, activity_5min, daily_conversion

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture(scope="module")
def batch_built(tmp_path_factory, seeded) -> Path:
    """A state folder with the session's seeded sources and the batch side built (every raw
    asset, staging model and mart over the seeded days), as a running platform has it: the
    stream models join the batch ones (stg_orders, fct_daily_store_sales)."""
    home = tmp_path_factory.mktemp("batch-built")
    shutil.copyfile(SETTINGS.home / "shop.db", home / "shop.db")
    shutil.copytree(Path(SETTINGS.lake_url) / "landing", home / "lake" / "landing")
    summary = execute(
        Settings.from_environ({HOME: str(home)}), instance=DagsterInstance.ephemeral()
    )
    assert summary.success, summary
    return home


def _state(
    tmp_path_factory, template: Path, name: str, extra: dict[str, str]
) -> in_process.Platform:
    """A copy of the ``template`` state folder (:func:`batch_built`) with settings ``extra``."""
    home = tmp_path_factory.mktemp(name)
    shutil.copytree(template, home, dirs_exist_ok=True, ignore=shutil.ignore_patterns("dagster"))
    settings = Settings.from_environ({HOME: str(home), **extra})
    platform = in_process.Platform(settings)
    platform.extra = extra
    return platform


def _nats_settings(url: str = NATS_URL) -> dict[str, str]:
    return {
        "DATA_PLATFORM_EVENTS_URL": url,
        "DATA_PLATFORM_EVENTS_STREAM": f"TEST_{uuid.uuid4().hex[:10].upper()}",
        "DATA_PLATFORM_EVENTS_ACK_WAIT_SECONDS": "2",
    }


@pytest.fixture(params=["files", "nats"], scope="module")
def live(request, tmp_path_factory, batch_built):
    extra = {} if request.param == "files" else _nats_settings()
    return _state(tmp_path_factory, batch_built, f"live-{request.param}", extra)


class Shop:
    """Events of made-up visits to the seeded shop's stores, as the payload contract says."""

    def __init__(self, platform: in_process.Platform, seed: int = 7):
        stores = platform.warehouse.query("select id from raw.stores order by id")
        products = platform.warehouse.query("select sku from raw.products order by sku")
        self.stores = [r["id"] for r in stores]
        self.products = [r["sku"] for r in products]
        self.rng = random.Random(seed)

    def visit(self, when: dt.datetime, convert: bool) -> list[dict]:
        rng = self.rng
        session, store = str(uuid.UUID(int=rng.getrandbits(128))), rng.choice(self.stores)
        base = {
            "session_id": session,
            "visitor_id": f"v-{rng.randrange(10**6)}",
            "customer_id": None,
            "store_id": store,
            "page": None,
            "product_id": None,
            "order_id": None,
            "order_total": None,
        }
        kinds = [("session_started", {}), ("page_viewed", {"page": "/menu"})]
        product = rng.choice(self.products)
        kinds += [("product_viewed", {"product_id": product})]
        if convert:
            kinds += [("added_to_cart", {"product_id": product})]
            order = {"order_id": str(uuid.uuid4()), "order_total": rng.randrange(500, 5000)}
            kinds += [("checkout_completed", order)]
        events = []
        for step, (kind, fields) in enumerate(kinds):
            at = when + dt.timedelta(seconds=20 * step)
            events.append(
                {
                    **base,
                    **fields,
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "event_type": kind,
                    "event_time": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
                }
            )
        return events

    def events(self, visits: int, now: dt.datetime) -> list[dict]:
        """``visits`` visits in the last half hour, a third converting."""
        out = []
        for _ in range(visits):
            when = now - dt.timedelta(seconds=self.rng.randrange(60, 1800))
            out += self.visit(when, convert=self.rng.random() < 0.33)
        return out


def _environment(platform):
    """The state folder's settings in the environment while the block runs: the resources
    read a setting given explicitly from there (EnvVar)."""
    return mock.patch.dict(os.environ, platform.extra)


def _publish(platform: in_process.Platform, payloads: list[bytes]) -> None:
    with _environment(platform), open_resources(platform.settings, "events") as resources:
        resources["events"].publish(payloads)


def _encode(events: list[dict]) -> list[bytes]:
    return [json.dumps(e).encode() for e in events]


def _loaded_ids(platform) -> list[str]:
    if not platform.warehouse.table_exists("raw", "web_events"):
        return []
    return [r["event_id"] for r in platform.warehouse.query("select event_id from raw.web_events")]


def _quarantine(platform) -> list[dict]:
    if not platform.warehouse.table_exists("quarantine", "web_events"):
        return []
    return platform.warehouse.query("select * from quarantine.web_events")


def _drain(platform, runs: int = 5):
    summaries = []
    for _ in range(runs):
        with _environment(platform):
            summary = micro_batch(platform.settings, platform.instance)
        if summary is None:
            return summaries
        assert summary.success, summary
        summaries.append(summary)
    raise AssertionError(f"events still pending after {runs} micro-batches")


def test_events_land_once_and_bad_ones_where_the_rules_say(live):
    shop = Shop(live, seed=11)
    now = dt.datetime.now(dt.UTC)
    good = shop.events(120, now)
    late = shop.events(4, now - dt.timedelta(hours=3))  # beyond the 2 h allowed lateness
    slightly_late = shop.events(3, now - dt.timedelta(minutes=80))  # within it
    duplicates = good[:7]  # the producer sent these again
    future = [{**good[10], "event_id": str(uuid.uuid4()), "event_time": "2999-01-01T00:00:00Z"}]
    malformed = [
        b'{"event_id": "x", "event_type": "session_started"',  # truncated
        b"not json at all",
        b"\xff\xfe\x00 not utf-8",
        json.dumps({**good[0], "event_id": None}).encode(),  # missing event_id
        json.dumps({**good[1], "event_id": str(uuid.uuid4()), "event_type": "teleported"}).encode(),
        json.dumps({**good[2], "event_id": str(uuid.uuid4()), "event_time": "yesterday"}).encode(),
        json.dumps(
            {
                **good[3],
                "event_id": str(uuid.uuid4()),
                "event_type": "checkout_completed",
                "order_id": None,
            }
        ).encode(),  # a checkout without its order
    ]
    valid = good + slightly_late
    payloads = _encode(valid + late + future + duplicates) + malformed
    random.Random(3).shuffle(payloads)  # out-of-order delivery
    before_ids, before_q = len(_loaded_ids(live)), len(_quarantine(live))
    _publish(live, payloads)

    summaries = _drain(live)

    assert summaries
    loaded = _loaded_ids(live)[before_ids:]
    quarantined = _quarantine(live)[before_q:]
    # Conservation: every published message is loaded or quarantined, once.
    assert len(loaded) + len(quarantined) == len(payloads)
    assert sorted(loaded) == sorted(e["event_id"] for e in valid)
    rules = {}
    for row in quarantined:
        rules[row["rule"]] = rules.get(row["rule"], 0) + 1
    assert rules.get("late") == len(late)
    assert rules.get("future") == 1
    # A resent copy (exact: the same payload) is quarantined, the first copy loaded.
    assert rules.get("duplicate_row") == len(duplicates)
    assert "field_uniqueness" not in rules
    assert rules.get("malformed_json") == 2 and rules.get("encoding") == 1
    assert rules.get("not_nullable") == 1
    assert sum(n for rule, n in rules.items() if rule.startswith("isin(")) == 1
    assert rules.get("type(timestamp[us])") == 1
    assert rules.get("checkout_has_order") == 1
    assert sum(rules.values()) == len(quarantined)
    messages = [r["message"] for r in quarantined if r["rule"] == "late"]
    assert all("beyond the allowed lateness of 120 min" in m for m in messages)
    # Each quarantine record names where the message came from.
    assert all(r["source"] and r["source_row"] for r in quarantined)

    # Nothing pending: the next micro-batch has nothing to do, and changes nothing.
    with _environment(live):
        assert micro_batch(live.settings, live.instance) is None
    assert len(_loaded_ids(live)) == before_ids + len(loaded)


def test_the_lake_holds_what_the_warehouse_holds(live):
    shop = Shop(live, seed=12)
    _publish(live, _encode(shop.events(30, dt.datetime.now(dt.UTC))))
    _drain(live)
    root = Path(live.settings.lake_url) / "raw" / "web_events"
    in_lake = sorted(
        event_id
        for path in root.rglob("batch-*.parquet")
        for event_id in pq.read_table(path, columns=["event_id"])["event_id"].to_pylist()
    )
    assert in_lake == sorted(_loaded_ids(live))


def test_the_same_batch_delivered_again_loads_nothing_twice(tmp_path_factory, batch_built):
    """The file backend's acknowledgements lost (its consumer state deleted): every file is
    delivered again, and nothing is loaded twice."""
    platform = _state(tmp_path_factory, batch_built, "redelivered", {})
    shop = Shop(platform, seed=13)
    _publish(platform, _encode(shop.events(40, dt.datetime.now(dt.UTC))))
    _drain(platform)
    ids = _loaded_ids(platform)
    quarantined = len(_quarantine(platform))
    consumers = Path(platform.settings.lake_url) / "manifests" / "consumers"
    assert consumers.is_dir()
    shutil.rmtree(consumers)

    summaries = _drain(platform)

    assert summaries
    assert sorted(_loaded_ids(platform)) == sorted(ids)
    assert len(_quarantine(platform)) == quarantined


# The child: one micro-batch in-process that halts (and waits to be killed) at a chosen point.
_CHILD = """
import sys, time
from pathlib import Path
from dagster import DagsterInstance
from data_platform.core.settings import Settings
from data_platform.headless import execute, micro_batch
import data_platform.resources.events as events
import data_platform.sources.web_events.consumer as consumer
where, signal_file = sys.argv[1], sys.argv[2]

def halt(*args, **kwargs):
    Path(signal_file).touch()
    time.sleep(3600)

if where == "ack":
    events.Delivery.ack = halt
else:
    consumer._write_lake = halt
micro_batch(Settings.from_environ(), DagsterInstance.ephemeral())
"""


@pytest.mark.parametrize("where", ["ack", "lake"])
@pytest.mark.parametrize("backend", ["files", "nats"])
def test_a_run_killed_before_its_acknowledgement_loads_once(
    tmp_path_factory, batch_built, backend, where
):
    """SIGKILL after the warehouse commit: before the lake write (``lake``) or before the
    acknowledgement (``ack``). The next micro-batch gets the batch again, loads nothing twice,
    and the lake ends up with every row the warehouse holds."""
    extra = {} if backend == "files" else _nats_settings()
    platform = _state(tmp_path_factory, batch_built, f"killed-{backend}-{where}", extra)
    shop = Shop(platform, seed=14)
    events = shop.events(50, dt.datetime.now(dt.UTC))
    _publish(platform, _encode(events))
    signal_file = tmp_path_factory.mktemp("signal") / "halted"
    env = {**os.environ, HOME: str(platform.settings.home), **extra}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, where, str(signal_file)],
        env=env,
        cwd=Path(__file__).parents[1],
    )
    try:
        deadline = time.monotonic() + 120
        while not signal_file.exists():
            assert child.poll() is None, "the child ended before the halt point"
            assert time.monotonic() < deadline, "the child never reached the halt point"
            time.sleep(0.2)
        assert len(_loaded_ids(platform)) == len(events)  # the warehouse write committed
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    if backend == "nats":
        time.sleep(2.5)  # the consumer's ack wait: then the batch is delivered again

    summaries = _drain(platform)

    assert summaries
    assert sorted(_loaded_ids(platform)) == sorted(e["event_id"] for e in events)
    root = Path(platform.settings.lake_url) / "raw" / "web_events"
    in_lake = sorted(
        event_id
        for path in root.rglob("batch-*.parquet")
        for event_id in pq.read_table(path, columns=["event_id"])["event_id"].to_pylist()
    )
    assert in_lake == sorted(e["event_id"] for e in events)


def test_a_nats_server_restarted_mid_stream_loses_nothing(tmp_path_factory, batch_built):
    port = free_port()
    store = tmp_path_factory.mktemp("nats-store")
    command = [
        "/usr/sbin/nats-server",
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        "-js",
        "-sd",
        str(store),
    ]

    def start() -> subprocess.Popen:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return server
            except OSError:
                time.sleep(0.1)
        server.kill()
        raise AssertionError("nats-server did not start")

    server = start()
    try:
        platform = _state(
            tmp_path_factory,
            batch_built,
            "nats-restart",
            _nats_settings(f"nats://127.0.0.1:{port}"),
        )
        shop = Shop(platform, seed=15)
        first = shop.events(30, dt.datetime.now(dt.UTC))
        second = shop.events(30, dt.datetime.now(dt.UTC))
        _publish(platform, _encode(first))
        _drain(platform)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        server = start()
        _publish(platform, _encode(second))
        _drain(platform)
        assert sorted(_loaded_ids(platform)) == sorted(e["event_id"] for e in first + second)
    finally:
        server.kill()
        server.wait()


def _marts(platform) -> dict[str, list[dict]]:
    """The stream marts of the state folder, without the load times (which differ by backend)."""
    out = {}
    for mart in ("fct_store_activity_5min", "fct_daily_conversion"):
        rows = platform.warehouse.query(f"select * from marts.{mart}")
        out[mart] = [{k: v for k, v in r.items() if k != "last_loaded_at"} for r in rows]
    return out


def test_files_and_nats_give_the_same_marts_as_an_independent_computation(
    tmp_path_factory, batch_built
):
    """The same messages (two micro-batches, the second holding events late within the allowed
    lateness, resent copies, malformed messages, shuffled) through the file landing default and
    NATS: the same stream marts on both, equal to tests.stream_oracle over the published events
    the rules accept (every field from the payloads as published; only each event's load time,
    lineage, comes from raw.web_events)."""
    files = _state(tmp_path_factory, batch_built, "same-files", {})
    nats = _state(tmp_path_factory, batch_built, "same-nats", _nats_settings())
    shop = Shop(files, seed=21)
    now = dt.datetime.now(dt.UTC)
    first = shop.events(40, now)
    late = shop.events(6, now - dt.timedelta(minutes=70))  # within the 2 h allowed lateness
    resent = [dict(e) for e in first[:5]]  # copies: quarantined as duplicate_row
    again = [{**e, "event_id": str(uuid.uuid4())} for e in first[5:6]]  # a new id: a new event
    rng = random.Random(5)
    malformed = [b"{not json", b'{"event_id": 1}']
    batches = [_encode(first), _encode(late + resent + again) + malformed]
    for batch in batches:
        rng.shuffle(batch)

    for platform in (files, nats):
        for batch in batches:
            _publish(platform, batch)
            _drain(platform)
    marts = {name: _marts(platform) for name, platform in (("files", files), ("nats", nats))}

    for mart, key in (
        ("fct_store_activity_5min", ("store_id", "window_start")),
        ("fct_daily_conversion", ("store_id", "event_date")),
    ):
        assert differences(marts["files"][mart], marts["nats"][mart], key) == []
    # The accepted events as published, typed as raw.web_events holds them.
    loaded_at = {
        r["event_id"]: r["_loaded_at"]
        for r in files.warehouse.query("select event_id, _loaded_at from raw.web_events")
    }
    accepted = first + late + again
    assert sorted(loaded_at) == sorted(e["event_id"] for e in accepted)
    events = [
        {
            **e,
            "event_time": dt.datetime.fromisoformat(e["event_time"])
            .astimezone(dt.UTC)
            .replace(tzinfo=None),
            "_loaded_at": loaded_at[e["event_id"]],
        }
        for e in accepted
    ]
    orders = files.warehouse.query("select id, ordered_at from raw.orders")
    expected = {
        "fct_store_activity_5min": activity_5min(events),
        "fct_daily_conversion": daily_conversion(events, orders),
    }
    for mart, rows in expected.items():
        rows = [{k: v for k, v in r.items() if k != "last_loaded_at"} for r in rows]
        problems = differences(rows, marts["files"][mart], KEYS[mart])
        assert len(rows) == len(marts["files"][mart]) and problems == [], problems


def test_the_sensor_waits_for_the_batch_side_then_launches_one_micro_batch_at_a_time(
    tmp_path_factory, batch_built
):
    from dagster import AssetMaterialization, DagsterRunStatus, RunRequest, build_sensor_context

    from data_platform.resources import platform_resources
    from data_platform.sources.web_events.jobs import BATCH_INPUTS
    from data_platform.sources.web_events.sensor import run_days, web_events_sensor

    platform = _state(tmp_path_factory, batch_built, "sensor", {})
    resources = platform_resources(platform.settings)

    def tick():
        with build_sensor_context(
            instance=platform.instance,
            resources={"events": resources["events"], "quality": resources["quality"]},
            definitions=platform.defs,
        ) as context:
            return web_events_sensor(context)

    assert "no pending events" in tick().skip_message
    shop = Shop(platform, seed=31)
    _publish(platform, _encode(shop.events(5, dt.datetime.now(dt.UTC))))

    # The state's warehouse has the batch models, but this instance never saw them built.
    waiting = tick()
    inputs = sorted(
        k.to_user_string() for k in BATCH_INPUTS.resolve(platform.defs.resolve_asset_graph())
    )
    assert inputs == ["marts/fct_daily_store_sales", "staging/stg_orders", "staging/stg_stores"]
    assert "were never materialized (" + ", ".join(inputs) + ")" in waiting.skip_message
    for key in BATCH_INPUTS.resolve(platform.defs.resolve_asset_graph()):
        platform.instance.report_runless_asset_event(AssetMaterialization(key))

    now = dt.datetime.now(dt.UTC)
    request = tick()
    assert isinstance(request, RunRequest), request
    first, last = run_days(now, now, dt.timedelta(minutes=120), platform.settings.partition_start)
    assert request.partition_key == (first.isoformat() if first == last else None)
    # One micro-batch at a time: while a run of the job is in flight, the sensor waits.
    job = platform.defs.resolve_job_def("web_events_job")
    queued = platform.instance.create_run_for_job(job, status=DagsterRunStatus.NOT_STARTED)
    assert f"micro-batch {queued.run_id} is queued or running" in tick().skip_message
    platform.instance.report_run_canceled(queued)
    # Once the micro-batch has taken the events in, nothing is pending.
    _drain(platform)
    assert "no pending events" in tick().skip_message
