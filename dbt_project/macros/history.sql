{#-
  Type 2 history from a versions relation (a stg_<dataset>_versions view: one row per
  version or deletion the raw ingest saw, change_kind created/changed/deleted, updated_at the
  source's change time, loaded_at the load's). One row per key and version, with:

  - valid_from: the version's updated_at; a key's first version is valid from 1900-01-01
    (the beginning: an order placed before the first load still finds its product), and a
    version never starts before an earlier event of its key (a source clock going back, a key
    created again after its deletion), so intervals never overlap;
  - valid_to: the start of the key's next event (its next version, or its deletion's
    loaded_at: the source does not tell when a row went), null while current;
  - is_current: no later event (a deleted key has no current row);
  - is_deleted: the version ended with the key's deletion (a gap follows, if the key came back).

  Versions are ordered by the load that saw them (loaded_at, load_id): one load sees at most
  one event per key.
-#}
{% macro type2_history(relation, key) -%}
with events as (
    select
        *,
        case when change_kind = 'deleted' then loaded_at else updated_at end as event_at,
        row_number() over (partition by {{ key }} order by loaded_at, load_id) as event_number
    from {{ relation }}
),

started as (
    select
        *,
        max(event_at) over (
            partition by {{ key }} order by event_number
            rows between unbounded preceding and current row
        ) as starts_at
    from events
),

linked as (
    select
        *,
        lead(starts_at) over (partition by {{ key }} order by event_number) as next_starts_at,
        lead(change_kind) over (partition by {{ key }} order by event_number) as next_change
    from started
)

select
    *,
    case
        when event_number = 1 then cast('1900-01-01 00:00:00' as timestamp)
        else starts_at
    end as valid_from,
    next_starts_at as valid_to,
    next_change is null as is_current,
    coalesce(next_change = 'deleted', false) as is_deleted
from linked
where change_kind <> 'deleted'
{%- endmacro %}

{#- The columns type2_history adds, with the version's updated_at, in the marts' order. -#}
{% macro history_columns() -%}
    updated_at, valid_from, valid_to, is_current, is_deleted
{%- endmacro %}

{#-
  A join predicate: `at` (a timestamp) lies in the validity interval [valid_from, valid_to)
  of the history row `history` (a table alias).
-#}
{% macro valid_at(history, at) -%}
    {{ at }} >= {{ history }}.valid_from
    and ({{ history }}.valid_to is null or {{ at }} < {{ history }}.valid_to)
{%- endmacro %}

{#-
  The append-only versions table of a versioned raw source (raw.<name>_versions, written by
  the same raw asset as raw.<name>: data_platform/loading/versions.py). Not a dbt source of
  its own: a source is one Dagster asset, and this table's asset is the raw one, so the model
  depends on the source raw.<name> and reads the table beside it.
-#}
{% macro versions_of(source_name, table_name) -%}
    {%- set current = source(source_name, table_name) -%}
    {{ current.incorporate(path={'identifier': current.identifier ~ '_versions'}) }}
{%- endmacro %}
