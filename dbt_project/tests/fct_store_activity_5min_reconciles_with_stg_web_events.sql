{#-
  Every event of stg_web_events is counted once in fct_store_activity_5min: per store and day,
  the windows' event counts, checkouts and revenue equal those of the events. An event loaded
  without its window being recomputed (the incremental build's one way to go wrong) fails here.
-#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_store_activity_5min'}}}) }}

with from_events as (
    select
        store_id,
        event_date,
        count(*) as event_count,
        sum(case when event_type = 'checkout_completed' then 1 else 0 end) as checkouts,
        sum(case when event_type = 'checkout_completed' then order_total_cents else 0 end)
            as revenue_cents
    from {{ ref('stg_web_events') }}
    group by store_id, event_date
),

from_windows as (
    select
        store_id,
        window_date as event_date,
        sum(event_count) as event_count,
        sum(checkouts) as checkouts,
        sum(revenue_cents) as revenue_cents
    from {{ ref('fct_store_activity_5min') }}
    group by store_id, window_date
)

select
    coalesce(from_events.store_id, from_windows.store_id) as store_id,
    coalesce(from_events.event_date, from_windows.event_date) as event_date,
    from_events.event_count,
    from_windows.event_count as windows_event_count,
    from_events.revenue_cents,
    from_windows.revenue_cents as windows_revenue_cents
from from_events
full outer join from_windows
    on from_windows.store_id = from_events.store_id
   and from_windows.event_date = from_events.event_date
where from_events.event_count is distinct from from_windows.event_count
   or from_events.checkouts is distinct from from_windows.checkouts
   or from_events.revenue_cents is distinct from from_windows.revenue_cents
