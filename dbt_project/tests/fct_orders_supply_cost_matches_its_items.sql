{#-
  An order's supply cost and item count are those of its items: one row of stg_order_items per
  item, each priced with its product's supplies valid when the order was placed
  (int_supplies_history). Checked over the run's partition window: a run that changes the
  products or supplies restates only its window.
-#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_orders'}}}) }}

with costs as (
    select
        items.order_item_id,
        items.order_id,
        coalesce(sum(supplies.supply_cost), 0) as supply_cost
    from {{ ref('stg_order_items') }} as items
    inner join {{ ref('stg_orders') }} as placed on placed.order_id = items.order_id
    left join {{ ref('int_supplies_history') }} as supplies
        on supplies.sku = items.sku and {{ valid_at('supplies', 'placed.ordered_at') }}
    where {{ in_run_window('items.order_date') }}
    group by items.order_item_id, items.order_id
),

items as (
    select
        order_id,
        count(*) as item_count,
        {{ sum_money('supply_cost') }} as supply_cost
    from costs
    group by order_id
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
