-- Per-feed polling state for adaptive intervals, backoff and health; per-poll detail.
alter table feeds add column failure_score double;       -- weighted: hard errors 1, HTTP errors 0.5
alter table feeds add column poll_interval double;                     -- seconds, the feed's healthy rhythm
alter table feeds add column next_poll_at timestamp;                   -- not polled before this
alter table feeds add column last_unconditional_at timestamp;          -- last poll sent without validators
alter table feeds add column unhealthy boolean;        -- failing for a while; still polled
alter table feeds add column feed_hint_seconds double;                 -- <ttl> or sy:updatePeriod of the feed
alter table feed_polls add column conditional boolean;                 -- validators were sent
alter table feed_polls add column retry_after varchar;                 -- the server's Retry-After, as sent
alter table feed_polls add column drop_reasons varchar;                -- why entries were refused
alter table feed_polls add column next_poll_at timestamp;
-- No DEFAULT clauses above: DuckDB 1.5.5 fails to commit several ALTER ... ADD COLUMN ... DEFAULT
-- on a table that already holds rows (readers coalesce the nulls instead).
