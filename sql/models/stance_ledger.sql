-- stance_ledger: each actor's stance periods per topic. Consecutive days with the same net stance
-- form one period (period 1 is the earliest; the last one is current), with its evidence. New
-- statements only reopen the period they extend and what follows: earlier periods are kept.
-- grain: actor_id, topic, period
-- materialized: incremental
-- unique_key: actor_id, topic
-- delete_where: t.actor_id = k.actor_id and t.topic = k.topic and t.period >= k.restart_period
-- changed: with c as (select s.actor_id, s.topic, min(cast(coalesce(s.published_at, a.event_at) as date)) as from_day from stances s join new_articles a using (article_id) where is_new(s.load_seq) group by all), d as (select d.actor_id, d.topic, d.day, case when d.stance = lag(d.stance) over (partition by d.actor_id, d.topic order by d.day) then 0 else 1 end as starts from actor_stance_daily d semi join c on c.actor_id = d.actor_id and c.topic = d.topic), n as (select *, sum(starts) over (partition by actor_id, topic order by day rows between unbounded preceding and current row) as period from d) select c.actor_id, c.topic, coalesce(max(n.period) filter (where n.day < c.from_day), 1) as restart_period from c left join n using (actor_id, topic) group by all
with days as (     -- narrow columns first: numbering needs only the day and its label
    select d.actor_id, d.topic, d.day, d.stance, k.restart_period
    from actor_stance_daily d
    join changed_keys k on k.actor_id = d.actor_id and k.topic = d.topic
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
    from days
),
numbered as (
    select
        *,
        sum(starts_period) over (partition by actor_id, topic order by day
                                 rows between unbounded preceding and current row) as period
    from marked
),
tail as (         -- only the periods from the restart on are rebuilt
    select actor_id, topic, day, period, last_period
    from (select *, max(period) over (partition by actor_id, topic) as last_period from numbered)
    where period >= restart_period
),
reopened as (     -- ... with their days' evidence
    select t.*, d.* exclude (actor_id, topic, day)
    from tail t
    join actor_stance_daily d using (actor_id, topic, day)
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
        cast(sum(n.evidence_count) as bigint) as evidence_count,  -- sums are HUGEINT, slow to scan
        len(list_distinct(flatten(list(n.source_list)))) as sources,
        len(list_distinct(flatten(list(n.story_list)))) as stories,
        round(sum(n.score * n.evidence_count) / sum(n.evidence_count), 3) as mean_score,
        arg_min(n.first_evidence_url, n.first_evidence_at) as first_evidence_url,
        arg_max(n.last_evidence_url, n.last_evidence_at) as last_evidence_url,
        arg_min(n.first_sentence, n.first_evidence_at) as first_sentence,
        arg_max(n.last_sentence, n.last_evidence_at) as last_sentence,
        n.period = any_value(n.last_period) as is_current,
        count(*) as days,
        getvariable('build_generation') as built_generation
    from reopened n
    left join names using (actor_id)
    group by n.actor_id, n.topic, n.period
)
select * from final
