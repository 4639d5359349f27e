select
    id as supply_id,
    sku,
    name as supply_name,
    {{ cents_to_dollars('cost') }} as supply_cost,
    perishable as is_perishable,
    updated_at
from {{ source('raw', 'supplies') }}
