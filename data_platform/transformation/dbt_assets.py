"""The dbt project as software-defined assets.

Every dbt model is an asset: ``stg_*`` views in group ``staging``, ``int_*`` helpers and the
``dim_*``/``fct_*`` tables in group ``marts``. dbt sources resolve to the raw ingest assets
(``meta.dagster.asset_key`` in ``models/staging/_sources.yml``), so the graph has one node per
table. dbt tests are asset checks (see :class:`PlatformDbtTranslator`): a test of severity
``error`` is a blocking check, so its failure stops every model below it, in its own step (``dbt
build`` skips them) and in the other step (Dagster does not start it); a test of severity
``warn`` is a non-blocking check of severity WARN. Singular tests (``dbt_project/tests/``) that
read several models name the one they check in ``meta.dagster.ref``.

Four multi-assets share the project:

- ``transform_daily_dbt``: the models tagged ``daily`` (``fct_orders``,
  ``fct_daily_store_sales``), daily-partitioned like the raw orders. Dagster passes the run's
  partition window to dbt as ``min_date``/``max_date`` (in the environment, which keeps dbt's
  partial parse valid: see :mod:`data_platform.resources.dbt`); the models are incremental and
  replace exactly those days (incremental strategy ``partition_window``).
- ``transform_stream_dbt``: the models tagged ``stream``, on the web events the micro-batch
  runs load (``stg_web_events``, ``fct_store_activity_5min``, ``int_checkouts_matched``,
  ``fct_daily_conversion``) and the serving view ``store_sales_live``; unpartitioned: late
  events are the incremental logic's to handle (``fct_store_activity_5min`` recomputes the
  windows holding rows loaded since its last build). :data:`STREAM_DBT_SELECTION` selects
  them with ``raw/web_events`` for the micro-batch job.
- ``transform_operations_dbt``: the models tagged ``operations`` (``models/operations/``:
  ``fct_asset_service_levels``), on the operations tables, in the asset group
  ``operations``; unpartitioned, no freshness policy, no automation condition:
  ``operations_job`` builds them with the operations assets (hourly), no data job does.
- ``transform_dbt``: every other model, unpartitioned: views, and tables rebuilt in full
  (``dim_customers`` and ``fct_customer_activity`` need every order of a customer).

The unpartitioned step runs before the daily one. It never runs a test that also reads a daily
fact (see :func:`subset_indirect_selection`): that test checks the fact and runs in the daily
step, after the fact holds the run's days. A run that executes both steps whole starts dbt
once, in the unpartitioned step, for the nodes of both, and the daily step reports its share
(:func:`build_with_daily`, :mod:`~data_platform.transformation.combined_build`).

Every step records each contracted model's columns and types (``dagster/column_schema``, as
its enforced contract declares them) on its materialization, for the schema-change checks of
the marts (:mod:`data_platform.quality.schema_checks`), and each table's row count, which
dbt logs as it builds the table (:mod:`data_platform.transformation.row_counts`): each
materialization and its checks reach Dagster while dbt goes on with the next nodes.

In the UI, an asset's description is its dbt documentation (the model's YAML
``description``), and its code reference opens the model's ``.sql`` file.

All four take the ``warehouse`` pool. ``full_refresh: true`` in a run's config rebuilds the
selected models from the whole history (``dbt build --full-refresh``): the action for when a
model's logic changes (see ``full_refresh_job``).
"""

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    Config,
    Output,
    PartitionsDefinition,
    TableColumn,
    TableSchema,
)
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliEventMessage,
    DbtCliInvocation,
    DbtProject,
    dbt_assets,
)

