-- alert_stance_change: an actor's stance period on a topic differs from the period before it, each
-- side backed by at least getvariable('stance_min_evidence') sentences and the new side by at least
-- getvariable('stance_min_sources') distinct sources.
-- grain: actor_id, topic, period (the period that starts with the change)
with periods as (
    select * from stance_ledger
),
changes as (
    select
        cur.actor_id,
        cur.actor_name,
        cur.topic,
        cur.period,
        prev.stance as before_stance,
        cur.stance as after_stance,
        prev.started_at as before_from,
        prev.ended_at as before_to,
        cur.started_at as after_from,
        cur.ended_at as after_to,
        prev.evidence_count as before_evidence,
        cur.evidence_count as after_evidence,
        prev.sources as before_sources,
        cur.sources as after_sources,
        cur.stories as after_stories,
        substr(md5('stance_change|' || cur.actor_id || '|' || cur.topic || '|' || prev.stance || '|'
                   || cur.stance || '|' || strftime(cur.started_at, '%Y-%m-%d')), 1, 16) as alert_id
    from periods cur
    join periods prev
      on prev.actor_id = cur.actor_id and prev.topic = cur.topic and prev.period = cur.period - 1
    where cur.stance <> prev.stance
      and (getvariable('alert_since') is null or cur.built_generation > getvariable('alert_since'))
      and cur.evidence_count >= getvariable('stance_min_evidence')
      and prev.evidence_count >= getvariable('stance_min_evidence')
      and cur.sources >= getvariable('stance_min_sources')
),
fresh as (
    select * from changes where alert_id not in (select alert_id from alerts)
),
statements as (   -- the changed pairs' statements first (one per article), then their articles
    select s.article_id, s.actor_id, s.topic, s.sentence, s.stance, s.published_at
    from stances s
    semi join fresh c on c.actor_id = s.actor_id and c.topic = s.topic
    qualify row_number() over (partition by s.actor_id, s.topic, s.article_id order by s.sentence_index) = 1
),
statement_articles as (   -- looked up by the statements' ids: the hash table holds those, not every article
    select article_id, url, title, source_domain, event_at
    from stg_articles
    where article_id in (select article_id from statements)
),
one_per_article as (
    select s.article_id, s.actor_id, s.topic, s.sentence, s.stance,
           coalesce(s.published_at, a.event_at) as event_at, a.url, a.title, a.source_domain
    from statements s
    join statement_articles a using (article_id)
),
sentences as (    -- the last statement before the change and the first ones after it, one per article
    select
        c.alert_id,
        e.url, e.title, e.sentence, e.source_domain, e.event_at, e.stance,
        case when e.event_at < c.after_from then 'before' else 'after' end as side,
        row_number() over (partition by c.alert_id, (e.event_at < c.after_from)
                           order by case when e.event_at < c.after_from then -epoch(e.event_at)
                                         else epoch(e.event_at) end, e.url) as rank_in_side
    from fresh c
    join one_per_article e
      on e.actor_id = c.actor_id and e.topic = c.topic
     and e.event_at between c.before_from and c.after_to
),
picked as (
    select alert_id,
           to_json(list({'side': side, 'stance': stance, 'url': url, 'title': title, 'sentence': sentence,
                         'source_domain': source_domain, 'published_at': event_at}
                        order by event_at)) as evidence,
           arg_min(source_domain, event_at) filter (where side = 'after') as first_source
    from sentences
    where (side = 'before' and rank_in_side = 1) or (side = 'after' and rank_in_side <= 2)
    group by alert_id
),
final as (
    select
        c.alert_id,
        'stance_change' as alert_type,
        case when c.after_sources >= getvariable('stance_critical_sources') then 'critical'
             else getvariable('stance_severity') end as severity,
        c.actor_id,
        c.actor_name,
        c.topic,
        cast(null as varchar) as feed,
        c.after_from as occurred_at,
        'Stance change: ' || coalesce(c.actor_name, c.actor_id) || ' on ' || c.topic || ': '
            || c.before_stance || ' -> ' || c.after_stance || ' (' || c.before_evidence
            || ' sentences before, ' || c.after_evidence || ' in ' || c.after_sources || ' sources since '
            || strftime(c.after_from, '%Y-%m-%d') || ')' as summary,
        p.evidence,
        to_json({'before': c.before_stance, 'after': c.after_stance,
                 'before_evidence': c.before_evidence, 'after_evidence': c.after_evidence,
                 'before_sources': c.before_sources, 'after_sources': c.after_sources,
                 'after_stories': c.after_stories, 'first_source': p.first_source,
                 'before_from': c.before_from, 'before_to': c.before_to, 'after_from': c.after_from}) as details,
        'select * from stg_stances where actor_id = ''' || c.actor_id || ''' and topic = ''' || c.topic
            || ''' order by event_at' as evidence_query
    from fresh c
    join picked p using (alert_id)
)
select * from final
