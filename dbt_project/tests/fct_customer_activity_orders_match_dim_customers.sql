{#-
  A customer's order events in fct_customer_activity are their lifetime orders in
  dim_customers. Both are rebuilt in full by the unpartitioned step.
-#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_customer_activity'}}}) }}

select
    activity.customer_key,
    activity.order_count,
    customers.lifetime_order_count
from {{ ref('fct_customer_activity') }} as activity
inner join {{ ref('dim_customers') }} as customers
    on customers.customer_key = activity.customer_key
where activity.order_count <> customers.lifetime_order_count
