{#-
  The row count of a model dbt has just built, reported in dbt's log for Dagster: a post-hook
  of every model (dbt_project.yml). Tables and incremental models are counted, views are not
  (counting one runs its whole query); a daily fact (tag `daily`, config `partition_column`)
  is counted within the run's partition window when it has one, every other table whole.
  The line is dbt's info-level JinjaLogInfo event, its message `data_platform row count`
  followed by JSON: {"unique_id", "row_count", "window": [min_date, max_date] or null}.
  data_platform/transformation/row_counts.py reads it while dbt is still running, so each
  materialization and its checks reach Dagster as dbt finishes them: a DuckDB file dbt holds
  open cannot be counted from another process until dbt exits. Renders no SQL of its own.
-#}
{% macro report_row_count() -%}
    {%- if execute and model.resource_type == 'model'
          and config.get('materialized') in ('table', 'incremental') -%}
        {%- set column = config.get('partition_column') -%}
        {%- set window = partition_window() if column and 'daily' in model.tags else none -%}
        {%- set query -%}
            select count(*) from {{ this }}
            {%- if window is not none %}
            where {{ adapter.quote(column) }} between date '{{ window[0] }}' and date '{{ window[1] }}'
            {%- endif %}
        {%- endset -%}
        {%- set count = run_query(query).columns[0].values()[0] -%}
        {%- set report = {
            "unique_id": model.unique_id,
            "row_count": count | int,
            "window": none if window is none else [window[0], window[1]],
        } -%}
        {{ log("data_platform row count " ~ tojson(report), info=True) }}
    {%- endif -%}
{%- endmacro %}
