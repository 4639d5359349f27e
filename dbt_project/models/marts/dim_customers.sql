with customers as (
    select * from {{ ref('stg_customers') }}
),

order_summary as (
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as most_recent_order_date,
        count(*) as lifetime_order_count,
        sum(subtotal) as lifetime_spend_pretax,
        sum(order_total) as lifetime_spend
    from {{ ref('stg_orders') }}
    group by customer_id
)

select
    {{ pseudonym('customers.customer_id') }} as customer_key,
    -- Generalised, never the address itself: the domain of the e-mail, the city, the first
    -- three digits of the postcode (a US ZIP3 area).
    lower(split_part(customers.email, '@', 2)) as email_domain,
    customers.city,
    left(customers.postcode, 3) as postcode_area,
    order_summary.first_order_date,
    order_summary.most_recent_order_date,
    cast(coalesce(order_summary.lifetime_order_count, 0) as bigint) as lifetime_order_count,
    cast(coalesce(order_summary.lifetime_spend_pretax, 0) as decimal(18, 2)) as lifetime_spend_pretax,
    cast(coalesce(order_summary.lifetime_spend, 0) as decimal(18, 2)) as lifetime_spend,
    case
        when coalesce(order_summary.lifetime_order_count, 0) > 1 then 'returning'
        else 'new'
    end as customer_type
from customers
left join order_summary on order_summary.customer_id = customers.customer_id
