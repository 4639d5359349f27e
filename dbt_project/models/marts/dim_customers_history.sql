{#-
  Type 2: one row per customer version (macros/history.sql). No direct identifier: the
  customer is the keyed pseudonym of dim_customers, the address a city and a postcode area.
-#}
with history as (
    {{ type2_history(ref('stg_customers_versions'), 'customer_id') }}
)

select
    {{ pseudonym('customer_id') }} as customer_key,
    city,
    left(postcode, 3) as postcode_area,
    {{ history_columns() }}
from history
