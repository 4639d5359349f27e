{#- Helpers of the operations models (tag `operations`): platform health from the Dagster instance. -#}

{#-
  The ISO 8601 week of a DATE as text, e.g. '2026-W49' (the ISO year: 2024-12-30 is in
  '2025-W01'). Same text on every engine.
-#}
{% macro iso_week(column) -%}
    {{ return(adapter.dispatch('iso_week', 'data_platform')(column)) }}
{%- endmacro %}

{% macro default__iso_week(column) -%}
    to_char({{ column }}, 'IYYY-"W"IW')
{%- endmacro %}

{% macro duckdb__iso_week(column) -%}
    strftime({{ column }}, '%G-W%V')
{%- endmacro %}

{#-
  The 95th percentile of a column over the group, interpolated between the two nearest values
  (percentile_cont), nulls ignored, as DECIMAL(18,3); null when every value is null.
-#}
{% macro p95(column) -%}
    cast(percentile_cont(0.95) within group (order by {{ column }}) as decimal(18, 3))
{%- endmacro %}
