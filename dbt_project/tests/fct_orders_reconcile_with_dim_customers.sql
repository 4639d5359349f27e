{#-
  dim_customers' lifetime figures are the sums of the customer's rows in fct_orders: order
  count, spend before tax and spend (zero without orders). Checked for the customers who
  ordered in the run's partition window, or for every customer without one.

  Attached to fct_orders, not dim_customers: it runs in the daily step, after this run has
  rebuilt both dim_customers (the unpartitioned step, upstream) and the window of fct_orders.
  On dim_customers it would run before fct_orders holds the run's days, and fail on them.
-#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_orders'}}}) }}

with from_orders as (
    select
        customer_key,
        count(*) as order_count,
        {{ sum_money('subtotal') }} as spend_pretax,
        {{ sum_money('order_total') }} as spend
    from {{ ref('fct_orders') }}
    group by customer_key
),

compared as (
    select
        coalesce(customers.customer_key, from_orders.customer_key) as customer_key,
        customers.lifetime_order_count,
        coalesce(from_orders.order_count, 0) as fct_orders_order_count,
        customers.lifetime_spend_pretax,
        coalesce(from_orders.spend_pretax, 0) as fct_orders_spend_pretax,
        customers.lifetime_spend,
        coalesce(from_orders.spend, 0) as fct_orders_spend
    from {{ ref('dim_customers') }} as customers
    full outer join from_orders on from_orders.customer_key = customers.customer_key
)

select *
from compared
where (
    lifetime_order_count is distinct from fct_orders_order_count
    or lifetime_spend_pretax is distinct from fct_orders_spend_pretax
    or lifetime_spend is distinct from fct_orders_spend
)
{%- if partition_window() is not none %}
  and customer_key in (
      select customer_key from {{ ref('fct_orders') }} where {{ in_run_window('order_date') }}
  )
{%- endif %}
