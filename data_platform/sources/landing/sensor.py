"""The landing sensor: new or changed files in ``landing/`` become runs of their raw assets.

The cursor is a JSON map ``{path: version}`` of every file version already requested; it is
stored by Dagster with each tick, so it survives restarts, and a file version is requested at
most once. A file is requested again only when its content (version) changes. Deleted files
trigger nothing. At most :data:`MAX_FILES_PER_TICK` files are taken per tick; the rest wait for
the next tick.

Without a cursor (the first tick, or after a reset in the UI) the sensor starts from what is
already loaded (:func:`already_loaded`): a file last modified before the start of the run
that last materialized its partition (its day of a daily dataset; a reference dataset as a
whole) was read by that run, so its current version goes into the cursor unrequested. The
first tick after ``make dev``'s bootstrap run therefore requests nothing; a file written or
touched after that run started is requested. Two limits, both only for that first tick: the
comparison takes the file's time from the store (S3's clock against this machine's), and a
copy that keeps an older modification time (``cp -p``, ``rsync -t``) counts as loaded.

Runs requested, of raw assets only (the models below follow by declarative automation: the
``dbt_automation_sensor``; a reference change restates the daily facts over every day they
hold, see :mod:`data_platform.transformation.automation_conditions`):

- reference files (products, stores, supplies): one run of ``reference_files_job``.
- daily tweet files: one run of ``tweets_files_job`` per contiguous range of changed days,
  as a single-run partition range (the ``dagster/asset_partition_range_*`` tags).
"""

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from data_platform.core.datasets import Dataset
from data_platform.core.lake_layout import LANDING
from data_platform.core.partitions import partition_range_tags
from data_platform.resources.lake import LakeFile, LakeResource
from data_platform.sources.landing.datasets import DATASETS
from data_platform.sources.landing.jobs import reference_files_job, tweets_files_job
from data_platform.sources.landing.layout import landing_file

MAX_FILES_PER_TICK = 500
# Materialization records read at a time when a first tick looks for what is loaded.
_PAGE = 1000


@dataclass(frozen=True)
class PlannedRun:
    """A run to request: job, optional partition range, and the files it covers."""

    job_name: str
    files: tuple[LakeFile, ...]
    first_day: str | None = None
    last_day: str | None = None

    @property
    def run_key(self) -> str:
        versions = "|".join(f"{f.path}@{f.version}" for f in self.files)
        digest = hashlib.sha256(versions.encode()).hexdigest()[:16]
        return f"{self.job_name}:{self.first_day or ''}:{self.last_day or ''}:{digest}"

    def to_run_request(self) -> RunRequest:
        """The request: the job, with the partition range of a daily run as its tags."""
        tags = {"landing_files": str(len(self.files))}
        if self.first_day:
            tags.update(partition_range_tags(self.first_day, self.last_day))
        return RunRequest(run_key=self.run_key, job_name=self.job_name, tags=tags)


def plan_runs(
    listing: list[LakeFile], seen: dict[str, str], limit: int = MAX_FILES_PER_TICK
) -> tuple[list[PlannedRun], dict[str, str]]:
    """Decide the runs for one tick (pure; unit-tested).

    ``listing`` is the landing zone now, ``seen`` the cursor. Returns the runs and the new
    cursor: the old one, less files no longer listed, plus the versions now requested.
    """
    listed = {f.path for f in listing}
    cursor = {path: version for path, version in seen.items() if path in listed}
    found = {f.path: landing_file(f.path) for f in listing}
    fresh = [f for f in listing if found[f.path] and seen.get(f.path) != f.version][:limit]

    reference = [f for f in fresh if found[f.path][1] is None]
    daily = sorted((found[f.path][1], f) for f in fresh if found[f.path][1])
    runs = []
    if reference:
        runs.append(PlannedRun(reference_files_job.name, tuple(reference)))
    for first, last, files in _contiguous(daily):
        runs.append(PlannedRun(tweets_files_job.name, tuple(files), first, last))
    cursor.update({f.path: f.version for f in fresh})
    return runs, cursor


