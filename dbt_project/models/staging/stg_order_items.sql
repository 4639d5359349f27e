select
    id as order_item_id,
    order_id,
    sku
from {{ source('raw', 'order_items') }}
