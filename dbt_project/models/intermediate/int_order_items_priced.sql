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

-- One pass: the supplies are summed per item in the same grouping as its own columns, so a
-- fact's partition window on order_date reaches below the sum (a separate per-item sum
-- joined back would be computed over every item of the history on every daily run).
priced as (
    select
        items.order_item_id,
        items.order_id,
        items.order_date,
        items.sku,
        products.is_food_item,
        products.is_drink_item,
        products.price,
        coalesce(sum(supplies.supply_cost), 0) as supply_cost
    from items
    left join products
        on products.sku = items.sku and {{ valid_at('products', 'items.ordered_at') }}
    left join {{ ref('int_supplies_history') }} as supplies
        on supplies.sku = items.sku and {{ valid_at('supplies', 'items.ordered_at') }}
    group by
        items.order_item_id,
        items.order_id,
        items.order_date,
        items.sku,
        products.is_food_item,
        products.is_drink_item,
        products.price
)

select
    order_item_id,
    order_id,
    order_date,
    sku,
    is_food_item,
    is_drink_item,
    price,
    cast(supply_cost as decimal(18, 2)) as supply_cost,
    cast(price - supply_cost as decimal(18, 2)) as gross_margin
from priced
