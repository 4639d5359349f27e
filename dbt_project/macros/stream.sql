{#-
  Helpers of the stream models (tag `stream`): the web events of raw.web_events, loaded by the
  micro-batch runs of the raw asset raw/web_events.
-#}

{#-
  The relation of source raw.web_events, or, while it does not exist yet (no micro-batch has
  loaded an event), an empty select of its columns, so a fresh platform builds the stream
  models empty instead of failing the batch runs. source() is called either way: the
  dependency is recorded when dbt parses the model.
-#}
{% macro web_events_relation() -%}
    {%- set relation = source('raw', 'web_events') -%}
    {%- if execute and adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        {{ log("source raw.web_events does not exist yet: the stream models are built empty", info=True) }}
        (
            select
                cast(null as text) as event_id,
                cast(null as text) as event_type,
                cast(null as timestamp) as event_time,
                cast(null as text) as session_id,
                cast(null as text) as visitor_id,
                cast(null as text) as customer_id,
                cast(null as text) as store_id,
                cast(null as text) as page,
                cast(null as text) as product_id,
                cast(null as text) as order_id,
                cast(null as bigint) as order_total,
                cast(null as timestamp) as published_at,
                cast(null as date) as _partition_date,
                cast(null as text) as _source,
                cast(null as bigint) as _source_row,
                cast(null as text) as _batch_id,
                cast(null as timestamp) as _loaded_at
            where 1 = 0
        )
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#-
  The start of the `minutes`-minute window holding `column` (a TIMESTAMP without time zone,
  UTC): windows are aligned on midnight UTC (`minutes` must divide a day), start inclusive,
  end exclusive. Same result on every engine; returns a TIMESTAMP.
-#}
{% macro window_start(column, minutes) -%}
    {{ return(adapter.dispatch('window_start', 'data_platform')(column, minutes)) }}
{%- endmacro %}

{% macro default__window_start(column, minutes) -%}
    date_bin(interval '{{ minutes }} minutes', {{ column }}, timestamp '2000-01-01 00:00:00')
{%- endmacro %}

{% macro duckdb__window_start(column, minutes) -%}
    time_bucket(interval '{{ minutes }} minutes', {{ column }}, timestamp '2000-01-01 00:00:00')
{%- endmacro %}

{#-
  numerator / denominator (integers) as a DECIMAL(9,4) rounded half up at the fourth place,
  exactly (integer arithmetic on DuckDB, whose decimal division is a DOUBLE one; exact NUMERIC
  division elsewhere); null when the denominator is 0.
-#}
{% macro ratio(numerator, denominator) -%}
    {{ return(adapter.dispatch('ratio', 'data_platform')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__ratio(numerator, denominator) -%}
    case when ({{ denominator }}) = 0 then null else
        cast(round(cast({{ numerator }} as numeric) / ({{ denominator }}), 4) as decimal(9, 4))
    end
{%- endmacro %}

{% macro duckdb__ratio(numerator, denominator) -%}
    case when ({{ denominator }}) = 0 then null else
        cast(
            cast(
                (cast({{ numerator }} as bigint) * 20000 + ({{ denominator }})) // (2 * ({{ denominator }}))
                as decimal(18, 0)
            ) * 0.0001
            as decimal(9, 4)
        )
    end
{%- endmacro %}
