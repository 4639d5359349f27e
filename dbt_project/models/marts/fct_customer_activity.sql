with customers as (
    select customer_id from {{ ref('stg_customers') }}
),

events as (
    select customer_id, 'order' as event_type, ordered_at as event_at
    from {{ ref('stg_orders') }}
    union all
    select customer_id, 'tweet' as event_type, tweeted_at as event_at
    from {{ ref('stg_tweets') }}
),

activity as (
    select
        customer_id,
        sum(case when event_type = 'order' then 1 else 0 end) as order_count,
        sum(case when event_type = 'tweet' then 1 else 0 end) as tweet_count,
        count(*) as event_count,
        count(distinct cast(event_at as date)) as active_days,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at
    from events
    group by customer_id
)

select
    {{ pseudonym('customers.customer_id') }} as customer_key,
    cast(coalesce(activity.order_count, 0) as bigint) as order_count,
    cast(coalesce(activity.tweet_count, 0) as bigint) as tweet_count,
    cast(coalesce(activity.event_count, 0) as bigint) as event_count,
    cast(coalesce(activity.active_days, 0) as bigint) as active_days,
    activity.first_event_at,
    activity.last_event_at
from customers
left join activity on activity.customer_id = customers.customer_id
