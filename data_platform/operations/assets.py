"""The operations assets: the Dagster instance's records as tables of the warehouse schema
``operations`` (rows: :mod:`data_platform.operations.records`).

- ``record_runs`` (one step, three assets, one transaction): ``operations/run_history``,
  ``operations/run_asset_outcomes`` and ``operations/check_results``. Incremental: the
  cursor is the latest ``ended_at`` in ``run_history``; each build reads the finished runs
  the instance updated since then (less :data:`CURSOR_OVERLAP`, so a run whose end was
  stored late is not missed), at most :data:`RUNS_PER_BUILD`, oldest first, and replaces
  their rows by run id. A re-run reads the same runs and writes the same rows; runs the
  instance has deleted (run retention) stay in the tables.
- ``operations/freshness_lag``: for every asset it watches (the code location's others, given
  when the definitions are built: a run has no view of the whole code location), its last
  materialization at or before the build's time and the lag in seconds, with its
  freshness policy's windows; one row per asset and build, replaced by ``measured_at`` (a
  scheduled build is measured at its tick time, :data:`AS_OF_TAG`, so a re-execution of it
  writes the same rows).

Read through the instance's public methods: ``get_run_records``, ``all_logs`` of a run (its
planned materializations, materializations and check evaluations) and
``fetch_materializations``. Every figure worth a plot is numeric metadata.
"""

# No "from __future__ import annotations": Dagster checks the context annotation at runtime.

import datetime as dt
from collections.abc import Iterable, Mapping

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    AssetSpec,
    FreshnessPolicy,
    MaterializeResult,
    RunsFilter,
    asset,
    multi_asset,
)

from data_platform.core.settings import Settings
from data_platform.loading.raw_asset import WAREHOUSE_POOL
from data_platform.operations.records import (
    CHECK_RESULTS,
    FINISHED,
    FRESHNESS_LAG,
    RUN_ASSET_OUTCOMES,
    RUN_EVENT_TYPES,
    RUN_HISTORY,
    OperationsTable,
    RunEvents,
    arrow,
    check_rows,
    freshness_row,
    outcome_rows,
    run_row,
)
from data_platform.resources.warehouse import Replacement, WarehouseResource

GROUP = "operations"
SCHEMA = "operations"
OWNERS = ["team:data-platform"]
# Runs re-read before the cursor: a run's end can be stored a little after a later run's.
CURSOR_OVERLAP = dt.timedelta(minutes=5)
# Runs one build records at most (a first build on a long history catches up over builds).
RUNS_PER_BUILD = 2000
# The time a build measures freshness at (ISO 8601, UTC), set by operations_schedule.
AS_OF_TAG = "data_platform/as_of"


def table_key(table: OperationsTable) -> AssetKey:
    return AssetKey([SCHEMA, table.name])


def _spec(table: OperationsTable, kinds: set[str]) -> AssetSpec:
    return AssetSpec(
        table_key(table),
        description=f"{table.description} Table {SCHEMA}.{table.name}, built from the Dagster "
        "instance by operations_job (hourly).",
        group_name=GROUP,
        owners=OWNERS,
        kinds=kinds,
        metadata={
            "dagster/column_schema": table.table_schema,
            "dagster/table_name": f"{SCHEMA}.{table.name}",
        },
    )


def _count(warehouse: WarehouseResource, table: OperationsTable, where: str = "") -> int:
    sql = f'select count(*) as n from "{SCHEMA}"."{table.name}"'
    return int(warehouse.query(sql + (f" where {where}" if where else ""))[0]["n"])


def _cursor(warehouse: WarehouseResource) -> dt.datetime | None:
    """The latest ``ended_at`` recorded (aware, UTC), or ``None`` before the first build."""
    if not warehouse.table_exists(SCHEMA, RUN_HISTORY.name):
        return None
    latest = warehouse.query(f'select max(ended_at) as t from "{SCHEMA}"."{RUN_HISTORY.name}"')
    value = latest[0]["t"]
    return value.replace(tzinfo=dt.UTC) if value is not None else None


def _as_of(context: AssetExecutionContext) -> dt.datetime:
    tagged = context.run.tags.get(AS_OF_TAG)
    return (
        dt.datetime.fromisoformat(tagged).astimezone(dt.UTC) if tagged else dt.datetime.now(dt.UTC)
    )


def freshness_policies(
    assets: Iterable[AssetsDefinition],
) -> dict[AssetKey, FreshnessPolicy | None]:
    """Every asset key of ``assets`` outside the operations group with its freshness policy
    (``None`` without one)."""
    return {
        spec.key: spec.freshness_policy
        for assets_def in assets
        for spec in assets_def.specs
        if spec.group_name != GROUP
    }


