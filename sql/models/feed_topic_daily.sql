-- feed_topic_daily: articles on a tracked topic per feed per day (feeds' topical rhythm, for source_silent).
-- grain: feed, day
-- materialized: incremental
-- unique_key: feed, day
-- changed: select distinct feed, cast(event_at as date) as day from new_articles
with days as (
    select distinct day from changed_keys
),
articles as (
    select article_id, feed, event_at, cast(event_at as date) as day, load_seq
    from stg_articles
    where cast(event_at as date) in (select day from days)
      and event_at >= (select min(day) from days)    -- a range the scan can skip old row groups by
      and event_at < (select max(day) from days) + interval 1 day
),
kept as (
    select a.*
    from articles a
    semi join changed_keys k on k.feed = a.feed and k.day = a.day
),
topical as (      -- topic mentions of those articles only (never a pass over all of them)
    select distinct k.feed, k.day, k.article_id, k.event_at, t.topic
    from stg_topic_mentions t
    join kept k using (article_id)
    where t.load_seq >= (select min(load_seq) from kept)
    -- a mention is stored in its article's load: older loads' row groups are skipped
),
totals as (
    select feed, day, count(distinct article_id) as topic_articles, max(event_at) as last_topic_article_at
    from topical
    group by feed, day
),
main as (         -- the topic with most articles that day (ties: alphabetical)
    select feed, day, first(topic order by n desc, topic) as main_topic
    from (select feed, day, topic, count(distinct article_id) as n from topical group by all)
    group by feed, day
),
final as (
    select t.feed, t.day, t.topic_articles, t.last_topic_article_at, m.main_topic
    from totals t
    join main m using (feed, day)
)
select * from final
