-- actor_stance_daily: an actor's net stance on a topic per day (mean score of that day's statements).
-- grain: actor_id, topic, day
-- materialized: incremental
-- unique_key: actor_id, topic, day
-- changed: select distinct actor_id, topic, cast(event_at as date) as day from stg_stances where article_id in (select article_id from new_articles)
with stances as (
    select s.*, cast(s.event_at as date) as day
    from stg_stances s
    semi join changed_keys k on k.actor_id = s.actor_id and k.topic = s.topic and k.day = cast(s.event_at as date)
),
daily as (
    select
        actor_id,
        topic,
        day,
        avg(score) as score,
        count(*) as evidence_count,
        count(distinct source_domain) as sources,
        min(event_at) as first_evidence_at,
        max(event_at) as last_evidence_at,
        arg_min(url, event_at) as first_evidence_url,
        arg_max(url, event_at) as last_evidence_url
    from stances
    group by actor_id, topic, day
),
final as (
    select
        *,
        case
            when score >= getvariable('stance_threshold') then 'support'
            when score <= -getvariable('stance_threshold') then 'oppose'
            else 'neutral'
        end as stance
    from daily
)
select * from final
