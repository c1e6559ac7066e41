-- alert_new_actor: an actor outside the registry seen in topic context in at least
-- getvariable('new_actor_min_sources') distinct sources that are also distinct stories (a wire copy
-- republished by a second outlet is one story, not independent confirmation). One alert per actor, ever.
-- grain: actor_id
with context as (
    select * from int_actor_topic_context
    where not is_known
      and actor_id not in (select actor_id from actors)
),
per_source as (   -- the first topic-context sentence of each actor in each source
    select
        actor_id,
        source_domain,
        arg_min(actor_name, event_at) as actor_name,
        arg_min(topic, event_at) as topic,
        arg_min(sentence, event_at) as sentence,
        arg_min(url, event_at) as url,
        arg_min(title, event_at) as title,
        min(event_at) as first_at
    from context
    group by actor_id, source_domain
),
ranked as (
    select *, row_number() over (partition by actor_id order by first_at, source_domain) as source_rank
    from per_source
),
qualified as (
    select actor_id
    from context
    group by actor_id
    having count(distinct source_domain) >= getvariable('new_actor_min_sources')
       and count(distinct story_id) >= getvariable('new_actor_min_sources')
),
totals as (
    select actor_id, count(*) as sentences, count(distinct article_id) as articles,
           count(distinct source_domain) as sources, count(distinct story_id) as stories,
           list(distinct topic order by topic) as topics
    from context
    group by actor_id
),
final as (
    select
        substr(md5('new_actor|' || r.actor_id), 1, 16) as alert_id,
        'new_actor' as alert_type,
        r.actor_id,
        arg_min(r.actor_name, r.source_rank) as actor_name,
        arg_min(r.topic, r.source_rank) as topic,
        max(r.first_at) filter (where r.source_rank <= getvariable('new_actor_min_sources')) as occurred_at,
        'New actor in the story: ' || arg_min(r.actor_name, r.source_rank)
            || ' (' || array_to_string(any_value(t.topics), ', ') || '), seen in '
            || any_value(t.sources) || ' sources, ' || any_value(t.sentences) || ' sentences; first in '
            || arg_min(r.source_domain, r.source_rank) as summary,
        to_json(list({'url': r.url, 'title': r.title, 'sentence': r.sentence,
                      'source_domain': r.source_domain, 'published_at': r.first_at}
                     order by r.source_rank) filter (where r.source_rank <= 3)) as evidence,
        to_json({'sources': any_value(t.sources), 'stories': any_value(t.stories), 'articles': any_value(t.articles),
                 'sentences': any_value(t.sentences), 'topics': any_value(t.topics),
                 'first_source': arg_min(r.source_domain, r.source_rank)}) as details
    from ranked r
    join qualified q using (actor_id)
    join totals t using (actor_id)
    group by r.actor_id
)
select * from final
