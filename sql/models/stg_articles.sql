-- stg_articles: one row per distinct article, with the time the story happened. Articles after
-- getvariable('as_of') are left out (backtests replay history day by day; normally the far future).
-- grain: article_id
-- materialized: view
with source as (
    select * from articles
),
final as (
    select
        article_id,
        url,
        canonical_url,
        feed,
        source_domain,
        coalesce(story_id, article_id) as story_id,
        title,
        coalesce(published_at, fetched_at) as event_at,
        published_at,
        fetched_at,
        extracted,
        coalesce(completeness, 'full') as completeness,
        language,
        coalesce(load_seq, 0) as load_seq
    from source
    where coalesce(published_at, fetched_at) <= getvariable('as_of')
)
select * from final
