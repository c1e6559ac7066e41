-- actor_first_seen: when and where each actor (registered or candidate) first appeared, and when
-- it first appeared in topic context (same sentence as a tracked topic), with how widely since.
-- Folded in from the (actor, source) rows the latest build touched, never from all of them.
-- grain: actor_id
-- materialized: merge
-- unique_key: actor_id
-- merge: actor_name = case when m.first_seen_at is null or (d.first_seen_at, d.first_url) < (m.first_seen_at, m.first_url) then d.actor_name else m.actor_name end
-- merge: is_known = d.is_known or coalesce(m.is_known, false)
-- merge: first_seen_at = least(d.first_seen_at, m.first_seen_at)
-- merge: first_url = case when m.first_seen_at is null or (d.first_seen_at, d.first_url) < (m.first_seen_at, m.first_url) then d.first_url else m.first_url end
-- merge: first_source = case when m.first_seen_at is null or (d.first_seen_at, d.first_url) < (m.first_seen_at, m.first_url) then d.first_source else m.first_source end
-- merge: last_seen_at = greatest(d.last_seen_at, m.last_seen_at)
-- merge: mentions = d.mentions + coalesce(m.mentions, 0)
-- merge: articles = d.articles + coalesce(m.articles, 0)
-- merge: sources = d.sources + coalesce(m.sources, 0)
-- merge: first_topic_seen_at = least(d.first_topic_seen_at, m.first_topic_seen_at)
-- merge: first_topic = case when d.first_topic_seen_at is not null and (m.first_topic_seen_at is null or (d.first_topic_seen_at, d.first_topic_url) < (m.first_topic_seen_at, m.first_topic_url)) then d.first_topic else m.first_topic end
-- merge: first_topic_url = case when d.first_topic_seen_at is not null and (m.first_topic_seen_at is null or (d.first_topic_seen_at, d.first_topic_url) < (m.first_topic_seen_at, m.first_topic_url)) then d.first_topic_url else m.first_topic_url end
-- merge: first_topic_source = case when d.first_topic_seen_at is not null and (m.first_topic_seen_at is null or (d.first_topic_seen_at, d.first_topic_url) < (m.first_topic_seen_at, m.first_topic_url)) then d.first_topic_source else m.first_topic_source end
-- merge: topic_articles = d.topic_articles + coalesce(m.topic_articles, 0)
-- merge: topic_sources = d.topic_sources + coalesce(m.topic_sources, 0)
-- merge: topic_stories = d.topic_stories + coalesce(m.topic_stories, 0)
-- merge: topic_sentences = d.topic_sentences + coalesce(m.topic_sentences, 0)
-- merge: topics = list_sort(list_distinct(list_concat(d.topics, coalesce(m.topics, []))))
with touched as (
    select * from actor_source_stats
    where touched_gen = getvariable('build_generation')
),
stories as (      -- story groups an actor reached in topic context for the first time in this build
    select actor_id, count(*) as new_stories
    from actor_topic_stories
    where first_gen = getvariable('build_generation')
    group by actor_id
),
final as (
    select
        p.actor_id,
        arg_min(p.actor_name, (p.first_seen_at, p.first_url)) as actor_name,
        bool_or(p.is_known) as is_known,
        min(p.first_seen_at) as first_seen_at,
        arg_min(p.first_url, (p.first_seen_at, p.first_url)) as first_url,
        arg_min(p.source_domain, (p.first_seen_at, p.first_url)) as first_source,
        max(p.last_seen_at) as last_seen_at,
        cast(sum(p.delta_mentions) as bigint) as mentions,
        cast(sum(p.delta_articles) as bigint) as articles,
        count(*) filter (where p.first_gen = getvariable('build_generation')) as sources,
        min(p.topic_first_at) as first_topic_seen_at,
        arg_min(p.topic_first_topic, (p.topic_first_at, p.topic_first_url)) filter (where p.topic_first_at is not null) as first_topic,
        arg_min(p.topic_first_url, (p.topic_first_at, p.topic_first_url)) filter (where p.topic_first_at is not null) as first_topic_url,
        arg_min(p.source_domain, (p.topic_first_at, p.topic_first_url)) filter (where p.topic_first_at is not null) as first_topic_source,
        cast(sum(p.delta_topic_articles) as bigint) as topic_articles,
        count(*) filter (where p.topic_first_gen = getvariable('build_generation')) as topic_sources,
        coalesce(any_value(s.new_stories), 0) as topic_stories,
        cast(sum(p.delta_topic_sentences) as bigint) as topic_sentences,
        list_sort(list_distinct(flatten(list(p.topics)))) as topics,
        getvariable('build_generation') as built_generation
    from touched p
    left join stories s using (actor_id)
    group by p.actor_id
)
select * from final
