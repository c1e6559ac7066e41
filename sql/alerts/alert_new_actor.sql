-- alert_new_actor: an actor outside the registry seen in topic context in at least
-- getvariable('new_actor_min_sources') distinct sources that are also distinct stories (a wire copy
-- republished by a second outlet is one story, not independent confirmation), in at least
-- getvariable('new_actor_min_evidence') sentences. One alert per actor, ever.
-- grain: actor_id
with candidates as (
    select *
    from actor_first_seen
    where not is_known
      and actor_id not in (select actor_id from actors)
      and topic_sources >= getvariable('new_actor_min_sources')
      and topic_stories >= getvariable('new_actor_min_sources')
      and topic_sentences >= getvariable('new_actor_min_evidence')
      and actor_id not in (select actor_id from alerts where alert_type = 'new_actor' and actor_id is not null)
      and (getvariable('alert_since') is null or built_generation > getvariable('alert_since'))
),
context as (
    select c.*
    from int_actor_topic_context c
    where c.actor_id in (select actor_id from candidates)
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
final as (
    select
        substr(md5('new_actor|' || k.actor_id), 1, 16) as alert_id,
        'new_actor' as alert_type,
        case when k.topic_sources >= getvariable('new_actor_critical_sources') then 'critical'
             else getvariable('new_actor_severity') end as severity,
        k.actor_id,
        k.actor_name,
        k.first_topic as topic,
        cast(null as varchar) as feed,
        max(r.first_at) filter (where r.source_rank <= getvariable('new_actor_min_sources')) as occurred_at,
        'New actor in the story: ' || k.actor_name || ' (' || array_to_string(k.topics, ', ') || '), backed by '
            || k.topic_sources || ' independent sources (' || k.topic_stories || ' stories, '
            || k.topic_sentences || ' sentences); first in ' || k.first_topic_source as summary,
        to_json(list({'url': r.url, 'title': r.title, 'sentence': r.sentence,
                      'source_domain': r.source_domain, 'published_at': r.first_at}
                     order by r.source_rank) filter (where r.source_rank <= 3)) as evidence,
        to_json({'sources': k.topic_sources, 'stories': k.topic_stories, 'articles': k.topic_articles,
                 'sentences': k.topic_sentences, 'topics': k.topics, 'first_source': k.first_topic_source,
                 'first_url': k.first_topic_url, 'min_sources': getvariable('new_actor_min_sources')}) as details,
        'select * from int_actor_topic_context where actor_id = ''' || k.actor_id || ''' order by event_at'
            as evidence_query
    from candidates k
    join ranked r using (actor_id)
    group by all
)
select * from final
