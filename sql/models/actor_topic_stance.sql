-- actor_topic_stance: stance periods per actor and topic: consecutive days with the same net
-- stance form one period (period 1 is the earliest).
-- grain: actor_id, topic, period
-- materialized: table
with daily as (
    select * from actor_stance_daily
),
names as (        -- the registry name, else the name the actor was first seen under
    select coalesce(r.actor_id, f.actor_id) as actor_id, coalesce(r.name, f.actor_name) as actor_name
    from actors r
    full outer join actor_first_seen f using (actor_id)
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
        *,
        sum(starts_period) over (partition by actor_id, topic order by day
                                 rows between unbounded preceding and current row) as period
    from marked
),
final as (
    select
        n.actor_id,
        any_value(names.actor_name) as actor_name,
        n.topic,
        n.period,
        any_value(n.stance) as stance,
        min(n.first_evidence_at) as started_at,
        max(n.last_evidence_at) as ended_at,
        sum(n.evidence_count) as evidence_count,
        round(sum(n.score * n.evidence_count) / sum(n.evidence_count), 3) as mean_score,
        arg_min(n.first_evidence_url, n.day) as first_evidence_url,
        arg_max(n.last_evidence_url, n.day) as last_evidence_url
    from numbered n
    left join names using (actor_id)
    group by n.actor_id, n.topic, n.period
)
select * from final
