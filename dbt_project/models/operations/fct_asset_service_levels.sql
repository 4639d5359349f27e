-- Service levels per asset and ISO week (weeks start on Monday, UTC): how often the runs
-- that planned an asset materialized it, how far behind its freshness samples were, how long
-- its runs took; each against its target (vars in dbt_project.yml, freshness policies).

with runs as (
    select run_id, ended_at, duration_seconds
    from {{ source('operations', 'run_history') }}
),

outcomes as (
    select
        outcomes.asset_key,
        cast(date_trunc('week', runs.ended_at) as date) as week_start,
        outcomes.outcome,
        runs.duration_seconds
    from {{ source('operations', 'run_asset_outcomes') }} as outcomes
    inner join runs on runs.run_id = outcomes.run_id
),

run_levels as (
    select
        asset_key,
        week_start,
        sum(case when outcome = 'materialized' then 1 else 0 end) as runs_materialized,
        sum(case when outcome = 'failed' then 1 else 0 end) as runs_failed,
        {{ p95("case when outcome = 'materialized' then duration_seconds end") }}
            as run_duration_p95_seconds
    from outcomes
    group by asset_key, week_start
),

lags as (
    select
        asset_key,
        cast(date_trunc('week', measured_at) as date) as week_start,
        count(lag_seconds) as freshness_samples,
        {{ p95('lag_seconds') }} as freshness_lag_p95_seconds,
        max(fail_window_seconds) as fail_window_seconds
    from {{ source('operations', 'freshness_lag') }}
    group by asset_key, cast(date_trunc('week', measured_at) as date)
),

checks as (
    select
        asset_key,
        cast(date_trunc('week', evaluated_at) as date) as week_start,
        count(*) as check_evaluations,
        sum(case when passed then 0 else 1 end) as check_failures
    from {{ source('operations', 'check_results') }}
    group by asset_key, cast(date_trunc('week', evaluated_at) as date)
),

asset_weeks as (
    select asset_key, week_start from run_levels
    union
    select asset_key, week_start from lags
    union
    select asset_key, week_start from checks
),

levels as (
    select
        asset_weeks.asset_key,
        asset_weeks.week_start,
        cast(coalesce(run_levels.runs_materialized, 0) as bigint) as runs_materialized,
        cast(coalesce(run_levels.runs_failed, 0) as bigint) as runs_failed,
        run_levels.run_duration_p95_seconds,
        cast(coalesce(lags.freshness_samples, 0) as bigint) as freshness_samples,
        lags.freshness_lag_p95_seconds,
        cast(lags.fail_window_seconds as decimal(18, 3)) as freshness_target_seconds,
        cast(coalesce(checks.check_evaluations, 0) as bigint) as check_evaluations,
        cast(coalesce(checks.check_failures, 0) as bigint) as check_failures
    from asset_weeks
    left join run_levels
        on run_levels.asset_key = asset_weeks.asset_key
        and run_levels.week_start = asset_weeks.week_start
    left join lags
        on lags.asset_key = asset_weeks.asset_key and lags.week_start = asset_weeks.week_start
    left join checks
        on checks.asset_key = asset_weeks.asset_key and checks.week_start = asset_weeks.week_start
)

select
    asset_key,
    week_start,
    {{ iso_week('week_start') }} as iso_week,
    runs_materialized,
    runs_failed,
    {{ ratio('runs_materialized', 'runs_materialized + runs_failed') }} as success_rate,
    cast({{ var('service_level_success_rate') }} as decimal(9, 4)) as success_rate_target,
    case
        when runs_materialized + runs_failed > 0
            then runs_materialized
                >= {{ var('service_level_success_rate') }} * (runs_materialized + runs_failed)
    end as success_rate_met,
    freshness_samples,
    freshness_lag_p95_seconds,
    freshness_target_seconds,
    case
        when freshness_lag_p95_seconds is not null and freshness_target_seconds is not null
            then freshness_lag_p95_seconds <= freshness_target_seconds
    end as freshness_met,
    run_duration_p95_seconds,
    cast({{ var('service_level_run_duration_seconds') }} as decimal(18, 3))
        as run_duration_target_seconds,
    case
        when run_duration_p95_seconds is not null
            then run_duration_p95_seconds <= {{ var('service_level_run_duration_seconds') }}
    end as run_duration_met,
    check_evaluations,
    check_failures
from levels
