select
    sku,
    name as product_name,
    type as product_type,
    {{ cents_to_dollars('price') }} as price,
    description as product_description
from {{ source('raw', 'products') }}