from data_platform.core.datasets import PII_TAG
from data_platform.core.partitions import (
    DAILY_CRON,
    dbt_partition_env,
    dbt_partition_vars,
    run_partition_env,
)
from data_platform.loading.raw_asset import WAREHOUSE_POOL
from data_platform.quality import freshness
from data_platform.resources.dbt import WarehouseDbtCliResource, dbt_project
from data_platform.resources.pseudonyms import PseudonymKeyResource
from data_platform.resources.warehouse import WarehouseResource
from data_platform.transformation.automation_conditions import (
    batch_model_condition,
    daily_fact_condition,
    partitioned_sources,
    reference_fed_parents,
)
from data_platform.transformation.combined_build import (
    DailyShare,
    builds_both,
    event_keys,
    failed,
    hand_over,
    node_name,
    take,
)
from data_platform.transformation.row_counts import (
    PartitionWindow,
    RowCounts,
    counted_events,
    logged_count,
)

# Folder under models/ -> Dagster asset group. The operations models (platform health, dbt
# tag ``operations``) join the group of the operations assets they read.
OPERATIONS_GROUP = "operations"
GROUP_BY_FOLDER = {
    "staging": "staging",
    "intermediate": "marts",
    "marts": "marts",
    "operations": OPERATIONS_GROUP,
}
# Name prefixes of the marts, the models downstream users query.
MART_PREFIXES = ("dim_", "fct_")
# dbt tag of the incremental models partitioned by day.
DAILY_TAG = "daily"
# dbt tag of the models on the web event stream (and the serving view).
STREAM_TAG = "stream"
# dbt tag of the operations models (models/operations/): built by operations_job alone.
OPERATIONS_TAG = "operations"
# The raw asset the stream models read (dbt source raw.web_events), built by the events source.
WEB_EVENTS_KEY = AssetKey(["raw", "web_events"])
# The names of the two dbt steps. The unpartitioned step's name must sort after every raw
# step's (``raw__*``): Dagster 1.13 takes a run's partitions definition from the *last* asset
# step in step-key order (DagsterRunDomain.create_run), and when that one is partitioned it
# stores the run's partitions subset and plans every check of a range run once per partition,
# partitioned or not: 42,456 rows for the 116 checks of a year's run, about 25 s of writes,
# each an execution the UI then shows as Skipped. With an unpartitioned step last, each check
# is planned once (tests/test_dbt_assets_ui.py: test_a_range_run_records_one_execution_per_check).
DBT_ASSETS = "transform_dbt"
DAILY_DBT_ASSETS = "transform_daily_dbt"
# The stream step is unpartitioned and sorts after both (and after ``raw__web_events``): in a
# micro-batch run (raw/web_events, partitioned, with the stream models) it is the last step.
STREAM_DBT_ASSETS = "transform_stream_dbt"
DBT_STEPS = (DBT_ASSETS, DAILY_DBT_ASSETS, STREAM_DBT_ASSETS)
# The operations models' step (unpartitioned), in operations_job only: not one of the data
# steps above, which full_refresh_job rebuilds.
OPERATIONS_DBT_ASSETS = "transform_operations_dbt"
# Asset metadata dagster-dbt fills with the DbtProject object (dagster_dbt.asset_utils'
# DAGSTER_DBT_PROJECT_METADATA_KEY, not exported). Dagster cannot serialize it, so the UI
# showed "[DbtProject] (unserializable)"; the UI hides the manifest and translator entries
# beside it, not this one.
DBT_PROJECT_METADATA_KEY = "dagster_dbt/project"


