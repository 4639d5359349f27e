{#- No order is placed at a store before the store opened (dim_stores.opened_at). -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_orders'}}}) }}

select
    orders.order_id,
    orders.store_id,
    orders.ordered_at,
    stores.opened_at
from {{ ref('fct_orders') }} as orders
inner join {{ ref('dim_stores') }} as stores on stores.store_id = orders.store_id
where {{ in_run_window('orders.order_date') }}
  and orders.ordered_at < stores.opened_at
