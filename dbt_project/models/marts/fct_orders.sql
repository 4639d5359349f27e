{#-
  Incremental by daily partition: a run replaces exactly the days Dagster passes (vars
  min_date..max_date), reading only those days of orders and items. customer_order_number
  needs every earlier order of the customer: the post-hook recomputes it over the whole table
  (one window function over all orders per run; only changed rows are written).
-#}
{{
    config(
        materialized='incremental',
        tags=['daily'],
        post_hook="{{ renumber_customer_orders(this) }}",
    )
}}

with orders as (
    select * from {{ ref('stg_orders') }}
    where {{ in_partition_window('order_date') }}
),

order_items as (
    select
        order_id,
        count(*) as item_count,
        sum(case when is_food_item then 1 else 0 end) as food_item_count,
        sum(case when is_drink_item then 1 else 0 end) as drink_item_count,
        sum(supply_cost) as supply_cost,
        sum(gross_margin) as gross_margin
    from {{ ref('int_order_items_priced') }}
    where {{ in_partition_window('order_date') }}
    group by order_id
),

stores as (
    select store_id, tax_rate, valid_from, valid_to from {{ ref('dim_stores_history') }}
)

select
    orders.order_id,
    {{ pseudonym('orders.customer_id') }} as customer_key,
    orders.store_id,
    orders.ordered_at,
    orders.order_date,
    orders.subtotal,
    orders.tax_paid,
    orders.order_total,
    cast(coalesce(order_items.item_count, 0) as bigint) as item_count,
    cast(coalesce(order_items.food_item_count, 0) as bigint) as food_item_count,
    cast(coalesce(order_items.drink_item_count, 0) as bigint) as drink_item_count,
    cast(coalesce(order_items.supply_cost, 0) as decimal(18, 2)) as supply_cost,
    cast(coalesce(order_items.gross_margin, 0) as decimal(18, 2)) as gross_margin,
    stores.tax_rate,
    coalesce(order_items.food_item_count, 0) > 0 as is_food_order,
    coalesce(order_items.drink_item_count, 0) > 0 as is_drink_order,
    -- Numbered within the window here; the post-hook carries the numbering across the history.
    cast(
        row_number() over (
            partition by orders.customer_id order by orders.ordered_at, orders.order_id
        ) as bigint
    ) as customer_order_number
from orders
left join order_items on order_items.order_id = orders.order_id
left join stores
    on stores.store_id = orders.store_id and {{ valid_at('stores', 'orders.ordered_at') }}