class PlatformDbtTranslator(DagsterDbtTranslator):
    """Groups dbt models by their folder (see :data:`GROUP_BY_FOLDER`); gives the marts
    (``dim_*``, ``fct_*``) their freshness policy (the stream marts theirs); makes error-severity tests blocking checks;
    describes a model by its dbt documentation; points each asset at its ``.sql`` file (code
    reference, an absolute local path); keeps the ``DbtProject`` object out of the metadata
    the UI shows."""

    def __init__(self, project: DbtProject | None = None):
        super().__init__(DagsterDbtTranslatorSettings(enable_code_references=True))
        self.project = project or dbt_project

    def get_asset_spec(self, manifest, unique_id, project) -> AssetSpec:
        # dagster-dbt reads the project back from the asset metadata at run time; without the
        # entry it passes None, and code references need a project: use ours. Its other uses
        # at run time: the folder dbt runs in (the dbt resource's project_dir, the same one)
        # and a selector file for a subset of more than 200 dbt nodes (this project has 89).
        spec = super().get_asset_spec(manifest, unique_id, project or self.project)
        node = manifest.get("nodes", {}).get(unique_id, {})
        spec = with_personal_data_tags(spec, node)
        tags = node.get("tags", [])
        if OPERATIONS_TAG in tags:
            # Platform health: built on operations_job's schedule, no data freshness policy.
            return _without_project(spec)
        if node.get("resource_type") == "model" and STREAM_TAG not in tags:
            # A batch model follows its inputs (the automation sensor): the landing sensor
            # materializes raw assets only, and what is below follows. The stream models run
            # in their micro-batches.
            def keys(unique_ids: list[str]) -> list[AssetKey]:
                parent = super(PlatformDbtTranslator, self)
                return [
                    parent.get_asset_spec(manifest, u, project or self.project).key
                    for u in unique_ids
                ]

            if DAILY_TAG in tags:
                inputs = keys(reference_fed_parents(manifest, unique_id))
                condition = daily_fact_condition(inputs, DAILY_CRON)
            else:
                condition = batch_model_condition(keys(partitioned_sources(manifest, unique_id)))
            spec = spec.replace_attributes(automation_condition=condition)
        if node.get("resource_type") == "model" and node["name"].startswith(MART_PREFIXES):
            policy = freshness.STREAM_MARTS if STREAM_TAG in tags else freshness.MARTS
            spec = spec.replace_attributes(freshness_policy=policy)
        return _without_project(spec)

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The resource's dbt documentation (its YAML ``description``), without dagster-dbt's
        copy of the raw SQL (the code reference links the file); for an undocumented one, a
        sentence saying so and where its code is."""
        description = (dbt_resource_props.get("description") or "").strip()
        if description:
            return description
        return (
            f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['name']}, not "
            f"documented yet (code: {dbt_resource_props.get('original_file_path', '?')})"
        )

    def get_asset_check_spec(
        self, asset_spec, manifest, unique_id, project
    ) -> AssetCheckSpec | None:
        """A test of severity ``error`` (dbt's default) is a blocking check: its failure stops
        what is downstream, also in the other dbt step; ``warn`` is reported, never blocks.
        (dagster-dbt reports a failed test's severity, ERROR or WARN, with its result.)"""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        return AssetCheckSpec(
            name=spec.name,
            asset=spec.asset_key,
            description=spec.description,
            additional_deps=spec.additional_deps,
            blocking=dbt_test_severity(manifest["nodes"][unique_id]) == "error",
            metadata=spec.metadata,
            automation_condition=spec.automation_condition,
            partitions_def=spec.partitions_def,
        )

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return GROUP_BY_FOLDER.get(fqn[1], "marts")
        return super().get_group_name(dbt_resource_props)


def _without_project(spec: AssetSpec) -> AssetSpec:
    if DBT_PROJECT_METADATA_KEY not in spec.metadata:
        return spec
    metadata = {k: v for k, v in spec.metadata.items() if k != DBT_PROJECT_METADATA_KEY}
    return spec.replace_attributes(metadata=metadata)


def dbt_test_severity(test: Mapping[str, Any]) -> str:
    """A dbt test's severity from the manifest, ``error`` (the default) or ``warn``."""
    return str(test.get("config", {}).get("severity") or "error").lower()


def mart_keys(assets: Iterable[AssetsDefinition]) -> list[AssetKey]:
    """The keys of the marts (``dim_*``, ``fct_*``) among the dbt assets."""
    return [
        key
        for assets_def in assets
        for key in sorted(assets_def.keys)
        if key.path[0] == "marts" and key.path[-1].startswith(MART_PREFIXES)
    ]


class DbtBuildConfig(Config):
    """Run configuration of the dbt steps."""

    full_refresh: bool = False
    """Rebuild the selected models from the whole history (``dbt build --full-refresh``)."""


def build_args(
    config: DbtBuildConfig,
    dbt_vars: Mapping[str, str] | None = None,
    indirect_selection: str | None = None,
) -> list[str]:
    """The ``dbt`` arguments of a step (pure; unit-tested)."""
    args = ["build"]
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars), sort_keys=True)]
    if indirect_selection:
        args += ["--indirect-selection", indirect_selection]
    if config.full_refresh:
        args.append("--full-refresh")
    return args


