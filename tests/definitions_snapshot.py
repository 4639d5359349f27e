"""A plain-data description of the code location, for the snapshot test.

What a reviewer must see change on purpose: every asset (key, group, kinds, owners, pool,
partitioning, backfill policy, upstream keys, freshness policy), every check with its blocking
flag, every job with its selection, every schedule and sensor, and the resource keys.
Descriptions and code references are left out: they are documentation, not the graph.

Regenerate on purpose with ``UPDATE_SNAPSHOT=1 .venv/bin/pytest tests/test_snapshot.py``.
"""

from __future__ import annotations

from dagster import Definitions


def _partitions(partitions_def) -> str | None:
    if partitions_def is None:
        return None
    first = partitions_def.get_first_partition_key()
    return f"{type(partitions_def).__name__}(start={first})"


def _freshness(policy) -> str | None:
    if policy is None:
        return None
    fields = {
        name: str(getattr(policy, name))
        for name in ("deadline_cron", "lower_bound_delta", "timezone", "fail_window", "warn_window")
        if getattr(policy, name, None) is not None
    }
    return f"{type(policy).__name__}({', '.join(f'{k}={v}' for k, v in sorted(fields.items()))})"


def describe(defs: Definitions) -> dict:
    """The snapshot: sorted lists and dicts of strings, stable across runs."""
    graph = defs.resolve_asset_graph()
    assets = {}
    pools = {}
    for assets_def in graph.assets_defs:
        for key in assets_def.keys:
            pools[key] = assets_def.node_def.pools if assets_def.is_executable else set()
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        policy = node.backfill_policy
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "pools": sorted(pools.get(key, set())),
            "materializable": node.is_materializable,
            "partitions": _partitions(node.partitions_def),
            "backfill_policy": str(policy.policy_type.value) if policy else None,
            "upstream": sorted(k.to_user_string() for k in node.parent_keys),
            "freshness_policy": _freshness(node.freshness_policy),
        }
    checks = sorted(
        (
            {
                "asset": check.asset_key.to_user_string(),
                "name": check.name,
                "blocking": graph.get_check_spec(check).blocking,
            }
            for check in graph.asset_check_keys
        ),
        key=lambda c: (c["asset"], c["name"]),
    )
    jobs = {}
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):
            continue
        layer = job.asset_layer
        jobs[job.name] = {
            "assets": sorted(k.to_user_string() for k in layer.selected_asset_keys),
            "partitioned": job.partitions_def is not None,
        }
    schedules = {
        s.name: {
            "cron": s.cron_schedule,
            "job": s.job_name,
            "default_status": s.default_status.value,
        }
        for s in (defs.resolve_schedule_def(d.name) for d in defs.schedules or [])
    }
    sensors = {
        s.name: {
            "jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
            "minimum_interval_seconds": s.minimum_interval_seconds,
            "default_status": s.default_status.value,
        }
        for s in (defs.resolve_sensor_def(d.name) for d in defs.sensors or [])
    }
    return {
        "assets": assets,
        "checks": checks,
        "jobs": dict(sorted(jobs.items())),
        "schedules": dict(sorted(schedules.items())),
        "sensors": dict(sorted(sensors.items())),
        "resources": sorted(defs.resources or {}),
    }
