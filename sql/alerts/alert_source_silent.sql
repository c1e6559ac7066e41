-- alert_source_silent: a feed that published on a tracked topic on at least
-- getvariable('silent_active_days') of the getvariable('silent_lookback_days') days before its last
-- topic article has had none for getvariable('silent_hours') hours, or has not been polled
-- successfully for that long. "failing" (no data) and "silent" (data, but nothing on topic) are told apart.
-- grain: feed, last_topic_article_at (one alert per silence)
-- every cycle: silence grows with the clock, not with new data
with health as (
    select * from feed_health
),
quiet as (
    select
        *,
        substr(md5('source_silent|' || feed || '|' || strftime(last_topic_article_at, '%Y-%m-%dT%H:%M:%S')), 1, 16)
            as alert_id,
        epoch(getvariable('cycle_now')) - epoch(last_topic_article_at) as quiet_seconds,
        case when last_success_at is null
                  or epoch(getvariable('cycle_now')) - epoch(last_success_at) >= getvariable('silent_hours') * 3600
             then 'failing' else 'silent' end as state
    from health
    where topic_days_active >= getvariable('silent_active_days')
      and last_topic_article_at is not null
      and epoch(getvariable('cycle_now')) - epoch(last_topic_article_at) >= getvariable('silent_hours') * 3600
      -- a silence already raised needs no evidence again (the runner would drop it anyway): this
      -- query runs every cycle, and each long-silent feed would cost a look-up of its last article.
      -- Only this type's ids are read: hashing every alert id took 4 ms at 110,000 alerts, these 0.8
      and alert_id not in (select alert_id from alerts where alert_type = 'source_silent')
),
last_article as (
    select a.feed, arg_max(a.url, a.event_at) as url, arg_max(a.title, a.event_at) as title,
           arg_max(a.source_domain, a.event_at) as source_domain, max(a.event_at) as published_at
    from stg_articles a
    semi join quiet q on q.feed = a.feed and a.event_at = q.last_topic_article_at
    group by a.feed
),
final as (
    select
        q.alert_id,
        'source_silent' as alert_type,
        case when q.state = 'failing' and getvariable('silent_severity') = 'info' then 'warning'
             else getvariable('silent_severity') end as severity,
        cast(null as varchar) as actor_id,
        cast(null as varchar) as actor_name,
        q.main_topic as topic,
        q.feed,
        q.last_topic_article_at + to_seconds(cast(getvariable('silent_hours') * 3600 as bigint)) as occurred_at,
        'Source ' || q.state || ': ' || q.feed || ' has had no ' || coalesce(q.main_topic, 'topic')
            || ' article for ' || cast(floor(q.quiet_seconds / 3600) as bigint) || ' h (it published on '
            || q.topic_days_active || ' of the ' || getvariable('silent_lookback_days') || ' days before)'
            || case when q.state = 'failing'
                    then '; polls are failing: ' || coalesce(q.last_error, 'no successful poll') else '' end as summary,
        to_json([{'url': l.url, 'title': l.title, 'sentence': 'last topic article', 'source_domain': l.source_domain,
                  'published_at': l.published_at}]) as evidence,
        to_json({'state': q.state, 'last_topic_article_at': q.last_topic_article_at,
                 'last_success_at': q.last_success_at, 'last_error': q.last_error,
                 'topic_days_active': q.topic_days_active, 'quiet_hours': round(q.quiet_seconds / 3600, 1),
                 'first_source': q.feed}) as details,
        'select * from feed_health where feed = ''' || q.feed || '''' as evidence_query
    from quiet q
    left join last_article l using (feed)
)
select * from final
