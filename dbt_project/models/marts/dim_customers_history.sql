{#- Type 2: one row per customer version (macros/history.sql); no direct identifier. -#}
with history as (
    {{ type2_history(ref('stg_customers_versions'), 'customer_id') }}
)

select
    customer_id,
    city,
    postcode,
    {{ history_columns() }}
from history
