"""Freshness policies: how recent each asset's last materialization must be (UTC).

The daily schedule runs at 01:00 UTC; a daily run takes minutes. So:

- the daily ingests (orders, order items, tweets, and customers, extracted by the same runs)
  must have materialized in the 24 hours before 03:00 UTC each day;
- the marts (``dim_*``, ``fct_*``) in the 24 hours before 04:00 UTC: no more than a day
  behind the newest source data, with an hour for dbt after the ingests;
- the streaming ingest (web events), loaded by micro-batches every 30 s while events flow,
  warns after 2 minutes without a load and fails after 5 (the live layer's target);
- the stream marts (``fct_*`` on the web events, dbt tag ``stream``), rebuilt by the
  micro-batch runs every 30 s or so: they warn 5 minutes after their last build and fail
  after 15 (the live layer's freshness target is under 5 minutes; a stream that stopped, or
  a sensor that stopped launching, shows);
- the reference ingests (products, stores, supplies) run when a file lands, which is rare:
  they warn after 7 days and fail after 30, so a landing feed that went silent is noticed.

The policies show on every asset in the Dagster UI, with its freshness state.
"""

import datetime as dt

from dagster import FreshnessPolicy

DAILY_INGEST = FreshnessPolicy.cron(
    deadline_cron="0 3 * * *", lower_bound_delta=dt.timedelta(hours=24), timezone="UTC"
)
MARTS = FreshnessPolicy.cron(
    deadline_cron="0 4 * * *", lower_bound_delta=dt.timedelta(hours=24), timezone="UTC"
)
REFERENCE_INGEST = FreshnessPolicy.time_window(
    fail_window=dt.timedelta(days=30), warn_window=dt.timedelta(days=7)
)
STREAM_INGEST = FreshnessPolicy.time_window(
    fail_window=dt.timedelta(minutes=5), warn_window=dt.timedelta(minutes=2)
)
STREAM_MARTS = FreshnessPolicy.time_window(
    fail_window=dt.timedelta(minutes=15), warn_window=dt.timedelta(minutes=5)
)
