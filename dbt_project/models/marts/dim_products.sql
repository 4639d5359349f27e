with products as (
    select * from {{ ref('stg_products') }}
),

supply_costs as (
    select sku, sum(supply_cost) as supply_cost
    from {{ ref('stg_supplies') }}
    group by sku
)

select
    products.sku,
    products.product_name,
    products.product_type,
    products.price,
    cast(coalesce(supply_costs.supply_cost, 0) as decimal(18, 2)) as supply_cost,
    cast(products.price - coalesce(supply_costs.supply_cost, 0) as decimal(18, 2)) as gross_margin,
    products.product_type = 'jaffle' as is_food_item,
    products.product_type = 'beverage' as is_drink_item
from products
left join supply_costs on supply_costs.sku = products.sku