def build_operations_assets(
    settings: Settings, watched: Mapping[AssetKey, FreshnessPolicy | None]
) -> list[AssetsDefinition]:
    """The operations assets (group ``operations``); the warehouse engine among their kinds.
    ``freshness_lag`` measures the assets ``watched`` (key: freshness policy or ``None``)."""
    watched = dict(sorted(watched.items(), key=lambda item: item[0].to_user_string()))
    kinds = {"dagster", settings.warehouse.engine}

    @multi_asset(
        name="record_runs",
        specs=[_spec(t, kinds) for t in (RUN_HISTORY, RUN_ASSET_OUTCOMES, CHECK_RESULTS)],
        pool=WAREHOUSE_POOL,
    )
    def record_runs(context: AssetExecutionContext, warehouse: WarehouseResource):
        """Records the runs finished since the cursor, their asset outcomes and checks."""
        cursor = _cursor(warehouse)
        records = context.instance.get_run_records(
            filters=RunsFilter(
                statuses=list(FINISHED),
                updated_after=cursor - CURSOR_OVERLAP if cursor is not None else None,
            ),
            order_by="update_timestamp",
            ascending=True,
            limit=RUNS_PER_BUILD,
        )
        runs, outcomes, checks = [], [], []
        for record in records:
            run = record.dagster_run
            events = RunEvents.of(context.instance.all_logs(run.run_id, of_type=RUN_EVENT_TYPES))
            runs.append(run_row(record, events))
            outcomes += outcome_rows(run.run_id, run.status, events)
            checks += check_rows(run.run_id, events)
        ids = tuple(r["run_id"] for r in runs)
        warehouse.replace(
            *(
                Replacement(SCHEMA, table.name, arrow(rows, table), key_column="run_id", keys=ids)
                for table, rows in (
                    (RUN_HISTORY, runs),
                    (RUN_ASSET_OUTCOMES, outcomes),
                    (CHECK_RESULTS, checks),
                )
            )
        )
        durations = [r["duration_seconds"] for r in runs if r["duration_seconds"] is not None]
        context.log.info(
            f"recorded {len(runs)} runs finished since "
            f"{cursor.isoformat() if cursor else 'the start'} (less {CURSOR_OVERLAP})"
        )
        yield MaterializeResult(
            asset_key=table_key(RUN_HISTORY),
            metadata={
                "dagster/row_count": _count(warehouse, RUN_HISTORY),
                "runs_recorded": len(runs),
                "failed_runs": sum(r["status"] == "FAILURE" for r in runs),
                "max_run_duration_seconds": float(max(durations, default=0.0)),
                "runs_per_build_limit_reached": len(runs) == RUNS_PER_BUILD,
            },
        )
        yield MaterializeResult(
            asset_key=table_key(RUN_ASSET_OUTCOMES),
            metadata={
                "dagster/row_count": _count(warehouse, RUN_ASSET_OUTCOMES),
                "outcomes_recorded": len(outcomes),
                "failed_outcomes": sum(o["outcome"] == "failed" for o in outcomes),
            },
        )
        yield MaterializeResult(
            asset_key=table_key(CHECK_RESULTS),
            metadata={
                "dagster/row_count": _count(warehouse, CHECK_RESULTS),
                "checks_recorded": len(checks),
                "failed_checks": sum(not c["passed"] for c in checks),
            },
        )

    @asset(
        key=table_key(FRESHNESS_LAG),
        description=_spec(FRESHNESS_LAG, kinds).description,
        group_name=GROUP,
        owners=OWNERS,
        kinds=kinds,
        metadata=_spec(FRESHNESS_LAG, kinds).metadata,
        pool=WAREHOUSE_POOL,
    )
    def freshness_lag(context: AssetExecutionContext, warehouse: WarehouseResource):
        """Measures every other asset's lag behind its last materialization."""
        as_of = _as_of(context)
        rows = []
        for key, policy in watched.items():
            latest = context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, before_timestamp=as_of.timestamp()), limit=1
            ).records
            last = latest[0].timestamp if latest else None
            rows.append(freshness_row(key, policy, last, as_of))
        measured = rows[0]["measured_at"].isoformat(sep=" ") if rows else None
        warehouse.replace(
            Replacement(
                SCHEMA,
                FRESHNESS_LAG.name,
                arrow(rows, FRESHNESS_LAG),
                key_column="measured_at",
                keys=(measured,) if measured else (),
            )
        )
        lags = [r for r in rows if r["lag_seconds"] is not None]
        worst = max(lags, key=lambda r: r["lag_seconds"], default=None)
        over = [
            r
            for r in lags
            if r["fail_window_seconds"] is not None and r["lag_seconds"] > r["fail_window_seconds"]
        ]
        return MaterializeResult(
            metadata={
                "dagster/row_count": _count(warehouse, FRESHNESS_LAG),
                "assets_measured": len(rows),
                "assets_never_materialized": len(rows) - len(lags),
                "assets_over_fail_window": len(over),
                "worst_lag_seconds": float(worst["lag_seconds"]) if worst else 0.0,
                "worst_lag_asset": worst["asset_key"] if worst else "",
                "measured_at": as_of.isoformat(),
            }
        )

    return [record_runs, freshness_lag]
