-- int_actor_topic_context: an actor mentioned in a sentence that also mentions a topic.
-- grain: article_id, sentence_index, actor_id, topic
-- materialized: incremental
-- unique_key: article_id
-- changed: select article_id from new_articles
-- delete_where: t.article_id = k.article_id and is_new(t.load_seq)
-- (a new article's rows carry its load_seq, so the delete reads only the newest row groups)
with mentions as (
    select distinct article_id, sentence_index, actor_id, actor_name, is_known
    from stg_actor_mentions
    where is_new(load_seq)
),
topics as (
    select article_id, sentence_index, topic, sentence
    from stg_topic_mentions
    where is_new(load_seq)
),
articles as (
    select article_id, story_id, url, title, source_domain, feed, event_at, load_seq
    from new_articles
),
final as (
    select
        m.article_id,
        m.sentence_index,
        m.actor_id,
        m.actor_name,
        m.is_known,
        t.topic,
        t.sentence,
        a.url,
        a.title,
        a.source_domain,
        a.feed,
        a.story_id,
        a.event_at,
        a.load_seq
    from mentions m
    join topics t using (article_id, sentence_index)
    join articles a using (article_id)
)
select * from final
