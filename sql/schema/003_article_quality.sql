-- Extraction completeness and near-duplicate story groups.
alter table articles add column completeness varchar;                 -- full | teaser | paywalled | summary_only
alter table articles add column story_id varchar;                     -- article_id of the first article of its story group
alter table articles add column simhash ubigint;                      -- 64-bit SimHash over word 3-shingles of the text
