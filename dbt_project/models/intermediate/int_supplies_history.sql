{#- Type 2: one row per version of a supply in a product (macros/history.sql). -#}
with history as (
    {{ type2_history(ref('stg_supplies_versions'), 'supply_id, sku') }}
)

select
    supply_id,
    sku,
    supply_name,
    supply_cost,
    is_perishable,
    {{ history_columns() }}
from history
