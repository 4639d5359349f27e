{#- Generic test: on every row, the column is at most the other column (a funnel narrows). -#}
{% test not_greater_than(model, column_name, other) %}
select {{ column_name }}, {{ other }}
from {{ model }}
where {{ column_name }} > {{ other }}
{% endtest %}
