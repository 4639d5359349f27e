"""The landing sensor without a cursor starts from what earlier runs loaded: after the session's
headless run its first tick requests nothing, and a file changed after that run is requested."""

import json
import os
from pathlib import Path

from dagster import DagsterInstance

from data_platform.core.lake_layout import LANDING, landing_daily_path
from data_platform.resources import LakeFile
from data_platform.sources.landing.layout import landing_file
from data_platform.sources.landing.sensor import already_loaded
from tests.test_automation import RANGE_END, RANGE_START, tick, tweet_line

TWEETS_DAY = "2018-09-03"  # inside the session's data
NEW_DAY = "2018-10-20"  # after it (the session's data spans 45 days from 2018-09-01)


def test_first_tick_after_a_headless_run_requests_only_what_changed_since(full_run, resources):
    assert full_run.returncode == 0, full_run.stdout[-3000:]
    lake = resources["lake"]
    instance = DagsterInstance.get()
    listed = {f.path for f in lake.list_files(LANDING) if landing_file(f.path)}

    requests, cursor = tick(lake, None, instance)
    assert requests == []
    assert set(json.loads(cursor)) == listed  # every landing file, as loaded

    # Touched after the run that loaded it (content as before): without a cursor it is new.
    touched = Path(lake.url) / landing_daily_path("tweets", TWEETS_DAY)
    before = touched.stat()
    os.utime(touched)
    try:
        [request], _ = tick(lake, None, instance)
        assert (request.job_name, request.tags[RANGE_START], request.tags[RANGE_END]) == (
            "tweets_files_job",
            TWEETS_DAY,
            TWEETS_DAY,
        )
    finally:
        os.utime(touched, ns=(before.st_atime_ns, before.st_mtime_ns))

    # A file arriving after the first tick is requested, alone.
    new = landing_daily_path("tweets", NEW_DAY)
    lake.write_bytes(new, tweet_line("late", "c1", f"{NEW_DAY}T10:00:00").encode())
    try:
        [request], _ = tick(lake, cursor, instance)
        assert (request.tags[RANGE_START], request.tags[RANGE_END]) == (NEW_DAY, NEW_DAY)
    finally:
        lake.delete(new)


def test_already_loaded_keeps_files_older_than_the_run_that_materialized_them():
    day = "landing/tweets/2018-09-01.jsonl"
    listing = [
        LakeFile(day, 1, "v1", modified=100.0),
        LakeFile("landing/tweets/2018-09-02.jsonl", 1, "v2", modified=300.0),  # after its run
        LakeFile("landing/tweets/2018-09-03.jsonl", 1, "v3", modified=100.0),  # never loaded
        LakeFile("landing/tweets/2018-09-04.jsonl", 1, "v4"),  # time unknown
        LakeFile("landing/products/products.csv", 1, "p1", modified=100.0),
        LakeFile("landing/tweets/notes.txt", 1, "n1", modified=1.0),  # not a landing file
    ]
    since = {
        ("tweets", "2018-09-01"): 200.0,
        ("tweets", "2018-09-02"): 200.0,
        ("tweets", "2018-09-04"): 200.0,
        ("products", None): 200.0,
    }
    assert already_loaded(listing, since) == {day: "v1", "landing/products/products.csv": "p1"}
    # Modified exactly when the run started: not known to be read by it.
    assert already_loaded([LakeFile(day, 1, "v1", modified=200.0)], since) == {}
