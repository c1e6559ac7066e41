-- actor_stance_daily: an actor's net stance on a topic per day (mean score of that day's statements),
-- with the day's sources and story groups (so periods can count them without rereading statements).
-- grain: actor_id, topic, day
-- materialized: incremental
-- unique_key: actor_id, topic, day
-- changed: select distinct s.actor_id, s.topic, cast(coalesce(s.published_at, a.event_at) as date) as day from stances s join new_articles a using (article_id) where is_new(s.load_seq)
with days as (
    select distinct day from changed_keys
),
articles as (
    select article_id, url, source_domain, story_id, event_at, load_seq
    from stg_articles
    where cast(event_at as date) in (select day from days)
      and event_at >= (select min(day) from days)    -- a range the scan can skip old row groups by
      and event_at < (select max(day) from days) + interval 1 day
),
stances as (
    select s.actor_id, s.topic, s.score, s.sentence, coalesce(s.published_at, a.event_at) as event_at,
           a.url, a.source_domain, a.story_id
    from stances s
    join articles a using (article_id)
    where s.load_seq >= (select min(load_seq) from articles)
    -- a statement is stored in its article's load: older loads' row groups are skipped
),
kept as (
    select s.*, cast(s.event_at as date) as day
    from stances s
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
        list(distinct source_domain order by source_domain) as source_list,
        list(distinct story_id order by story_id) as story_list,
        min(event_at) as first_evidence_at,
        max(event_at) as last_evidence_at,
        arg_min(url, (event_at, url)) as first_evidence_url,
        arg_max(url, (event_at, url)) as last_evidence_url,
        arg_min(sentence, (event_at, url, sentence)) as first_sentence,
        arg_max(sentence, (event_at, url, sentence)) as last_sentence
    from kept
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
