"""Schema-change checks: an asset's columns and types, as recorded on its latest
materialization (``dagster/column_schema``), against those of the materialization before.

Dagster's ``build_column_schema_change_checks``: a non-blocking check of severity WARN per asset,
named ``column_schema_change``, that fails on added or removed columns and changed types. The
dbt steps record the schema of every mart they build (its enforced contract's); the marts'
contracts already refuse a schema that differs from the declared one, so a failure here means
the contract itself changed (and, for the incremental daily facts, a full refresh is due).

The check compares the two latest materializations whatever their partitions: after a run over
several partitions of a daily fact both are from that run, so a change shows on a run of one
partition (the daily schedule's) or an unpartitioned mart.
"""

import warnings
from collections.abc import Sequence

from dagster import (
    AssetChecksDefinition,
    AssetKey,
    AssetsDefinition,
    BetaWarning,
    build_column_schema_change_checks,
)


def schema_change_checks(
    assets: Sequence[AssetKey | AssetsDefinition],
) -> Sequence[AssetChecksDefinition]:
    """One ``column_schema_change`` check (WARN) on each of ``assets``, which must record
    ``dagster/column_schema`` on their materializations."""
    if not assets:
        return []
    with warnings.catch_warnings():
        # Beta in Dagster 1.13; the check's behaviour is pinned by tests/test_dbt_quality.py.
        warnings.filterwarnings(
            "ignore", "Function `build_column_schema_change_checks`", BetaWarning
        )
        return build_column_schema_change_checks(assets=list(assets))
