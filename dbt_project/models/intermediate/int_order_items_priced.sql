{#- Items with their product's type and supply cost: the building block of the order facts. -#}
with items as (
    select * from {{ ref('stg_order_items') }}
),

products as (
    select * from {{ ref('dim_products') }}
)

select
    items.order_item_id,
    items.order_id,
    items.order_date,
    items.sku,
    products.is_food_item,
    products.is_drink_item,
    products.supply_cost
from items
left join products on products.sku = items.sku
