{#-
  Only the key and the quasi-identifiers of the address: the direct identifiers (name,
  e-mail, phone, street) stay in raw.customers_versions, where erasure scrubs them. A version
  that changed only those still shows, with the same city and postcode.
-#}
select
    id as customer_id,
    city,
    postcode,
    updated_at,
    _change as change_kind,
    _loaded_at as loaded_at,
    _load_id as load_id
from {{ versions_of('raw', 'customers') }}
