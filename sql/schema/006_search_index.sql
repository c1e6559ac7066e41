-- Full-text search (BM25) over article titles and text, kept current cycle by cycle.
-- search_docs: one row per indexed article (doc_id is dense, for compact postings).
-- search_postings: (stemmed term, doc, term frequency, doc length), appended in sealed chunks sorted by
--   term, so a term's postings sit in one or two row groups per chunk and min/max skips the rest;
--   the doc length rides along so scoring never joins the documents.
-- search_tail: postings of the articles indexed since the last seal (small, unsorted).
create table search_docs (
    doc_id      integer not null,
    article_id  varchar not null,
    len         integer not null,      -- indexed terms in title + text
    published_at timestamp,
    load_seq    bigint not null
);
create table search_postings (term varchar not null, doc_id integer not null, tf usmallint not null,
                              dl integer not null);
create table search_tail (term varchar not null, doc_id integer not null, tf usmallint not null,
                          dl integer not null);
