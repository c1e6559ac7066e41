-- The load (cycle) that stored each mention and stance. Rows are appended in load order, so a model
-- that reads "what is new since its watermark" skips every older row group by its min/max.
alter table actor_mentions add column load_seq bigint;
alter table topic_mentions add column load_seq bigint;
alter table stances add column load_seq bigint;
update articles set load_seq = 0 where load_seq is null;
update actor_mentions set load_seq = 0 where load_seq is null;
update topic_mentions set load_seq = 0 where load_seq is null;
update stances set load_seq = 0 where load_seq is null;
