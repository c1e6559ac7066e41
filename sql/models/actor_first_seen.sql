-- actor_first_seen: when and where each actor (registered or candidate) first appeared, and when
-- it first appeared in topic context (same sentence as a tracked topic), with how widely since.
-- grain: actor_id
-- materialized: incremental
-- unique_key: actor_id
-- changed: select distinct actor_id from stg_actor_mentions where is_new(load_seq)
with per_source as (
    select * from actor_source_stats
    where actor_id in (select actor_id from changed_keys)
),
stories as (
    select actor_id, count(*) as topic_stories
    from actor_topic_stories
    where actor_id in (select actor_id from changed_keys)
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
        sum(p.mentions) as mentions,
        sum(p.articles) as articles,
        count(*) as sources,
        min(p.topic_first_at) as first_topic_seen_at,
        arg_min(p.topic_first_topic, (p.topic_first_at, p.topic_first_url)) filter (where p.topic_first_at is not null) as first_topic,
        arg_min(p.topic_first_url, (p.topic_first_at, p.topic_first_url)) filter (where p.topic_first_at is not null) as first_topic_url,
        arg_min(p.source_domain, (p.topic_first_at, p.topic_first_url)) filter (where p.topic_first_at is not null) as first_topic_source,
        sum(p.topic_articles) as topic_articles,
        count(p.topic_first_at) as topic_sources,
        coalesce(any_value(s.topic_stories), 0) as topic_stories,
        sum(p.topic_sentences) as topic_sentences,
        list_sort(list_distinct(flatten(list(p.topics)))) as topics,
        getvariable('build_generation') as built_generation
    from per_source p
    left join stories s using (actor_id)
    group by p.actor_id
)
select * from final
