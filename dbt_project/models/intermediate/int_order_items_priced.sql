{#-
  Items with their product as it was when the order was placed (dim_products_history, valid
  at the order's ordered_at): its type flags and price of that day; the supply cost is the
  product's current one (supplies keep no history): the building block of the order facts.
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
    select sku, supply_cost from {{ ref('dim_products') }}
)

select
    items.order_item_id,
    items.order_id,
    items.order_date,
    items.sku,
    products.is_food_item,
    products.is_drink_item,
    products.price,
    supply_costs.supply_cost,
    products.price - supply_costs.supply_cost as gross_margin
from items
left join products
    on products.sku = items.sku and {{ valid_at('products', 'items.ordered_at') }}
left join supply_costs on supply_costs.sku = items.sku
