{#- Incremental by daily partition: a run replaces exactly the days Dagster passes. -#}
{{
    config(
        materialized='incremental',
        tags=['daily'],
    )
}}

with orders as (
    select * from {{ ref('stg_orders') }}
    where {{ in_partition_window('order_date') }}
),

stores as (
    select * from {{ ref('stg_stores') }}
),

daily as (
    select
        order_date,
        store_id,
        count(*) as order_count,
        count(distinct customer_id) as customer_count,
        {{ sum_money('subtotal') }} as revenue_pretax,
        {{ sum_money('tax_paid') }} as tax_collected,
        {{ sum_money('order_total') }} as revenue
    from orders
    group by order_date, store_id
)

select
    daily.order_date,
    daily.store_id,
    stores.store_name,
    cast(daily.order_count as bigint) as order_count,
    cast(daily.customer_count as bigint) as customer_count,
    daily.revenue_pretax,
    daily.tax_collected,
    daily.revenue,
    {{ divide_money('daily.revenue', 'daily.order_count') }} as avg_order_value
from daily
left join stores on stores.store_id = daily.store_id
