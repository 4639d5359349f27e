{#-
  Items with their product as it was when the order was placed (dim_products_history, valid
  at the order's ordered_at): its type flags and price of that day, and its supply cost of
  that moment (the supplies of int_supplies_history valid then, summed): the building block
  of the order facts.
-#}
with items as (
    select
        items.order_item_id,
        items.order_id,
        items.order_date,
        items.sku,
        orders.ordered_at
    from {{ ref('stg_order_items') }} as items
    left join {{ ref('stg_orders') }} as orders on orders.order_id = items.order_id
),

products as (
    select * from {{ ref('dim_products_history') }}
),

supply_costs as (
    select
        items.order_item_id,
        sum(supplies.supply_cost) as supply_cost
    from items
    inner join {{ ref('int_supplies_history') }} as supplies
        on supplies.sku = items.sku and {{ valid_at('supplies', 'items.ordered_at') }}
    group by items.order_item_id
)

select
    items.order_item_id,
    items.order_id,
    items.order_date,
    items.sku,
    products.is_food_item,
    products.is_drink_item,
    products.price,
    cast(coalesce(supply_costs.supply_cost, 0) as decimal(18, 2)) as supply_cost,
    cast(products.price - coalesce(supply_costs.supply_cost, 0) as decimal(18, 2)) as gross_margin
from items
left join products
    on products.sku = items.sku and {{ valid_at('products', 'items.ordered_at') }}
left join supply_costs on supply_costs.order_item_id = items.order_item_id
