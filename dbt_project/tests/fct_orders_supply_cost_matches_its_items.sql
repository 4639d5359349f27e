{#-
  An order's supply cost and item count are those of its items: one row of stg_order_items per
  item, priced with its product's supply cost in dim_products. Checked over the run's
  partition window: a run that changes the products or supplies restates only its window.
-#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_orders'}}}) }}

with items as (
    select
        items.order_id,
        count(*) as item_count,
        {{ sum_money('products.supply_cost') }} as supply_cost
    from {{ ref('stg_order_items') }} as items
    left join {{ ref('dim_products') }} as products on products.sku = items.sku
    where {{ in_run_window('items.order_date') }}
    group by items.order_id
)

select
    orders.order_id,
    orders.item_count,
    items.item_count as items_item_count,
    orders.supply_cost,
    items.supply_cost as items_supply_cost
from {{ ref('fct_orders') }} as orders
left join items on items.order_id = orders.order_id
where {{ in_run_window('orders.order_date') }}
  and (
      orders.item_count <> coalesce(items.item_count, 0)
      or orders.supply_cost <> coalesce(items.supply_cost, 0)
  )
