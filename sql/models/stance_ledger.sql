-- stance_ledger: each actor's stance periods per topic. Consecutive days with the same net stance
-- form one period (period 1 is the earliest; the last one is current), with its evidence.
-- grain: actor_id, topic, period
-- materialized: incremental
-- unique_key: actor_id, topic
-- changed: select distinct actor_id, topic from stg_stances where article_id in (select article_id from new_articles)
with daily as (
    select d.*
    from actor_stance_daily d
    semi join changed_keys k on k.actor_id = d.actor_id and k.topic = d.topic
),
names as (        -- the registry name, else the name the actor was first seen under
    select k.actor_id, coalesce(r.name, f.actor_name) as actor_name
    from (select distinct actor_id from changed_keys) k
    left join actors r using (actor_id)
    left join actor_first_seen f using (actor_id)
),
marked as (
    select
        *,
        case when stance = lag(stance) over (partition by actor_id, topic order by day)
             then 0 else 1 end as starts_period
    from daily
),
numbered as (
    select
        actor_id, topic, day, stance,
        sum(starts_period) over (partition by actor_id, topic order by day
                                 rows between unbounded preceding and current row) as period
    from marked
),
evidence as (
    select n.actor_id, n.topic, n.period, n.stance, s.*
    exclude (actor_id, topic, stance)
    from numbered n
    join stg_stances s on s.actor_id = n.actor_id and s.topic = n.topic and cast(s.event_at as date) = n.day
),
final as (
    select
        e.actor_id,
        any_value(names.actor_name) as actor_name,
        e.topic,
        e.period,
        any_value(e.stance) as stance,
        min(e.event_at) as started_at,
        max(e.event_at) as ended_at,
        count(*) as evidence_count,
        count(distinct e.source_domain) as sources,
        count(distinct e.story_id) as stories,
        round(avg(e.score), 3) as mean_score,
        arg_min(e.url, e.event_at) as first_evidence_url,
        arg_max(e.url, e.event_at) as last_evidence_url,
        arg_min(e.sentence, e.event_at) as first_sentence,
        arg_max(e.sentence, e.event_at) as last_sentence,
        e.period = max(max(e.period)) over (partition by e.actor_id, e.topic) as is_current
    from evidence e
    left join names using (actor_id)
    group by e.actor_id, e.topic, e.period
)
select * from final
