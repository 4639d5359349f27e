select
    id as order_item_id,
    order_id,
    sku,
    _partition_date as order_date
from {{ source('raw', 'order_items') }}
