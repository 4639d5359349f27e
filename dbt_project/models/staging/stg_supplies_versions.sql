select
    id as supply_id,
    sku,
    name as supply_name,
    {{ cents_to_dollars('cost') }} as supply_cost,
    perishable as is_perishable,
    updated_at,
    _change as change_kind,
    _loaded_at as loaded_at,
    _load_id as load_id
from {{ versions_of('raw', 'supplies') }}
