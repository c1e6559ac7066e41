-- Incremental models, alert severity and acknowledgements, delivery backoff and per-channel throttling.
alter table articles add column load_seq bigint;          -- the load (cycle) that stored the row; models read newer ones
create table model_state (
    model       varchar primary key,
    watermark   bigint not null,                          -- highest articles.load_seq the model has taken in
    fingerprint varchar not null,                         -- hash of the model SQL, rule variables and registry
    built_at    timestamp
);
alter table alerts add column severity varchar;           -- info | warning | critical
alter table alerts add column feed varchar;               -- source_silent: the feed
alter table alerts add column evidence_query varchar;     -- SQL that lists the full evidence
create table alert_acks (
    alert_id varchar primary key,
    acked_at timestamp not null,
    acked_by varchar,
    note     varchar
);
alter table alert_deliveries add column next_attempt_at timestamp;   -- failed: not retried before this
create table channel_state (
    channel       varchar primary key,
    last_sent_at  timestamp,
    blocked_until timestamp,                              -- a 429's Retry-After
    last_error    varchar
);
