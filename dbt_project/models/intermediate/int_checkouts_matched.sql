{#-
  Every checkout event with the order it names looked up in the shop's orders (stg_orders,
  loaded by the nightly batch). Rebuilt with each build: a view.
-#}
{{ config(tags=['stream']) }}

with checkouts as (
    select * from {{ ref('stg_web_events') }}
    where event_type = 'checkout_completed'
),

orders as (
    select order_id, store_id, order_total from {{ ref('stg_orders') }}
),

loaded as (
    select max(order_date) as last_order_date from {{ ref('stg_orders') }}
)

select
    checkouts.event_id,
    checkouts.event_time,
    checkouts.event_date,
    checkouts.store_id,
    checkouts.session_id,
    checkouts.customer_id,
    checkouts.order_id,
    checkouts.order_total,
    checkouts.order_total_cents,
    orders.order_id is not null as order_found,
    coalesce(checkouts.event_date <= loaded.last_order_date, false) as order_day_loaded,
    orders.store_id as order_store_id,
    orders.order_total as order_order_total
from checkouts
cross join loaded
left join orders on orders.order_id = checkouts.order_id
