-- alert_volume_spike: a topic's stories on a day above its trailing baseline: more than
-- mean + getvariable('spike_k') * stddev over the getvariable('spike_baseline_days') days before
-- (days without stories count as zero), and at least getvariable('spike_min_stories') stories.
-- At most one per topic per getvariable('spike_cooldown_hours').
-- grain: topic, day
with volume as (
    select * from topic_volume_daily
),
bounds as (
    select topic, min(day) as first_day, (select max(day) from volume) as last_day
    from volume group by topic
),
spine as (        -- every day of every topic, zeros included
    select b.topic, cast(d.day as date) as day
    from bounds b, range(b.first_day, b.last_day + interval 1 day, interval 1 day) d(day)
),
filled as (
    select s.topic, s.day, coalesce(v.stories, 0) as stories, coalesce(v.articles, 0) as articles,
           coalesce(v.sources, 0) as sources, v.last_event_at
    from spine s
    left join volume v using (topic, day)
),
scored as (
    select
        *,
        avg(stories) over w as baseline_mean,
        stddev_pop(stories) over w as baseline_sd,
        count(*) over w as baseline_days
    from filled
    window w as (partition by topic order by day
                 rows between getvariable('spike_baseline_days') preceding and 1 preceding)
),
candidates as (
    select *, (stories - baseline_mean) / nullif(baseline_sd, 0) as z
    from scored
    where baseline_days = getvariable('spike_baseline_days')
      and stories >= getvariable('spike_min_stories')
      and stories > baseline_mean + getvariable('spike_k') * baseline_sd
),
spaced as (       -- no two within the cooldown, and none within it after one already raised
    select c.*
    from candidates c
    qualify coalesce(epoch(c.last_event_at) - epoch(lag(c.last_event_at) over (partition by c.topic order by c.day)),
                     1e18) >= getvariable('spike_cooldown_hours') * 3600
),
cooled as (
    select s.*
    from spaced s
    where not exists (
        select 1 from alerts a
        where a.alert_type = 'volume_spike' and a.topic = s.topic
          and abs(epoch(s.last_event_at) - epoch(a.occurred_at)) < getvariable('spike_cooldown_hours') * 3600
          and a.alert_id <> substr(md5('volume_spike|' || s.topic || '|' || strftime(s.day, '%Y-%m-%d')), 1, 16))
      -- spikes already raised need no evidence again (the runner would drop them anyway)
      and substr(md5('volume_spike|' || s.topic || '|' || strftime(s.day, '%Y-%m-%d')), 1, 16)
          not in (select alert_id from alerts)
),
day_articles as (  -- the articles of the spike days only (never a join over all of them)
    select a.*
    from stg_articles a
    where cast(a.event_at as date) in (select day from cooled)
      and a.event_at >= (select min(day) from cooled)    -- a range the scan can skip old row groups by
      and a.event_at < (select max(day) from cooled) + interval 1 day
),
stories as (      -- up to three stories of the day, one sentence each
    select t.topic, cast(a.event_at as date) as day, a.story_id,
           arg_min(a.url, a.event_at) as url, arg_min(a.title, a.event_at) as title,
           arg_min(t.sentence, a.event_at) as sentence, arg_min(a.source_domain, a.event_at) as source_domain,
           min(a.event_at) as published_at
    from day_articles a
    join stg_topic_mentions t using (article_id)
    semi join cooled c on c.topic = t.topic and c.day = cast(a.event_at as date)
    where t.load_seq >= (select min(load_seq) from day_articles)
    -- a mention is stored in its article's load: older loads' row groups are skipped
    group by all
),
evidence as (
    select topic, day,
           to_json(list({'url': url, 'title': title, 'sentence': sentence, 'source_domain': source_domain,
                         'published_at': published_at} order by published_at)[1:3]) as evidence,
           arg_min(source_domain, published_at) as first_source
    from stories
    group by topic, day
),
final as (
    select
        substr(md5('volume_spike|' || c.topic || '|' || strftime(c.day, '%Y-%m-%d')), 1, 16) as alert_id,
        'volume_spike' as alert_type,
        case when c.z is null or c.z >= getvariable('spike_critical_k') then 'critical'
             else getvariable('spike_severity') end as severity,
        cast(null as varchar) as actor_id,
        cast(null as varchar) as actor_name,
        c.topic,
        cast(null as varchar) as feed,
        c.last_event_at as occurred_at,
        'Volume spike: ' || c.topic || ' on ' || strftime(c.day, '%Y-%m-%d') || ': ' || c.stories
            || ' stories (' || c.sources || ' sources) vs ' || round(c.baseline_mean, 1) || ' a day over the previous '
            || c.baseline_days || ' days' as summary,
        e.evidence,
        to_json({'day': c.day, 'stories': c.stories, 'articles': c.articles, 'sources': c.sources,
                 'baseline_mean': round(c.baseline_mean, 2), 'baseline_sd': round(c.baseline_sd, 2),
                 'z': round(c.z, 2), 'first_source': e.first_source}) as details,
        'select * from topic_volume_daily where topic = ''' || c.topic || ''' order by day' as evidence_query
    from cooled c
    join evidence e using (topic, day)
)
select * from final
