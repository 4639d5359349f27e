select
    sku,
    name as product_name,
    type as product_type,
    {{ cents_to_dollars('price') }} as price,
    description as product_description,
    updated_at,
    _change as change_kind,
    _loaded_at as loaded_at,
    _load_id as load_id
from {{ versions_of('raw', 'products') }}
