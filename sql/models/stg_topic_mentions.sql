-- stg_topic_mentions: sentences that mention a tracked topic.
-- grain: article_id, topic, sentence_index
-- materialized: view
with source as (
    select * from topic_mentions
),
final as (
    select article_id, topic, sentence_index, term, sentence, load_seq
    from source
)
select * from final
