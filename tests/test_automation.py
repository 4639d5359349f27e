"""The daily schedule and the landing sensor, evaluated with Dagster's test contexts."""

import datetime as dt
import json

import duckdb
import pytest
from dagster import (
    DagsterInstance,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
)

from data_platform.automation.declarative import BATCH_MODELS
from data_platform.core.lake_layout import landing_daily_path, landing_reference_path
from data_platform.core.partitions import DAILY_CRON
from data_platform.core.pseudonyms import pseudonym
from data_platform.resources import LakeFile, LakeResource
from data_platform.sources.landing.sensor import landing_sensor, plan_runs
from tests.conftest import SETTINGS, code_location

defs = code_location()

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def tweet_line(tweet_id: str, user: str, at: str) -> str:
    return (
        json.dumps({"id": tweet_id, "user_id": user, "tweeted_at": at, "content": "jaffles!"})
        + "\n"
    )


@pytest.fixture
def lake(tmp_path) -> LakeResource:
    return LakeResource(url=str(tmp_path / "lake"))


def tick(lake: LakeResource, cursor: str | None, instance: DagsterInstance | None = None):
    """One sensor tick; on a fresh instance (no facts materialized) unless one is given."""
    with (
        DagsterInstance.ephemeral() as ephemeral,
        build_sensor_context(
            cursor=cursor,
            resources={"lake": lake},
            instance=instance or ephemeral,
            definitions=defs,
        ) as context,
    ):
        result = landing_sensor(context)
    return result.run_requests or [], result.cursor


def test_schedule_requests_the_previous_day():
    schedule = defs.resolve_schedule_def("daily_schedule")
    when = dt.datetime(2019, 1, 2, 1, 0, tzinfo=dt.UTC)
    with build_schedule_context(scheduled_execution_time=when) as context:
        data = schedule.evaluate_tick(context)
    [request] = data.run_requests
    assert request.partition_key == "2019-01-01"
    assert schedule.job_name == "daily_job"
    assert schedule.cron_schedule == "0 1 * * *" == DAILY_CRON


def test_sensor_requests_new_files_once_and_changed_files_again(lake):
    for day in ("2018-09-01", "2018-09-02", "2018-09-04"):
        lake.write_bytes(
            landing_daily_path("tweets", day), tweet_line(day, "c1", f"{day}T10:00:00").encode()
        )
    lake.write_bytes(landing_reference_path("products"), b"sku,name,type,price,description\n")

    requests, cursor = tick(lake, None)
    by_job = {}
    for r in requests:
        by_job.setdefault(r.job_name, []).append(r)
    assert len(by_job["reference_files_job"]) == 1
    ranges = sorted((r.tags[RANGE_START], r.tags[RANGE_END]) for r in by_job["tweets_files_job"])
    # Contiguous days share a run; a gap starts a new one.
    assert ranges == [("2018-09-01", "2018-09-02"), ("2018-09-04", "2018-09-04")]

    # Same files, cursor kept (as after a restart): nothing requested.
    again, cursor = tick(lake, cursor)
    assert again == []

    # A file delivered again with new content is requested again, alone.
    lake.write_bytes(
        landing_daily_path("tweets", "2018-09-02"),
        (
            tweet_line("a", "c1", "2018-09-02T10:00:00")
            + tweet_line("b", "c2", "2018-09-02T11:00:00")
        ).encode(),
    )
    changed, cursor = tick(lake, cursor)
    assert [(r.job_name, r.tags[RANGE_START], r.tags[RANGE_END]) for r in changed] == [
        ("tweets_files_job", "2018-09-02", "2018-09-02")
    ]

    # Rewriting identical bytes is not a new version; a deleted file triggers nothing.
    lake.write_bytes(landing_reference_path("products"), b"sku,name,type,price,description\n")
    lake.delete(landing_daily_path("tweets", "2018-09-04"))
    assert tick(lake, cursor)[0] == []


def test_reference_runs_materialize_the_raw_assets_only():
    listing = [LakeFile("landing/products/products.csv", 1, "v1")]
    [first_load], cursor = plan_runs(listing, {})
    request = first_load.to_run_request()
    assert request.job_name == "reference_files_job"
    assert RANGE_START not in request.tags and request.asset_selection is None
    job_keys = defs.resolve_job_def(request.job_name).asset_layer.executable_asset_keys
    assert {k.to_user_string() for k in job_keys} == {"raw/products", "raw/stores", "raw/supplies"}
    # A changed file is a new run of the same job (the facts below follow by automation).
    changed = [LakeFile("landing/products/products.csv", 1, "v2")]
    [again], _ = plan_runs(changed, cursor)
    assert again.to_run_request().run_key != request.run_key


