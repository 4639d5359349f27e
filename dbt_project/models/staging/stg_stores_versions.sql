select
    id as store_id,
    name as store_name,
    opened_at,
    cast(tax_rate as decimal(6, 4)) as tax_rate,
    updated_at,
    _change as change_kind,
    _loaded_at as loaded_at,
    _load_id as load_id
from {{ versions_of('raw', 'stores') }}