def subset_indirect_selection(context: AssetExecutionContext) -> str | None:
    """dbt's test selection for the unpartitioned step: ``buildable`` when it builds a subset
    of its models with all their checks, else None (dagster-dbt's choice).

    dagster-dbt selects a subset's models and lets dbt add their tests, by dbt's default
    (``eager``): every test that reads a selected model, also one that reads a daily fact,
    which then runs before the daily step has built the fact's days for this run. ``buildable``
    keeps only tests whose models are all built here or upstream. The whole step needs no
    flag (``--exclude tag:daily`` drops those tests, and ``buildable`` would not), nor does a
    subset with checks left out (dagster-dbt names the tests and turns selection off).
    """
    assets_def = context.assets_def
    if assets_def.keys_by_output_name == assets_def.node_keys_by_output_name:
        return None
    selected = context.selected_asset_keys
    specs = assets_def.node_check_specs_by_output_name.values()
    own = {spec.key for spec in specs if spec.asset_key in selected}
    return "buildable" if own <= set(context.selected_asset_check_keys) else None


def contract_schema(node: Mapping[str, Any]) -> TableSchema | None:
    """The columns and types a model's enforced contract declares (pure; unit-tested), or
    ``None`` for a model without one."""
    if not node.get("config", {}).get("contract", {}).get("enforced"):
        return None
    return TableSchema(
        columns=[
            TableColumn(
                name,
                column.get("data_type") or "?",
                column.get("description"),
                tags=personal_data_tags(column),
            )
            for name, column in node.get("columns", {}).items()
        ]
    )


def personal_data_tags(column: Mapping[str, Any]) -> dict[str, str]:
    """A dbt column's personal-data classification (YAML ``meta.pii``: ``direct`` or
    ``quasi``) as the column tag the UI shows, ``{"pii": ...}``; ``{}`` when unclassified."""
    pii = (column.get("meta") or {}).get(PII_TAG)
    return {PII_TAG: str(pii)} if pii else {}


def with_personal_data_tags(spec: AssetSpec, node: Mapping[str, Any]) -> AssetSpec:
    """``spec`` with the classification of each of its documented columns among the column
    tags of its ``dagster/column_schema`` (dagster-dbt carries only dbt's column tags)."""
    schema = spec.metadata.get("dagster/column_schema")
    columns = node.get("columns", {})
    if schema is None or not any(personal_data_tags(c) for c in columns.values()):
        return spec
    tagged = TableSchema(
        columns=[
            TableColumn(
                c.name,
                c.type,
                c.description,
                c.constraints,
                {**c.tags, **personal_data_tags(columns.get(c.name, {}))},
            )
            for c in schema.columns
        ]
    )
    return spec.replace_attributes(metadata={**spec.metadata, "dagster/column_schema": tagged})


