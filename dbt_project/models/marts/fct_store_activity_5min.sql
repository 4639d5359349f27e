{#-
  Web activity per store and 5-minute window of event time (UTC). Incremental: each build
  recomputes, from every event, exactly the windows that hold an event loaded since the last
  build (loaded_at later than the latest last_loaded_at of the table), and replaces those
  windows (delete+insert on store_id + window_start). Events are never removed from
  raw.web_events, so the windows left alone are already right, and a full refresh builds the
  same table.
-#}
{{
    config(
        materialized='incremental',
        tags=['stream'],
        incremental_strategy='delete+insert',
        unique_key=['store_id', 'window_start'],
    )
}}

with events as (
    select
        store_id,
        {{ window_start('event_time', 5) }} as window_start,
        event_type,
        session_id,
        order_total_cents,
        order_total,
        loaded_at
    from {{ ref('stg_web_events') }}
),

{% if is_incremental() %}
touched as (
    select distinct store_id, window_start
    from events
    where loaded_at > (
        select coalesce(max(last_loaded_at), cast('1900-01-01' as timestamp)) from {{ this }}
    )
),

windowed as (
    select events.*
    from events
    inner join touched
        on touched.store_id = events.store_id and touched.window_start = events.window_start
),
{% else %}
windowed as (
    select * from events
),
{% endif %}

activity as (
    select
        store_id,
        window_start,
        count(distinct case when event_type = 'session_started' then session_id end) as sessions,
        sum(case when event_type = 'page_viewed' then 1 else 0 end) as page_views,
        sum(case when event_type = 'product_viewed' then 1 else 0 end) as product_views,
        sum(case when event_type = 'added_to_cart' then 1 else 0 end) as carts,
        sum(case when event_type = 'checkout_completed' then 1 else 0 end) as checkouts,
        sum(case when event_type = 'checkout_completed' then order_total_cents else 0 end)
            as revenue_cents,
        {{ sum_money("case when event_type = 'checkout_completed' then order_total end") }}
            as revenue,
        count(*) as event_count,
        max(loaded_at) as last_loaded_at
    from windowed
    group by store_id, window_start
)

select
    store_id,
    cast(window_start as timestamp) as window_start,
    cast(window_start + interval '5 minutes' as timestamp) as window_end,
    cast(window_start as date) as window_date,
    cast(sessions as bigint) as sessions,
    cast(page_views as bigint) as page_views,
    cast(product_views as bigint) as product_views,
    cast(carts as bigint) as carts,
    cast(checkouts as bigint) as checkouts,
    cast(revenue_cents as bigint) as revenue_cents,
    revenue,
    cast(event_count as bigint) as event_count,
    last_loaded_at
from activity