def test_sensor_ignores_unknown_files(lake):
    lake.write_bytes("landing/tweets/notes.txt", b"hello")
    lake.write_bytes("raw/tweets/date=2018-09-01/tweets.parquet", b"x")
    requests, _ = tick(lake, None)
    assert requests == []


def test_plan_bounds_the_work_per_tick():
    listing = [LakeFile(f"landing/tweets/2018-09-{d:02d}.jsonl", 1, "v1") for d in range(1, 31)]
    runs, cursor = plan_runs(listing, {}, limit=10)
    assert sum(len(r.files) for r in runs) == 10
    runs, cursor = plan_runs(listing, cursor, limit=10)
    assert [(r.first_day, r.last_day) for r in runs] == [("2018-09-11", "2018-09-20")]
    # Run keys differ when the content differs: a new version is a new run.
    changed = [LakeFile(f.path, f.size, "v2") for f in listing[:10]]
    again, _ = plan_runs(changed, cursor, limit=10)
    assert again[0].run_key != runs[0].run_key


def test_sensor_run_request_updates_the_marts(full_run, resources):
    """End to end: a re-delivered tweets file, the sensor's request, the run, the mart."""
    session_lake = resources["lake"]
    day = "2018-09-03"
    path = landing_daily_path("tweets", day)
    with duckdb.connect(defs_warehouse(), read_only=True) as conn:
        (customer,) = conn.execute(
            "select customer_id from staging.stg_customers order by customer_id limit 1"
        ).fetchone()
        (before,) = conn.execute(
            "select tweet_count from marts.fct_customer_activity where customer_key = ?",
            [pseudonym(SETTINGS.pseudonym_secret(), customer)],
        ).fetchone()
    original = session_lake.read_bytes(path)
    _, cursor = tick(session_lake, None)  # the sensor has seen the seeded files
    automation = Automation()
    session_lake.write_bytes(
        path, original + tweet_line("extra-tweet", customer, f"{day}T12:00:00").encode()
    )
    try:
        [request], cursor = tick(session_lake, cursor)
        assert (request.job_name, request.tags[RANGE_START], request.tags[RANGE_END]) == (
            "tweets_files_job",
            day,
            day,
        )
        assert run_and_count(request, customer, automation) == (1, before + 1)
    finally:
        # Put the delivery back as seeded and re-run the day: the state converges back,
        # so the other tests see the seeded data.
        session_lake.write_bytes(path, original)
        [request], _ = tick(session_lake, cursor)
        assert run_and_count(request, customer, automation) == (0, before)


class Automation:
    """The automation sensor's evaluations on the session's instance, its cursor carried."""

    def __init__(self):
        self.cursor = None
        assert self.follow() == set()  # the first evaluation takes stock

    def follow(self) -> set:
        """Evaluate the batch models' conditions and materialize what they request, in one
        run (they are all unpartitioned below the tweets); the keys requested."""
        result = evaluate_automation_conditions(
            defs=defs,
            instance=DagsterInstance.get(),
            asset_selection=BATCH_MODELS,
            cursor=self.cursor,
        )
        self.cursor = result.cursor
        keys = {
            k
            for k in BATCH_MODELS.resolve(defs.resolve_asset_graph())
            if result.get_num_requested(k)
        }
        if keys:
            job = defs.resolve_implicit_global_asset_job_def()
            assert job.execute_in_process(
                instance=DagsterInstance.get(), asset_selection=sorted(keys)
            ).success
        return keys


def run_and_count(request, customer: str, automation: Automation) -> tuple[int, int]:
    """Execute a sensor's run request (raw/tweets only), then what the automation requests
    after it; return (extra tweets loaded, the customer's tweet_count)."""
    job = defs.resolve_job_def(request.job_name)
    result = job.execute_in_process(instance=DagsterInstance.get(), tags=request.tags)
    assert result.success
    loaded = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert loaded == {"raw/tweets"}
    followed = {k.to_user_string() for k in automation.follow()}
    assert "marts/fct_customer_activity" in followed and "raw/tweets" not in followed
    assert automation.follow() == set()  # once
    with duckdb.connect(defs_warehouse(), read_only=True) as conn:
        (after,) = conn.execute(
            "select tweet_count from marts.fct_customer_activity where customer_key = ?",
            [pseudonym(SETTINGS.pseudonym_secret(), customer)],
        ).fetchone()
        (loaded,) = conn.execute(
            "select count(*) from raw.tweets where id = 'extra-tweet'"
        ).fetchone()
    return loaded, after


def defs_warehouse() -> str:

    return SETTINGS.warehouse.path
