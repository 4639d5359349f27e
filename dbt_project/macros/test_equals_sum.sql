{#- Generic test: column = the sum of the given columns, on every row (money that must add up). -#}
{% test equals_sum(model, column_name, parts) %}
select *
from {{ model }}
where {{ column_name }} <> ({{ parts | join(' + ') }})
{% endtest %}
