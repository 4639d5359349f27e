{#-
  The shop's web events as the micro-batches loaded them (raw.web_events: one row per accepted
  event, event_id unique; late, duplicate, malformed and future events are in quarantine).
-#}
{{ config(tags=['stream']) }}

select
    event_id,
    event_type,
    event_time,
    cast(event_time as date) as event_date,
    session_id,
    visitor_id,
    customer_id,
    store_id,
    page,
    product_id as sku,
    order_id,
    cast(order_total as bigint) as order_total_cents,
    {{ cents_to_dollars('order_total') }} as order_total,
    published_at,
    _batch_id as batch_id,
    _loaded_at as loaded_at
from {{ web_events_relation() }} as web_events
