-- stg_articles: one row per distinct article, with the time the story happened. Articles after
-- getvariable('as_of') are left out (backtests replay history day by day); an analyst's session,
-- which sets no variable, sees everything.
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
        load_seq
    from source
    where coalesce(published_at, fetched_at) <= coalesce(getvariable('as_of'), timestamp '9999-12-31')
)
select * from final
