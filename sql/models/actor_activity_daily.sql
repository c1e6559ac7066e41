-- actor_activity_daily: how much each actor was in the news each day, and how much of it in topic context.
-- grain: actor_id, day
-- materialized: incremental
-- unique_key: actor_id, day
-- changed: select distinct m.actor_id, cast(a.event_at as date) as day from stg_actor_mentions m join new_articles a using (article_id)
with days as (
    select distinct day from changed_keys
),
articles as (
    select article_id, source_domain, story_id, cast(event_at as date) as day
    from stg_articles
    where cast(event_at as date) in (select day from days)
),
mentions as (
    select m.actor_id, m.actor_name, m.is_known, a.article_id, a.source_domain, a.story_id, a.day
    from stg_actor_mentions m
    join articles a using (article_id)
    semi join changed_keys k on k.actor_id = m.actor_id and k.day = a.day
),
context as (
    select c.actor_id, cast(c.event_at as date) as day, count(*) as topic_mentions,
           count(distinct c.article_id) as topic_articles
    from int_actor_topic_context c
    semi join changed_keys k on k.actor_id = c.actor_id and k.day = cast(c.event_at as date)
    group by all
),
daily as (
    select
        actor_id,
        day,
        arg_min(actor_name, article_id) as actor_name,
        bool_or(is_known) as is_known,
        count(*) as mentions,
        count(distinct article_id) as articles,
        count(distinct source_domain) as sources,
        count(distinct story_id) as stories
    from mentions
    group by actor_id, day
),
final as (
    select d.*, coalesce(c.topic_mentions, 0) as topic_mentions, coalesce(c.topic_articles, 0) as topic_articles
    from daily d
    left join context c using (actor_id, day)
)
select * from final
