{#- Type 2: one row per product version (macros/history.sql). -#}
with history as (
    {{ type2_history(ref('stg_products_versions'), 'sku') }}
)

select
    sku,
    product_name,
    product_type,
    price,
    product_type = 'jaffle' as is_food_item,
    product_type = 'beverage' as is_drink_item,
    {{ history_columns() }}
from history
