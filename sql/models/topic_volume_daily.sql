-- topic_volume_daily: articles, distinct stories (wire copies once) and sources per topic per day.
-- grain: topic, day
-- materialized: incremental
-- unique_key: topic, day
-- changed: select distinct t.topic, cast(a.event_at as date) as day from stg_topic_mentions t join new_articles a using (article_id)
with days as (
    select distinct day from changed_keys
),
articles as (
    select article_id, source_domain, story_id, event_at, cast(event_at as date) as day, load_seq
    from stg_articles
    where cast(event_at as date) in (select day from days)
      and event_at >= (select min(day) from days)    -- a range the scan can skip old row groups by
      and event_at < (select max(day) from days) + interval 1 day
),
mentions as (
    select t.topic, a.*
    from stg_topic_mentions t
    join articles a using (article_id)
    semi join changed_keys k on k.topic = t.topic and k.day = a.day
    where t.load_seq >= (select min(load_seq) from articles)
    -- a mention is stored in its article's load: older loads' row groups are skipped
),
final as (
    select
        topic,
        day,
        count(distinct article_id) as articles,
        count(distinct story_id) as stories,
        count(distinct source_domain) as sources,
        count(*) as mentions,
        max(event_at) as last_event_at
    from mentions
    group by topic, day
)
select * from final
