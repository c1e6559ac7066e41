-- actor_first_seen: when and where each actor (registered or candidate) first appeared, and when
-- it first appeared in topic context (same sentence as a tracked topic).
-- grain: actor_id
-- materialized: table
with mentions as (
    select m.actor_id, m.actor_name, m.is_known, a.article_id, a.url, a.source_domain, a.event_at
    from stg_actor_mentions m
    join stg_articles a using (article_id)
),
context as (
    select * from int_actor_topic_context
),
overall as (
    select
        actor_id,
        arg_min(actor_name, event_at) as actor_name,
        bool_or(is_known) as is_known,
        min(event_at) as first_seen_at,
        arg_min(url, event_at) as first_url,
        arg_min(source_domain, event_at) as first_source,
        count(distinct article_id) as articles,
        count(distinct source_domain) as sources
    from mentions
    group by actor_id
),
in_context as (
    select
        actor_id,
        min(event_at) as first_topic_seen_at,
        arg_min(topic, event_at) as first_topic,
        arg_min(url, event_at) as first_topic_url,
        count(distinct article_id) as topic_articles,
        count(distinct source_domain) as topic_sources
    from context
    group by actor_id
),
final as (
    select
        o.actor_id,
        o.actor_name,
        o.is_known,
        o.first_seen_at,
        o.first_url,
        o.first_source,
        o.articles,
        o.sources,
        c.first_topic_seen_at,
        c.first_topic,
        c.first_topic_url,
        coalesce(c.topic_articles, 0) as topic_articles,
        coalesce(c.topic_sources, 0) as topic_sources
    from overall o
    left join in_context c using (actor_id)
)
select * from final
