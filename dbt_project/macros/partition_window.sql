{#-
  Daily partitions: min_date and max_date (ISO dates, both inclusive: the partition or range
  of partitions a run materializes). Dagster passes them in the environment variables
  DATA_PLATFORM_DBT_MIN_DATE and DATA_PLATFORM_DBT_MAX_DATE: when an environment variable
  changes, dbt re-parses only the files that read it, when a var changes, the whole project
  (about a second and a half per invocation). The vars of the same names, given on a command
  line, win. Without either (a plain `dbt build`) the window is the whole history.
-#}
{% macro partition_window() -%}
    {%- set min_date = var('min_date', env_var('DATA_PLATFORM_DBT_MIN_DATE', '')) or none -%}
    {%- set max_date = var('max_date', env_var('DATA_PLATFORM_DBT_MAX_DATE', '')) or none -%}
    {%- if (min_date is none) != (max_date is none) -%}
        {{ exceptions.raise_compiler_error("set both vars min_date and max_date, or neither") }}
    {%- endif -%}
    {%- for value in [min_date, max_date] if value is not none -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value | string) -%}
            {{ exceptions.raise_compiler_error("partition var " ~ value ~ " is not a YYYY-MM-DD date") }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none if min_date is none else (min_date | string, max_date | string)) }}
{%- endmacro %}

{#-
  A predicate: `column` (a DATE) lies in the run's partition window. Only incremental runs
  filter: a model's first build and a --full-refresh read the whole history, whatever
  partitions the run covers.
-#}
{% macro in_partition_window(column) -%}
    {%- set window = partition_window() -%}
    {%- if window is none or not is_incremental() -%}
        1 = 1
    {%- else -%}
        {{ in_run_window(column) }}
    {%- endif -%}
{%- endmacro %}

{#-
  A predicate: `column` (a DATE) lies in the partition window the run was given, or anywhere
  without one. For tests of the daily facts: a run rebuilds only its window, so a test that
  compares a fact with another model checks that window (the rest was checked when it was
  built, and may predate a change of reference data the run restates for its window only).
-#}
{% macro in_run_window(column) -%}
    {%- set window = partition_window() -%}
    {%- if window is none -%}
        1 = 1
    {%- else -%}
        {{ column }} between cast('{{ window[0] }}' as date) and cast('{{ window[1] }}' as date)
    {%- endif -%}
{%- endmacro %}

{#-
  Incremental strategy `partition_window`: replace exactly the rows of the run's partition
  window (config `partition_column`) with the model's rows for that window: the delete also
  removes rows whose source rows are gone, which unique-key strategies would keep. dbt runs
  it in the model's transaction, so readers see the old window or the new one.
-#}
{% macro get_incremental_partition_window_sql(arg_dict) -%}
    {%- set column = config.get('partition_column') -%}
    {%- if not column -%}
        {{ exceptions.raise_compiler_error("incremental_strategy partition_window needs config partition_column") }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }} where {{ in_partition_window(column) }};
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}

{#-
  The sequence number of each order among its customer's orders (by ordered_at, then order_id)
  depends on every earlier order, so after a window is replaced it is recomputed over the
  whole table, and only rows whose number changed are written. Cost: one window function over
  all orders per run (see fct_orders).
-#}
{% macro renumber_customer_orders(relation) -%}
    update {{ relation }}
    set customer_order_number = numbered.customer_order_number
    from (
        select
            order_id,
            row_number() over (
                partition by customer_key order by ordered_at, order_id
            ) as customer_order_number
        from {{ relation }}
    ) as numbered
    where {{ relation }}.order_id = numbered.order_id
      and {{ relation }}.customer_order_number <> numbered.customer_order_number
{%- endmacro %}