def with_column_schemas(events: Iterable[Any], manifest: Mapping[str, Any]) -> Iterator[Any]:
    """The step's Dagster events, each contracted model's materialization carrying the columns
    and types of its contract (``dagster/column_schema``).

    dbt refuses to build a model whose table differs from its enforced contract, so the
    declared schema is the built one: no query to the warehouse is needed for it (reading it
    back through the adapter cost several seconds a run, and on DuckDB a file lock).
    """
    nodes = manifest["nodes"]
    for event in events:
        if isinstance(event, Output | AssetMaterialization):
            unique_id = event.metadata.get("unique_id")
            node = nodes.get(unique_id.value) if unique_id is not None else None
            schema = contract_schema(node) if node else None
            if schema is not None:
                event = event.with_metadata({**event.metadata, "dagster/column_schema": schema})
        yield event


def run_dbt(
    context: AssetExecutionContext,
    invocation: DbtCliInvocation,
    manifest: Mapping[str, Any],
    window: PartitionWindow | None = None,
) -> Iterator[Any]:
    """The events of a dbt invocation as dbt reports its nodes, with column schemas
    (:func:`with_column_schemas`) and the row counts dbt logged (``row_counts``; within
    ``window`` for the daily facts). If dbt fails, what it produced (the models it built,
    the tests it ran) has been yielded when its error is raised."""

    def translate(message: DbtCliEventMessage) -> Iterator[Any]:
        return step_events(
            message, context, manifest, invocation.dagster_dbt_translator, invocation.target_path
        )

    counts = RowCounts(manifest, window, context.log)
    yield from counted_events(invocation.stream_raw_events(), translate, counts)


