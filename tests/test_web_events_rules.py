"""The stream's pure rules: how a micro-batch reads and judges messages, and which days a
micro-batch covers (no broker, no warehouse)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from data_platform.resources.events import EventMessage
from data_platform.sources.web_events.consumer import (
    FUTURE,
    LATE,
    StreamPolicy,
    batch_path,
    parse_messages,
)
from data_platform.sources.web_events.sensor import run_days

NOW = dt.datetime(2026, 12, 2, 0, 30, tzinfo=dt.UTC)
POLICY = StreamPolicy(allowed_lateness=dt.timedelta(hours=2), today=NOW.date())


def _event(**fields) -> dict:
    return {
        "event_id": "e1",
        "event_type": "page_viewed",
        "event_time": "2026-12-02T00:10:00Z",
        "session_id": "s1",
        "visitor_id": "v1",
        "customer_id": None,
        "store_id": "st1",
        "page": "/menu",
        "product_id": None,
        "order_id": None,
        "order_total": None,
        **fields,
    }


def _message(payload, position: int = 1, published: dt.datetime = NOW) -> EventMessage:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return EventMessage("nats:TEST", position, data, published)


def _verdicts(*messages: EventMessage) -> dict[int, str]:
    batch, _ = parse_messages(list(messages), POLICY)
    return {i: found[0].rule for i, found in batch.failures.items()}


def test_a_good_event_reads_typed_on_its_utc_day():
    batch, added = parse_messages(
        [_message(_event(event_time="2026-12-01T23:20:00-01:00"))], POLICY
    )
    assert not batch.failures and not added
    row = batch.rows.to_pylist()[0]
    assert row["event_time"] == dt.datetime(2026, 12, 2, 0, 20)  # UTC, zone-less
    assert row["_partition_date"] == dt.date(2026, 12, 2)
    assert row["published_at"] == NOW.replace(tzinfo=None)
    assert (row["_source"], row["_source_row"]) == ("nats:TEST", 1)


def test_lateness_is_publication_minus_event_time():
    within = _message(_event(event_time="2026-12-01T22:40:00Z"))  # 110 min before publication
    beyond = _message(_event(event_time="2026-12-01T22:20:00Z"), 2)  # 130 min
    assert _verdicts(within, beyond) == {1: LATE}
    batch, _ = parse_messages([beyond], POLICY)
    message = batch.failures[0][0].message
    assert "130 min after its event time" in message and "120 min" in message


def test_an_event_from_the_future_is_quarantined():
    ahead = _message(_event(event_time="2026-12-02T00:40:00Z"))  # 10 min after publication
    slightly = _message(_event(event_time="2026-12-02T00:33:00Z"), 2)  # 3 min: a clock skew
    assert _verdicts(ahead, slightly) == {0: FUTURE}


@pytest.mark.parametrize(
    ("payload", "rule", "column"),
    [
        (b"{not json", "malformed_json", None),
        (b"[1, 2]", "malformed_json", None),
        (b"\xff\xfe", "encoding", None),
        (_event(event_time="2026-12-02T00:10:00"), "time_zone", "event_time"),
        (_event(event_time="noon"), "type(timestamp[us])", "event_time"),
        (_event(order_total="12.5"), "type(int64)", "order_total"),
    ],
)
def test_what_does_not_read_fails_alone_naming_the_column(payload, rule, column):
    batch, _ = parse_messages([_message(payload), _message(_event(event_id="ok"), 2)], POLICY)
    assert list(batch.failures) == [0]
    failure = batch.failures[0][0]
    assert (failure.rule, failure.column) == (rule, column)
    assert batch.originals[0]["payload"]


def test_fields_outside_the_contract_are_counted():
    _, added = parse_messages([_message(_event(referrer="ads"))], POLICY)
    assert added == {"referrer": 1}


def test_run_days_cover_the_lateness_before_the_oldest_pending_message():
    first = dt.date(2026, 1, 1)
    lateness = dt.timedelta(hours=2)
    assert run_days(NOW, NOW, lateness, first) == (dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    noon = NOW.replace(hour=12)
    assert run_days(noon, noon, lateness, first) == (noon.date(), noon.date())
    # never before the first partition, never after today
    assert run_days(NOW, NOW, lateness, NOW.date()) == (NOW.date(), NOW.date())
    later = NOW + dt.timedelta(days=3)
    assert run_days(later, NOW, lateness, first)[0] == NOW.date()


def test_batch_paths():
    assert (
        batch_path("raw", dt.date(2026, 12, 2), "b1")
        == "raw/web_events/date=2026-12-02/batch-b1.parquet"
    )
    assert batch_path("quarantine", None, "b1") == "quarantine/web_events/undated/batch-b1.parquet"
