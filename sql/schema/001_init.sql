-- Raw tables written by the loader (pipeline/store.py). All timestamps are UTC.

create table feeds (
    feed                 varchar primary key,   -- name from feeds.yaml
    url                  varchar not null,
    etag                 varchar,               -- validators for the next conditional GET
    last_modified        varchar,
    last_polled_at       timestamp,
    last_status          varchar,               -- ok | not_modified | error
    last_http_status     integer,
    last_error           varchar,
    last_success_at      timestamp,
    consecutive_failures integer not null default 0,
    articles_total       bigint not null default 0
);

create table cycles (
    cycle_id      varchar primary key,
    started_at    timestamp not null,
    finished_at   timestamp,
    feeds_polled  integer,
    feeds_failed  integer,
    new_articles  integer,
    mentions      integer,
    stances       integer,
    alerts_raised integer,
    alerts_sent   integer
);

create table feed_polls (
    cycle_id        varchar not null,
    feed            varchar not null,
    polled_at       timestamp not null,
    status          varchar not null,           -- ok | not_modified | error
    http_status     integer,
    error           varchar,
    entries         integer not null default 0,
    new_articles    integer not null default 0,
    dropped_entries integer not null default 0,
    primary key (cycle_id, feed)
);

create table articles (
    article_id       varchar primary key,       -- hash of the canonical URL (fallback GUID, content)
    url              varchar not null,
    canonical_url    varchar not null,
    guid             varchar,
    feed             varchar not null,          -- the first feed it was seen in
    source_domain    varchar not null,
    site_name        varchar,
    title            varchar,
    published_at     timestamp,
    fetched_at       timestamp not null,
    language         varchar,
    text             varchar,
    extracted        boolean not null,          -- false: text is the feed summary
    extraction_error varchar,
    content_hash     varchar,
    cycle_id         varchar
);

create table topic_mentions (
    article_id     varchar not null,
    topic          varchar not null,
    sentence_index integer not null,
    term           varchar,
    sentence       varchar,
    primary key (article_id, topic, sentence_index)
);

create table actor_mentions (
    article_id     varchar not null,
    actor_id       varchar not null,
    actor_name     varchar not null,
    is_known       boolean not null,
    entity_label   varchar,
    sentence_index integer not null,
    start_char     integer not null,
    surface        varchar,
    primary key (article_id, start_char)
);

create table stances (
    article_id     varchar not null,
    actor_id       varchar not null,
    topic          varchar not null,
    sentence_index integer not null,
    stance         varchar not null,            -- support | oppose | neutral
    score          double not null,             -- [-1, 1]
    cue            varchar,
    via            varchar,                     -- subject | speaker
    sentence       varchar,
    published_at   timestamp,
    primary key (article_id, actor_id, topic, sentence_index)
);

create table actors (
    actor_id  varchar primary key,              -- the registry (actors.yaml) as of the last cycle
    name      varchar not null,
    type      varchar,
    country   varchar,
    wikidata  varchar,
    aliases   varchar[]
);

create table alerts (
    alert_id    varchar primary key,            -- hash of rule + actor + topic + period
    alert_type  varchar not null,               -- new_actor | stance_change
    actor_id    varchar,
    actor_name  varchar,
    topic       varchar,
    occurred_at timestamp,                      -- when the evidence completing the rule was published
    detected_at timestamp not null,             -- when the pipeline raised the alert
    summary     varchar not null,
    evidence    json,                           -- [{url, title, sentence, published_at, source_domain}]
    details     json,                           -- rule-specific: before/after, counts
    cycle_id    varchar,
    sent_at     timestamp                       -- null until every routed channel accepted it
);

create table alert_deliveries (
    alert_id   varchar not null,
    channel    varchar not null,
    status     varchar not null,                -- sent | failed
    attempts   integer not null default 0,
    last_error varchar,
    sent_at    timestamp,
    primary key (alert_id, channel)
);
