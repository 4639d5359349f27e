{#-
  Generic test of a Type 2 history (valid_from, valid_to, is_current, is_deleted): the
  validity intervals of a key never overlap and leave no gap (each version ends where the
  next begins, unless it ended with the key's deletion), only the latest version of a key is
  open (valid_to null) and current, and valid_from < valid_to... or equal for a version that
  was replaced at the very time it began. Rows failing are returned.
-#}
{% test continuous_history(model, key) %}
with ordered as (
    select
        {{ key }} as history_key,
        valid_from,
        valid_to,
        is_current,
        is_deleted,
        lead(valid_from) over (partition by {{ key }} order by valid_from, valid_to) as next_from,
        row_number() over (partition by {{ key }} order by valid_from desc, valid_to desc)
            as from_last
    from {{ model }}
)

select *
from ordered
where (valid_to is not null and valid_to < valid_from)
   or (next_from is not null and not is_deleted and (valid_to is null or valid_to <> next_from))
   or (next_from is not null and is_deleted and valid_to > next_from)
   or (from_last > 1 and (is_current or valid_to is null))
   or (from_last = 1 and is_current <> (valid_to is null))
   or (is_current and is_deleted)
{% endtest %}

{#-
  Generic test: exactly one current row of the history per live key, the keys of
  `current_model` (its column `current_key`), and no current row for any other key.
-#}
{% test one_current_row_per_live_key(model, key, current_model, current_key) %}
with current_rows as (
    select {{ key }} as history_key, count(*) as n
    from {{ model }}
    where is_current
    group by {{ key }}
),

live as (
    select {{ current_key }} as history_key from {{ current_model }}
)

select
    coalesce(live.history_key, current_rows.history_key) as history_key,
    coalesce(current_rows.n, 0) as current_rows,
    live.history_key is not null as is_live
from live
full outer join current_rows on current_rows.history_key = live.history_key
where live.history_key is null or coalesce(current_rows.n, 0) <> 1
{% endtest %}
