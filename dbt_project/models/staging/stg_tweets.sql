select
    id as tweet_id,
    user_id as customer_id,
    tweeted_at,
    cast(tweeted_at as date) as tweet_date,
    content
from {{ source('raw', 'tweets') }}
