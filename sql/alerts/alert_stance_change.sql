-- alert_stance_change: an actor's stance period on a topic differs from the period before it,
-- each side backed by at least getvariable('stance_min_evidence') sentences.
-- grain: actor_id, topic, period (the period that starts with the change)
with periods as (
    select * from actor_topic_stance
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
        cur.evidence_count as after_evidence
    from periods cur
    join periods prev
      on prev.actor_id = cur.actor_id and prev.topic = cur.topic and prev.period = cur.period - 1
    where cur.stance <> prev.stance
      and cur.evidence_count >= getvariable('stance_min_evidence')
      and prev.evidence_count >= getvariable('stance_min_evidence')
),
one_per_article as (
    select *
    from stg_stances
    qualify row_number() over (partition by actor_id, topic, article_id order by sentence_index) = 1
),
sentences as (    -- the last statement before the change and the first ones after it, one per article
    select
        c.actor_id, c.topic, c.period,
        e.url, e.title, e.sentence, e.source_domain, e.event_at, e.stance,
        case when e.event_at < c.after_from then 'before' else 'after' end as side,
        row_number() over (partition by c.actor_id, c.topic, c.period,
                                        (e.event_at < c.after_from)
                           order by case when e.event_at < c.after_from then -epoch(e.event_at)
                                         else epoch(e.event_at) end, e.url) as rank_in_side
    from changes c
    join one_per_article e
      on e.actor_id = c.actor_id and e.topic = c.topic
     and e.event_at between c.before_from and c.after_to
),
picked as (
    select actor_id, topic, period,
           to_json(list({'side': side, 'stance': stance, 'url': url, 'title': title, 'sentence': sentence,
                         'source_domain': source_domain, 'published_at': event_at}
                        order by event_at)) as evidence
    from sentences
    where (side = 'before' and rank_in_side = 1) or (side = 'after' and rank_in_side <= 2)
    group by actor_id, topic, period
),
final as (
    select
        substr(md5('stance_change|' || c.actor_id || '|' || c.topic || '|' || c.before_stance || '|'
                   || c.after_stance || '|' || strftime(c.after_from, '%Y-%m-%d')), 1, 16) as alert_id,
        'stance_change' as alert_type,
        c.actor_id,
        c.actor_name,
        c.topic,
        c.after_from as occurred_at,
        'Stance change: ' || coalesce(c.actor_name, c.actor_id) || ' on ' || c.topic || ': '
            || c.before_stance || ' -> ' || c.after_stance || ' (' || c.before_evidence
            || ' sentences before, ' || c.after_evidence || ' since ' || strftime(c.after_from, '%Y-%m-%d')
            || ')' as summary,
        p.evidence,
        to_json({'before': c.before_stance, 'after': c.after_stance,
                 'before_evidence': c.before_evidence, 'after_evidence': c.after_evidence,
                 'before_from': c.before_from, 'before_to': c.before_to, 'after_from': c.after_from}) as details
    from changes c
    join picked p using (actor_id, topic, period)
)
select * from final
