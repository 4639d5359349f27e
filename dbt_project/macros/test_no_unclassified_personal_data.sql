{#-
  Generic test (model level), on every mart: fails when a text column that is not classified
  as personal data (YAML meta.pii) holds values that look like an e-mail address or a phone
  number, in a sample of `sample_rows` non-null values per column. A failing row names the
  column, what its values look like and how many of the sample do: never the values
  themselves (they would be personal data in the test's output).

  Phone numbers: the North American layouts (10 digits, optionally +1, grouped by spaces,
  dots, dashes or parentheses) and E.164 (+ and 8 to 15 digits). A column of plain 10-digit
  codes would be flagged: classify it or rename nothing, it is the scan's job to ask.
-#}
{% test no_unclassified_personal_data(model, sample_rows=1000) %}
{%- set patterns = {
    'an e-mail address': '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}$',
    'a phone number': '^([+]?1[ .-]?)?[(]?[0-9]{3}[)]?[ .-]?[0-9]{3}[ .-]?[0-9]{4}$|^[+][1-9][0-9]{7,14}$',
} -%}
{%- set classified = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.alias == model.identifier -%}
            {%- for name, column in node.columns.items() -%}
                {%- if column.meta.get('pii') -%}{%- do classified.append(name | lower) -%}{%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set columns = adapter.get_columns_in_relation(model) -%}
{%- else -%}
    {%- set columns = [] -%}
{%- endif -%}
{%- set scanned = [] -%}
{%- for column in columns if column.is_string() and column.name | lower not in classified -%}
    {%- do scanned.append(column.name) -%}
{%- endfor %}
{%- for name in scanned %}
    {%- for looks_like, pattern in patterns.items() %}
select
    '{{ name }}' as column_name,
    '{{ looks_like }}' as looks_like,
    count(*) as matching_rows
from (
    select {{ adapter.quote(name) }} as value
    from {{ model }}
    where {{ adapter.quote(name) }} is not null
    limit {{ sample_rows }}
) as sampled
where {{ regex_matches('value', pattern) }}
having count(*) > 0
{% if not loop.last %}union all{% endif %}
    {%- endfor %}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{%- if not scanned %}
select null as column_name, null as looks_like, 0 as matching_rows where 1 = 0
{%- endif %}
{% endtest %}

{% macro regex_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_matches')(expression, pattern)) }}
{%- endmacro %}

{% macro duckdb__regex_matches(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__regex_matches(expression, pattern) -%}
    {{ expression }} ~ '{{ pattern }}'
{%- endmacro %}
