-- actor_topic_stories: the distinct story groups each actor appeared in, in topic context (so wire
-- copies count once towards "independent stories").
-- grain: actor_id, story_id
-- materialized: merge
-- unique_key: actor_id, story_id
-- merge: first_at = least(d.first_at, m.first_at)
-- merge: first_gen = coalesce(m.first_gen, d.first_gen)
with context as (
    select * from int_actor_topic_context where is_new(load_seq)
),
final as (
    select actor_id, story_id, min(event_at) as first_at, getvariable('build_generation') as first_gen
    from context
    group by actor_id, story_id
)
select * from final
