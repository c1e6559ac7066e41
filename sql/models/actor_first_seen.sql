-- actor_first_seen: when and where each actor (registered or candidate) first appeared, and when
-- it first appeared in topic context (same sentence as a tracked topic), with how widely since.
-- grain: actor_id
-- materialized: incremental
-- unique_key: actor_id
-- changed: select distinct actor_id from stg_actor_mentions where article_id in (select article_id from new_articles)
with keys as (
    select actor_id from changed_keys
),
mentions as (
    select m.actor_id, m.actor_name, m.is_known, a.article_id, a.url, a.source_domain, a.story_id, a.event_at
    from stg_actor_mentions m
    join stg_articles a using (article_id)
    where m.actor_id in (select actor_id from keys)
),
context as (
    select * from int_actor_topic_context
    where actor_id in (select actor_id from keys)
),
overall as (
    select
        actor_id,
        arg_min(actor_name, event_at) as actor_name,
        bool_or(is_known) as is_known,
        min(event_at) as first_seen_at,
        arg_min(url, event_at) as first_url,
        arg_min(source_domain, event_at) as first_source,
        max(event_at) as last_seen_at,
        count(*) as mentions,
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
        arg_min(source_domain, event_at) as first_topic_source,
        count(distinct article_id) as topic_articles,
        count(distinct source_domain) as topic_sources,
        count(distinct story_id) as topic_stories,
        count(distinct (article_id, sentence_index)) as topic_sentences,
        list(distinct topic order by topic) as topics
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
        o.last_seen_at,
        o.mentions,
        o.articles,
        o.sources,
        c.first_topic_seen_at,
        c.first_topic,
        c.first_topic_url,
        c.first_topic_source,
        coalesce(c.topic_articles, 0) as topic_articles,
        coalesce(c.topic_sources, 0) as topic_sources,
        coalesce(c.topic_stories, 0) as topic_stories,
        coalesce(c.topic_sentences, 0) as topic_sentences,
        coalesce(c.topics, []) as topics
    from overall o
    left join in_context c using (actor_id)
)
select * from final
