select
    id as store_id,
    name as store_name,
    opened_at,
    cast(tax_rate as decimal(6, 4)) as tax_rate
from {{ source('raw', 'stores') }}
