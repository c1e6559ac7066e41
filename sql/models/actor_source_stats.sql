-- actor_source_stats: each actor in each source: first and last appearance, counts, and the same in
-- topic context. Folded in from new mentions only, so a much-mentioned actor costs no more than a rare one.
-- touched_gen / delta_* say what the latest build added (actor_first_seen folds in just that);
-- first_gen / topic_first_gen when the pair (or its topic context) first appeared.
-- grain: actor_id, source_domain
-- materialized: merge
-- unique_key: actor_id, source_domain
-- merge: actor_name = case when m.first_seen_at is null or (d.first_seen_at, d.first_url) < (m.first_seen_at, m.first_url) then d.actor_name else m.actor_name end
-- merge: is_known = d.is_known or coalesce(m.is_known, false)
-- merge: first_seen_at = least(d.first_seen_at, m.first_seen_at)
-- merge: first_url = case when m.first_seen_at is null or (d.first_seen_at, d.first_url) < (m.first_seen_at, m.first_url) then d.first_url else m.first_url end
-- merge: last_seen_at = greatest(d.last_seen_at, m.last_seen_at)
-- merge: mentions = d.mentions + coalesce(m.mentions, 0)
-- merge: articles = d.articles + coalesce(m.articles, 0)
-- merge: topic_first_at = least(d.topic_first_at, m.topic_first_at)
-- merge: topic_first_url = case when d.topic_first_at is not null and (m.topic_first_at is null or (d.topic_first_at, d.topic_first_url) < (m.topic_first_at, m.topic_first_url)) then d.topic_first_url else m.topic_first_url end
-- merge: topic_first_topic = case when d.topic_first_at is not null and (m.topic_first_at is null or (d.topic_first_at, d.topic_first_url) < (m.topic_first_at, m.topic_first_url)) then d.topic_first_topic else m.topic_first_topic end
-- merge: topic_articles = d.topic_articles + coalesce(m.topic_articles, 0)
-- merge: topic_sentences = d.topic_sentences + coalesce(m.topic_sentences, 0)
-- merge: topics = list_sort(list_distinct(list_concat(d.topics, coalesce(m.topics, []))))
-- merge: first_gen = coalesce(m.first_gen, d.first_gen)
-- merge: topic_first_gen = case when m.topic_first_at is null and d.topic_first_at is not null then d.touched_gen else m.topic_first_gen end
with mentions as (
    select m.actor_id, m.actor_name, m.is_known, a.article_id, a.url, a.source_domain, a.event_at
    from stg_actor_mentions m
    join new_articles a using (article_id)
    where is_new(m.load_seq)
),
context as (
    select * from int_actor_topic_context where is_new(load_seq)
),
overall as (
    select
        actor_id,
        source_domain,
        arg_min(actor_name, (event_at, url, actor_name)) as actor_name,
        bool_or(is_known) as is_known,
        min(event_at) as first_seen_at,
        arg_min(url, (event_at, url)) as first_url,
        max(event_at) as last_seen_at,
        count(*) as mentions,
        count(distinct article_id) as articles
    from mentions
    group by actor_id, source_domain
),
in_context as (
    select
        actor_id,
        source_domain,
        min(event_at) as topic_first_at,
        arg_min(url, (event_at, url)) as topic_first_url,
        arg_min(topic, (event_at, url, topic)) as topic_first_topic,
        count(distinct article_id) as topic_articles,
        count(distinct (article_id, sentence_index)) as topic_sentences,
        list(distinct topic order by topic) as topics
    from context
    group by actor_id, source_domain
),
final as (
    select
        o.*,
        c.topic_first_at,
        c.topic_first_url,
        c.topic_first_topic,
        coalesce(c.topic_articles, 0) as topic_articles,
        coalesce(c.topic_sentences, 0) as topic_sentences,
        coalesce(c.topics, []) as topics,
        o.mentions as delta_mentions,
        o.articles as delta_articles,
        coalesce(c.topic_articles, 0) as delta_topic_articles,
        coalesce(c.topic_sentences, 0) as delta_topic_sentences,
        getvariable('build_generation') as touched_gen,
        getvariable('build_generation') as first_gen,
        case when c.topic_first_at is not null then getvariable('build_generation') end as topic_first_gen
    from overall o
    left join in_context c using (actor_id, source_domain)
)
select * from final
