-- stg_actor_mentions: actor mentions; an id now in the registry counts as known even if it was
-- first stored as a candidate.
-- grain: article_id, start_char
-- materialized: view
with source as (
    select * from actor_mentions
),
registry as (
    select actor_id, name from actors
),
final as (
    select
        m.article_id,
        m.actor_id,
        coalesce(r.name, m.actor_name) as actor_name,
        (m.is_known or r.actor_id is not null) as is_known,
        m.entity_label,
        m.sentence_index,
        m.start_char,
        m.surface,
        m.load_seq
    from source m
    left join registry r using (actor_id)
)
select * from final