def build_selected(
    context: AssetExecutionContext,
    dbt: WarehouseDbtCliResource,
    config: DbtBuildConfig,
    warehouse: WarehouseResource,
    manifest: Mapping[str, Any],
    pseudonyms: PseudonymKeyResource,
    env: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """``dbt build`` of an unpartitioned step's selected models (with the test selection of
    :func:`subset_indirect_selection`) and ``env``; its events as :func:`run_dbt` yields
    them, keeping dbt's partial parse for the next invocation."""
    args = build_args(config, indirect_selection=subset_indirect_selection(context))
    warehouse.store_pseudonym_pads(*pseudonyms.pads())
    invocation = dbt.cli(args, env=env, context=context)
    try:
        yield from run_dbt(context, invocation, manifest)
    finally:
        dbt.finish_invocation(invocation)


def step_events(
    message: DbtCliEventMessage,
    context: AssetExecutionContext,
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    target_path: Path,
) -> Iterator[Any]:
    """A dbt event as the Dagster events of the step of ``context`` (dagster-dbt's
    translation), with column schemas (:func:`with_column_schemas`)."""
    events = message.to_default_asset_events(
        manifest=manifest,
        dagster_dbt_translator=translator,
        context=context,
        target_path=target_path,
        project=dbt_project,
    )
    return with_column_schemas(events, manifest)


def model_fqns(manifest: Mapping[str, Any], translator: DagsterDbtTranslator) -> dict:
    """Each dbt model's asset key -> its dbt selector ``fqn:<package>.<folders>.<name>``."""
    return {
        translator.get_asset_spec(manifest, unique_id, dbt_project).key: "fqn:"
        + ".".join(node["fqn"])
        for unique_id, node in manifest["nodes"].items()
        if node.get("resource_type") == "model"
    }


def build_with_daily(
    context: AssetExecutionContext,
    dbt: WarehouseDbtCliResource,
    config: DbtBuildConfig,
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    daily: AssetsDefinition,
    env: Mapping[str, str],
) -> Iterator[Any]:
    """``dbt build`` of the unpartitioned step's selected models and the daily step's
    (``daily``) in one invocation (see :mod:`~data_platform.transformation.combined_build`). Yields this
    step's events as :func:`run_dbt` does and hands the daily nodes' events over to the daily
    step; raises dbt's error when one of this step's nodes failed or dbt failed outside any
    node, and then logs the daily models dbt built that this run does not record."""
    # One value per flag: dagster-dbt takes the value after --select/--exclude apart. A whole
    # step is dagster-dbt's own selection without its --exclude of the daily tag; a subset
    # names its models. dbt's default test selection (eager) then runs every test of a
    # selected model, as each step alone does for the daily models.
    if context.is_subset:
        fqns = model_fqns(manifest, translator)
        selected = sorted(fqns[key] for key in context.selected_asset_keys)
        select = ("--select", " ".join([*selected, f"tag:{DAILY_TAG}"]))
    else:
        select = ("--select", "fqn:*", "--exclude", f"tag:{STREAM_TAG} tag:{OPERATIONS_TAG}")
    args = [*build_args(config), *select]
    invocation = dbt.cli(
        args,
        env=env,
        manifest=manifest,
        dagster_dbt_translator=translator,
        target_path=dbt.invocation_path(context.op_execution_context.op.name, context.run.run_id),
        raise_on_error=False,
    )
    theirs = set(daily.keys) | set(daily.check_keys)
    counts = RowCounts(manifest, None, context.log)
    own_failed, handed = False, []
    try:
        for event in invocation.stream_raw_events():
            count = logged_count(event.raw_event)
            if count is not None:
                # The daily facts' counts go with their events to the daily step.
                key = translator.get_asset_spec(manifest, count.unique_id, dbt_project).key
                if key in theirs:
                    handed.append(event)
                else:
                    counts.keep(count)
                continue
            keys = event_keys(event, manifest, translator, dbt_project)
            if not keys:
                continue
            if keys & theirs:
                handed.append(event)
                continue
            own_failed = own_failed or failed(event)
            for own in step_events(event, context, manifest, translator, invocation.target_path):
                yield counts.attach(own)
    finally:
        dbt.finish_invocation(invocation)
        counts.report()
    error = invocation.get_error()
    # dbt's error is this step's when one of its nodes failed or no node did (dbt itself).
    ours = error is not None and (own_failed or not any(failed(e) for e in handed))
    built = [e for e in handed if not failed(e) and node_name(e).startswith("model.")]
    if ours and built:
        context.log.warning(
            f"dbt built {', '.join(sorted(map(node_name, built)))} of the daily step in this "
            "invocation; the daily step does not run after this failure, so this run records "
            "no materialization of them: the next run of these partitions builds them again"
        )
    elif not ours:
        share = DailyShare(dict(env), handed, invocation.target_path, error)
        hand_over(context.run.run_id, share)
    if ours:
        raise error


def report_daily_share(
    context: AssetExecutionContext,
    share: DailyShare,
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    window: PartitionWindow,
) -> Iterator[Any]:
    """The daily step's events from the nodes the unpartitioned step's invocation built for
    it (:func:`build_with_daily`), with the row counts dbt logged in ``window``; raises dbt's
    error after them when one of the daily nodes failed."""

    def translate(message: DbtCliEventMessage) -> Iterator[Any]:
        return step_events(message, context, manifest, translator, share.target_path)

    counts = RowCounts(manifest, window, context.log)
    yield from counted_events(share.events, translate, counts)
    if share.error is not None:
        raise share.error


# dagster-dbt turns each dbt tag into an asset tag of that name with an empty value.
STREAM_DBT_SELECTION = AssetSelection.assets(WEB_EVENTS_KEY) | AssetSelection.tag(STREAM_TAG, "")
"""What a micro-batch run materializes: ``raw/web_events`` and every stream model (the assets
of the ``transform_stream_dbt`` step, dbt tag ``stream``), with their checks; for
``define_asset_job(selection=...)``."""


def build_dbt_assets(partitions_def: PartitionsDefinition):
    """The three dbt multi-assets, read from the prepared manifest (``data-platform prepare``);
    the daily models take ``partitions_def`` (the raw orders' daily partitions)."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    translator = PlatformDbtTranslator(dbt_project)
    common = {
        "manifest": manifest,
        "project": dbt_project,
        "dagster_dbt_translator": translator,
        "pool": WAREHOUSE_POOL,
    }

    @dbt_assets(
        name=DBT_ASSETS,
        exclude=f"tag:{DAILY_TAG} tag:{STREAM_TAG} tag:{OPERATIONS_TAG}",
        **common,
    )
    def transform_dbt(
        context: AssetExecutionContext,
        dbt: WarehouseDbtCliResource,
        config: DbtBuildConfig,
        warehouse: WarehouseResource,
        pseudonyms: PseudonymKeyResource,
    ):
        """Builds (runs and tests) the selected unpartitioned models, and the daily models
        too when the run builds both steps whole (one dbt invocation: ``combined_build``)."""
        env = run_partition_env(context.run.tags)
        daily = transform_daily_dbt
        partial_checks = context.is_subset and subset_indirect_selection(context) is None
        if builds_both(
            context.run,
            partial_checks,
            config.full_refresh,
            DAILY_DBT_ASSETS,
            daily.keys,
            daily.check_keys,
        ):
            warehouse.store_pseudonym_pads(*pseudonyms.pads())
            yield from build_with_daily(context, dbt, config, manifest, translator, daily, env)
            return
        yield from build_selected(context, dbt, config, warehouse, manifest, pseudonyms, env)

    @dbt_assets(
        name=DAILY_DBT_ASSETS,
        select=f"tag:{DAILY_TAG}",
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        **common,
    )
    def transform_daily_dbt(
        context: AssetExecutionContext,
        dbt: WarehouseDbtCliResource,
        config: DbtBuildConfig,
        warehouse: WarehouseResource,
        pseudonyms: PseudonymKeyResource,
    ):
        """Builds (runs and tests) the daily models for the run's partition window, or
        reports them when the unpartitioned step's invocation built them for this run."""
        start, end = context.partition_time_window
        dbt_vars = dbt_partition_vars(start, end)
        env = dbt_partition_env(dbt_vars)
        window = PartitionWindow.from_dbt_vars(dbt_vars)
        share = take(context.run.run_id)
        if share is not None and dict(share.env) == env and not context.is_subset:
            yield from report_daily_share(context, share, manifest, translator, window)
            return
        if share is not None:  # built for another window or selection: build this one
            context.log.warning(
                f"the daily models were built for {dict(share.env)} in this run's first dbt "
                f"step; building them again for {env}"
            )
        invocation = dbt.cli(build_args(config), env=env, context=context)
        warehouse.store_pseudonym_pads(*pseudonyms.pads())
        try:
            yield from run_dbt(context, invocation, manifest, window)
        finally:
            dbt.finish_invocation(invocation)

    @dbt_assets(name=STREAM_DBT_ASSETS, select=f"tag:{STREAM_TAG}", **common)
    def transform_stream_dbt(
        context: AssetExecutionContext,
        dbt: WarehouseDbtCliResource,
        config: DbtBuildConfig,
        warehouse: WarehouseResource,
        pseudonyms: PseudonymKeyResource,
    ):
        """Builds (runs and tests) the selected stream models; ``fct_store_activity_5min``
        restates the windows of the events loaded since its last build."""
        yield from build_selected(context, dbt, config, warehouse, manifest, pseudonyms)

    @dbt_assets(name=OPERATIONS_DBT_ASSETS, select=f"tag:{OPERATIONS_TAG}", **common)
    def transform_operations_dbt(
        context: AssetExecutionContext,
        dbt: WarehouseDbtCliResource,
        config: DbtBuildConfig,
        warehouse: WarehouseResource,
        pseudonyms: PseudonymKeyResource,
    ):
        """Builds (runs and tests) the operations models from the operations tables."""
        yield from build_selected(context, dbt, config, warehouse, manifest, pseudonyms)

    return [transform_dbt, transform_daily_dbt, transform_stream_dbt, transform_operations_dbt]
