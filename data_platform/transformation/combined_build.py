"""One dbt invocation for the two dbt steps of a run (issue 12).

Every dbt process pays 3-5 s before its first node: importing dbt (2-3 s, mashumaro building
its serialisers), the partial parse and writing the manifest (0.5-1 s), opening the warehouse
(``bench/run_profile.py``). A daily run builds two steps, the unpartitioned ``transform_dbt``
(the staging views, the history dimensions, ``dim_customers``) and then the daily facts of
``transform_daily_dbt``: two dbt processes a run, on a day whose dbt work itself is 5-6 s.

A run that executes the daily step whole and the first step with all the checks of its
models (:func:`builds_both`: the headless runs, the daily schedule's, a full refresh, a
backfill) runs dbt once, in the first step, for the nodes of both (``dbt build`` orders them as
its graph says, runs every test of a selected model, and skips what is below a failure). The first step
reports its own nodes; the events of the daily step's nodes are handed over in this process
(:func:`hand_over`, :func:`take`: the platform's jobs use the in-process executor) and the
daily step reports them, with its partition window's row counts, without starting dbt. A step
that finds no hand-over (a retry, a re-execution of that step alone, another executor) runs
dbt itself, as every other run does.

When dbt fails: a failure among the daily nodes fails the daily step (the first step succeeds,
as it would have on its own). A failure among the first step's nodes fails the first step and
Dagster skips the daily step, as before; the daily nodes that dbt built anyway (those not
below the failure) are in the warehouse without a materialization of this run, and the step's
log names them: the next run of those partitions builds them again and records them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    DagsterRun,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliEventMessage, DbtProject

from data_platform.core.partitions import run_partition_env

# A job tag: the job's runs select the daily dbt step whole unless the run itself selects a
# subset of the assets (tests/test_combined_build.py checks each job that carries it).
ONE_INVOCATION_TAG = "data_platform/dbt_invocations"
ONE_INVOCATION = "one"

# dbt's result statuses that fail an invocation (a test of severity warn reports "warn").
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


def builds_both(
    run: DagsterRun,
    step_checks_partial: bool,
    full_refresh: bool,
    daily_step: str,
    daily_keys: Iterable[AssetKey],
    daily_check_keys: Iterable[AssetCheckKey],
) -> bool:
    """Whether the first dbt step of ``run`` builds the daily step's nodes too (pure;
    unit-tested): it runs every check of the models it builds (``step_checks_partial`` is
    False: the whole step, or a subset with all its checks), the run has a partition window,
    and the run executes the daily step ``daily_step`` whole with the same ``full_refresh``.
    Whole means every daily asset and check is selected: by the run's own selection, or by
    its job when the run selects nothing itself and the job carries
    :data:`ONE_INVOCATION_TAG`."""
    if step_checks_partial or not run_partition_env(run.tags):
        return False
    if run.step_keys_to_execute is not None and daily_step not in run.step_keys_to_execute:
        return False
    if not run.asset_selection:  # None or empty (execute_in_process stores an empty one)
        if run.tags.get(ONE_INVOCATION_TAG) != ONE_INVOCATION:
            return False
    elif not set(daily_keys) <= set(run.asset_selection):
        return False
    checks = run.asset_check_selection
    if checks is not None and not set(daily_check_keys) <= set(checks):
        return False
    daily_config = ((run.run_config or {}).get("ops", {}).get(daily_step) or {}).get("config")
    return bool((daily_config or {}).get("full_refresh", False)) == full_refresh


def event_keys(
    event: DbtCliEventMessage,
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    project: DbtProject,
) -> set[AssetKey | AssetCheckKey]:
    """The asset and check keys a dbt result event reports (empty for a log line), as
    dagster-dbt translates it outside a step."""
    keys: set[AssetKey | AssetCheckKey] = set()
    for probe in event.to_default_asset_events(
        manifest=manifest, dagster_dbt_translator=translator, project=project
    ):
        if isinstance(probe, AssetCheckEvaluation):
            keys.add(AssetCheckKey(probe.asset_key, probe.check_name))
        elif isinstance(probe, AssetMaterialization | AssetObservation):
            keys.add(probe.asset_key)
    return keys


def failed(event: DbtCliEventMessage) -> bool:
    """Whether a dbt result event reports a node that failed (an error, or a test of severity
    error that found rows)."""
    return str(event.raw_event["data"].get("status", "")).lower() in FAILED_STATUSES


def node_name(event: DbtCliEventMessage) -> str:
    """The dbt unique id of the node an event is about (empty when it is about none)."""
    return str(event.raw_event["data"].get("node_info", {}).get("unique_id", ""))


@dataclass(frozen=True)
class DailyShare:
    """What the first dbt step of a run hands the daily step: the events of the daily nodes
    (dagster-dbt's messages, translated by the daily step itself), the dbt environment they
    were built with (the partition window), the invocation's artifacts folder, and dbt's error
    when one of them failed."""

    env: Mapping[str, str]
    events: Sequence[DbtCliEventMessage]
    target_path: Path
    error: Exception | None = None


_SHARES: dict[str, DailyShare] = {}
_LOCK = threading.Lock()


def hand_over(run_id: str, share: DailyShare) -> None:
    """Keep ``share`` for the daily step of run ``run_id``; a share another run left (its
    daily step never ran: a failure, a cancel) is dropped."""
    with _LOCK:
        _SHARES.clear()
        _SHARES[run_id] = share


def take(run_id: str) -> DailyShare | None:
    """The share handed over for run ``run_id``'s daily step, once (None when there is none)."""
    with _LOCK:
        return _SHARES.pop(run_id, None)
