select
    id as customer_id,
    name as customer_name,
    email,
    phone,
    street,
    city,
    postcode,
    updated_at
from {{ source('raw', 'customers') }}
