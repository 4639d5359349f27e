{#-
  Each day and store of fct_daily_store_sales sums exactly the orders fct_orders holds for it:
  order and customer counts, subtotals, tax and totals. Both daily facts are rebuilt by the same
  step for the run's partition window, so that window is what is compared.
-#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_daily_store_sales'}}}) }}

with from_orders as (
    select
        order_date,
        store_id,
        count(*) as order_count,
        count(distinct customer_key) as customer_count,
        {{ sum_money('subtotal') }} as revenue_pretax,
        {{ sum_money('tax_paid') }} as tax_collected,
        {{ sum_money('order_total') }} as revenue
    from {{ ref('fct_orders') }}
    where {{ in_run_window('order_date') }}
    group by order_date, store_id
),

daily as (
    select order_date, store_id, order_count, customer_count, revenue_pretax, tax_collected, revenue
    from {{ ref('fct_daily_store_sales') }}
    where {{ in_run_window('order_date') }}
)

select
    coalesce(daily.order_date, from_orders.order_date) as order_date,
    coalesce(daily.store_id, from_orders.store_id) as store_id,
    daily.order_count,
    from_orders.order_count as fct_orders_order_count,
    daily.revenue,
    from_orders.revenue as fct_orders_revenue
from daily
full outer join from_orders
    on from_orders.order_date = daily.order_date and from_orders.store_id = daily.store_id
where daily.order_count is distinct from from_orders.order_count
   or daily.customer_count is distinct from from_orders.customer_count
   or daily.revenue_pretax is distinct from from_orders.revenue_pretax
   or daily.tax_collected is distinct from from_orders.tax_collected
   or daily.revenue is distinct from from_orders.revenue