def already_loaded(
    listing: list[LakeFile], run_starts: Mapping[tuple[str, str | None], float]
) -> dict[str, str]:
    """The cursor a sensor without one starts from (pure; unit-tested): ``{path: version}`` of
    every landing file of ``listing`` modified before the start of the run that last
    materialized what it holds. ``run_starts`` (:func:`loaded_since`) maps ``(dataset name,
    day)``, day ``None`` for a reference dataset, to that run's start in seconds since the
    epoch. A file whose modification time is unknown, or whose partition no run
    materialized, is left out: the first tick requests it."""
    cursor = {}
    for file in listing:
        found = landing_file(file.path)
        if found is None or file.modified is None:
            continue
        since = run_starts.get((found[0].name, found[1]))
        if since is not None and file.modified < since:
            cursor[file.path] = file.version
    return cursor


def loaded_since(
    instance: DagsterInstance, listing: list[LakeFile]
) -> dict[tuple[str, str | None], float]:
    """For the datasets and days of the landing files in ``listing``: when the run that last
    materialized each started (``(dataset name, day or None)``: seconds since the epoch), from
    the instance's materializations, newest first, until every day is found."""
    wanted: dict[Dataset, set[str | None]] = {}
    for file in listing:
        if found := landing_file(file.path):
            wanted.setdefault(found[0], set()).add(found[1])
    run_of: dict[tuple[str, str | None], str] = {}
    for dataset, days in wanted.items():
        if None in days:
            event = instance.get_latest_materialization_event(dataset.asset_key)
            if event is not None:
                run_of[(dataset.name, None)] = event.run_id
            continue
        missing, cursor = set(days), None
        while missing:
            page = instance.fetch_materializations(dataset.asset_key, limit=_PAGE, cursor=cursor)
            for record in page.records:
                if record.partition_key in missing:
                    missing.discard(record.partition_key)
                    run_of[(dataset.name, record.partition_key)] = record.run_id
            if not page.has_more:
                break
            cursor = page.cursor
    run_ids = sorted(set(run_of.values()))
    started = {}
    for first in range(0, len(run_ids), _PAGE):
        records = instance.get_run_records(RunsFilter(run_ids=run_ids[first : first + _PAGE]))
        started.update({r.dagster_run.run_id: r.start_time for r in records if r.start_time})
    return {key: started[run] for key, run in run_of.items() if run in started}


def _contiguous(daily: list[tuple[str, LakeFile]]):
    group: list[tuple[str, LakeFile]] = []
    for day, file in daily:
        if group and dt.date.fromisoformat(day) - dt.date.fromisoformat(
            group[-1][0]
        ) > dt.timedelta(days=1):
            yield group[0][0], group[-1][0], [f for _, f in group]
            group = []
        group.append((day, file))
    if group:
        yield group[0][0], group[-1][0], [f for _, f in group]


@sensor(
    name="landing_sensor",
    jobs=[reference_files_job, tweets_files_job],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Materializes the raw assets of new or changed files in the lake's landing zone.",
)
def landing_sensor(context: SensorEvaluationContext, lake: LakeResource):
    # Only the landing source's own folders: landing/events/ (the event stream's files, many
    # and small) belongs to the web events source, and a local listing reads every file it
    # lists to version it.
    listing = [f for d in DATASETS for f in lake.list_files(f"{LANDING}/{d.name}")]
    if context.cursor:
        seen = json.loads(context.cursor)
    else:
        # No cursor yet: what earlier runs (make dev's bootstrap, say) loaded is not new.
        seen = already_loaded(listing, loaded_since(context.instance, listing))
        context.log.info(f"no cursor: {len(seen)} landing files already loaded by earlier runs")

    runs, cursor = plan_runs(listing, seen)
    if not runs:
        return SensorResult(
            skip_reason=SkipReason("no new or changed landing files"),
            cursor=json.dumps(cursor, sort_keys=True),
        )
    context.log.info(
        "; ".join(
            f"{r.job_name} {r.first_day or ''}..{r.last_day or ''}: {len(r.files)} files"
            for r in runs
        )
    )
    return SensorResult(
        run_requests=[r.to_run_request() for r in runs],
        cursor=json.dumps(cursor, sort_keys=True),
    )
