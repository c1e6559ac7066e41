-- stg_stances: stance statements with their article's source, story group and time.
-- grain: article_id, actor_id, topic, sentence_index
-- materialized: view
with source as (
    select * from stances
),
articles as (
    select article_id, url, title, source_domain, story_id, event_at from stg_articles
),
final as (
    select
        s.article_id,
        s.actor_id,
        s.topic,
        s.sentence_index,
        s.stance,
        s.score,
        s.cue,
        s.via,
        s.sentence,
        coalesce(s.published_at, a.event_at) as event_at,
        a.url,
        a.title,
        a.source_domain,
        a.story_id,
        s.load_seq
    from source s
    join articles a using (article_id)
)
select * from final
