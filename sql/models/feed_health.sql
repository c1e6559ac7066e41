-- feed_health: each feed's polling health and publishing rhythm, as of the cycle's clock.
-- grain: feed
-- materialized: table
with feeds as (
    select * from feeds
),
recent as (        -- articles seen in the 7 days before the cycle
    select feed, count(*) as articles_7d, max(event_at) as last_article_at
    from stg_articles
    where fetched_at > getvariable('cycle_now') - interval 7 day
    group by feed
),
topical as (
    select
        feed,
        max(last_topic_article_at) as last_topic_article_at,
        cast(sum(topic_articles) filter (where day > cast(getvariable('cycle_now') as date) - 7) as bigint)
            as topic_articles_7d
    from feed_topic_daily
    group by feed
),
main as (         -- the feed's main topic: most articles over its history (ties: alphabetical)
    select feed, first(main_topic order by n desc, main_topic) as main_topic
    from (select feed, main_topic, sum(topic_articles) as n from feed_topic_daily group by all)
    group by feed
),
rhythm as (        -- days with topic articles in the lookback window before the feed's last topic article
    select d.feed, count(*) as topic_days_active
    from feed_topic_daily d
    join topical t using (feed)
    where d.day > cast(t.last_topic_article_at as date) - getvariable('silent_lookback_days')
    group by d.feed
),
final as (
    select
        f.feed,
        f.url,
        case when coalesce(f.unhealthy, false) then 'unhealthy'
             when f.last_status = 'error' then 'failing'
             else coalesce(f.last_status, 'never polled') end as status,
        f.last_polled_at,
        f.last_success_at,
        f.last_http_status,
        f.last_error,
        f.consecutive_failures,
        f.next_poll_at,
        round(coalesce(r.articles_7d, 0) / 7.0, 2) as items_per_day,
        r.last_article_at,
        coalesce(t.topic_articles_7d, 0) as topic_articles_7d,
        t.last_topic_article_at,
        m.main_topic,
        coalesce(h.topic_days_active, 0) as topic_days_active,
        f.articles_total
    from feeds f
    left join recent r using (feed)
    left join topical t using (feed)
    left join main m using (feed)
    left join rhythm h using (feed)
)
select * from final
