{#- Type 2: one row per store version (macros/history.sql). -#}
with history as (
    {{ type2_history(ref('stg_stores_versions'), 'store_id') }}
)

select
    store_id,
    store_name,
    opened_at,
    tax_rate,
    {{ history_columns() }}
from history
