-- actor_activity_daily: how much each actor was in the news each day, and how much of it in topic context.
-- grain: actor_id, day
-- materialized: merge
-- unique_key: actor_id, day
-- cluster_by: day
-- merge: actor_name = coalesce(m.actor_name, d.actor_name)
-- merge: is_known = d.is_known or coalesce(m.is_known, false)
-- merge: mentions = d.mentions + coalesce(m.mentions, 0)
-- merge: articles = d.articles + coalesce(m.articles, 0)
-- merge: topic_mentions = d.topic_mentions + coalesce(m.topic_mentions, 0)
-- merge: topic_articles = d.topic_articles + coalesce(m.topic_articles, 0)
with mentions as (
    select m.actor_id, m.actor_name, m.is_known, a.article_id, cast(a.event_at as date) as day
    from stg_actor_mentions m
    join new_articles a using (article_id)
    where is_new(m.load_seq)
),
context as (
    select actor_id, cast(event_at as date) as day, count(*) as topic_mentions,
           count(distinct article_id) as topic_articles
    from int_actor_topic_context
    where is_new(load_seq)
    group by all
),
daily as (
    select
        actor_id,
        day,
        arg_min(actor_name, article_id) as actor_name,
        bool_or(is_known) as is_known,
        count(*) as mentions,
        count(distinct article_id) as articles
    from mentions
    group by actor_id, day
),
final as (
    select d.*, coalesce(c.topic_mentions, 0) as topic_mentions, coalesce(c.topic_articles, 0) as topic_articles
    from daily d
    left join context c using (actor_id, day)
)
select * from final
