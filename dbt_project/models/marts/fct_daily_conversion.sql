{#-
  The funnel per store and UTC day: sessions started that day, and how many of them viewed a
  product, added to the cart and checked out; the day's checkout events and how many name an
  order the shop's orders do not hold. Small: rebuilt in full by every build.
-#}
{{ config(tags=['stream']) }}

with events as (
    select * from {{ ref('stg_web_events') }}
),

-- A session belongs to the store and day of its session_started event.
sessions as (
    select
        session_id,
        min(store_id) as store_id,
        min(event_date) as event_date
    from events
    where event_type = 'session_started'
    group by session_id
),

session_steps as (
    select
        session_id,
        max(case when event_type = 'product_viewed' then 1 else 0 end) as viewed_product,
        max(case when event_type = 'added_to_cart' then 1 else 0 end) as added_to_cart,
        max(case when event_type = 'checkout_completed' then 1 else 0 end) as checked_out
    from events
    group by session_id
),

funnel as (
    select
        sessions.store_id,
        sessions.event_date,
        count(*) as sessions,
        sum(session_steps.viewed_product) as sessions_with_product_view,
        sum(session_steps.added_to_cart) as sessions_with_cart,
        sum(session_steps.checked_out) as sessions_with_checkout
    from sessions
    inner join session_steps on session_steps.session_id = sessions.session_id
    group by sessions.store_id, sessions.event_date
),

checkouts as (
    select
        store_id,
        event_date,
        count(*) as checkouts,
        sum(case when order_found then 0 else 1 end) as checkouts_without_order
    from {{ ref('int_checkouts_matched') }}
    group by store_id, event_date
),

days as (
    select distinct store_id, event_date from events
),

loaded as (
    select max(order_date) as last_order_date from {{ ref('stg_orders') }}
)

select
    days.store_id,
    days.event_date,
    cast(coalesce(funnel.sessions, 0) as bigint) as sessions,
    cast(coalesce(funnel.sessions_with_product_view, 0) as bigint) as sessions_with_product_view,
    cast(coalesce(funnel.sessions_with_cart, 0) as bigint) as sessions_with_cart,
    cast(coalesce(funnel.sessions_with_checkout, 0) as bigint) as sessions_with_checkout,
    {{ ratio('coalesce(funnel.sessions_with_checkout, 0)', 'coalesce(funnel.sessions, 0)') }}
        as conversion_rate,
    cast(coalesce(checkouts.checkouts, 0) as bigint) as checkouts,
    coalesce(days.event_date <= loaded.last_order_date, false) as orders_loaded,
    cast(
        case
            when coalesce(days.event_date <= loaded.last_order_date, false)
                then coalesce(checkouts.checkouts_without_order, 0)
        end
        as bigint
    ) as checkouts_without_order
from days
cross join loaded
left join funnel on funnel.store_id = days.store_id and funnel.event_date = days.event_date
left join checkouts
    on checkouts.store_id = days.store_id and checkouts.event_date = days.event_date
