{#-
  The serving view: batch where the batch has closed the day, stream after it. A view, so a
  query sees the stream's latest micro-batch and the batch's latest run at once.
-#}
{{ config(materialized='view', tags=['stream']) }}

with batch as (
    select order_date, store_id, store_name, order_count, revenue
    from {{ ref('fct_daily_store_sales') }}
),

closed as (
    select max(order_date) as last_batch_date from batch
),

-- One checkout per order (the order it names), at its earliest event.
checkouts as (
    select
        order_id,
        store_id,
        event_date,
        order_total,
        row_number() over (partition by order_id order by event_time, event_id) as nth
    from {{ ref('stg_web_events') }}
    where event_type = 'checkout_completed'
),

stream as (
    select
        checkouts.event_date as order_date,
        checkouts.store_id,
        count(*) as order_count,
        {{ sum_money('checkouts.order_total') }} as revenue
    from checkouts
    cross join closed
    where checkouts.nth = 1
      and (closed.last_batch_date is null or checkouts.event_date > closed.last_batch_date)
    group by checkouts.event_date, checkouts.store_id
)

select
    order_date,
    store_id,
    store_name,
    cast(order_count as bigint) as order_count,
    revenue,
    cast('batch' as text) as source
from batch
union all
select
    stream.order_date,
    stream.store_id,
    stores.store_name,
    cast(stream.order_count as bigint) as order_count,
    stream.revenue,
    cast('stream' as text) as source
from stream
left join {{ ref('stg_stores') }} as stores on stores.store_id = stream.store_id
