{#- Money is converted from the sources' integer cents once, in staging, by this macro. -#}
{% macro cents_to_dollars(column) -%}
    cast(cast({{ column }} as decimal(18, 0)) * 0.01 as decimal(18, 2))
{%- endmacro %}

{#- Sums of money stay DECIMAL(18,2). -#}
{% macro sum_money(column) -%}
    cast(coalesce(sum({{ column }}), 0) as decimal(18, 2))
{%- endmacro %}

{#-
  money / count, rounded half up to the cent, exactly. DuckDB divides decimals as DOUBLE, so
  there the division is done in integer cents; engines with exact NUMERIC division round it.
-#}
{% macro divide_money(money, count) -%}
    {{ return(adapter.dispatch('divide_money', 'data_platform')(money, count)) }}
{%- endmacro %}

{% macro default__divide_money(money, count) -%}
    cast(round(({{ money }}) / ({{ count }}), 2) as decimal(18, 2))
{%- endmacro %}

{% macro duckdb__divide_money(money, count) -%}
    cast(
        cast(
            (cast(({{ money }}) * 100 as bigint) * 2 + ({{ count }})) // (2 * ({{ count }}))
            as decimal(18, 0)
        ) * 0.01
        as decimal(18, 2)
    )
{%- endmacro %}
