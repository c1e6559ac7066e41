"""Full-text search for analysts: BM25 over article titles and text, indexed as articles arrive.

The index is plain DuckDB tables (sql/schema/006_search_index.sql). After each load the new
articles are tokenised and stemmed in SQL (the Porter stemmer of DuckDB's official `fts` extension,
loaded from its PyPI package, never downloaded) into a small unsorted tail; when the tail is big
enough it is sorted by term and appended to the sealed postings as one chunk. A query touches the
row groups of its terms in each chunk plus the tail, and scores with BM25 (k1 1.2, b 0.75) using
the statistics of the whole index. The same query is the SQL macro `search_articles(query, k)`.
"""
from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipeline.store import StoreError, extension_file, sql_string, upsert

log = logging.getLogger(__name__)

SEAL_POSTINGS = 2_000_000     # tail postings (~6,000 articles) that make one sealed chunk
STOPWORDS = ("a an and are as at be been but by for from had has have he her his i in into is it its "
             "of on or our she that the their them they this to was we were which who will with would "
             "you said says also after over than not no").split()
TOKEN = "[^a-z0-9\u00c0-\u024f\u0400-\u04ff]+"       # split on anything but Latin/Cyrillic letters and digits


class SearchError(Exception):
    """The search extension is missing, or a query has nothing to look for."""


def extension_path() -> Path:
    try:
        return extension_file("fts")
    except StoreError as exc:
        raise SearchError(str(exc)) from None


def load_extension(conn: duckdb.DuckDBPyConnection) -> None:
    """Load `fts` from its package file (no network). Analysts who open the database with their own
    DuckDB do the same: `LOAD '<path>'` with the path `newsmon search --extension-path` prints."""
    conn.execute(f"load '{extension_path()}'")


def define_macros(conn: duckdb.DuckDBPyConnection) -> None:
    """The analysts' macros, stored in the database (they need `fts` loaded to be called):
    `search_terms(query)` and `search_articles(query, k := 20, in_topic := '', since := '')` ('': any)."""
    stop = ", ".join(f"'{w}'" for w in STOPWORDS)
    terms = f"""
        create or replace macro search_terms(q) as table
            select distinct stem(w, 'porter') as term
            from (select unnest(regexp_split_to_array(lower(q), '{TOKEN}')) as w)
            where length(w) > 1 and w not in ({stop})
    """
    # defaults are '' rather than NULL: DuckLake cannot store a macro whose default is a NULL
    articles = ("create or replace macro search_articles(q, k := 20, in_topic := '', since := '') as table "
                + ranking_sql("select term from search_terms(q)", "k", "nullif(in_topic, '')",
                              "cast(nullif(cast(since as varchar), '') as timestamp)") + """
        select a.article_id, round(r.score, 4) as score, r.matched_terms, a.published_at, a.title, a.url,
               a.source_domain
        from ranked r join search_docs d using (doc_id) join articles a using (article_id)
        order by r.score desc, a.published_at desc, a.article_id
    """)
    # (re)defined only when their text changed: on DuckLake every definition is a catalog change
    fingerprint = hashlib.sha256((terms + articles).encode()).hexdigest()[:16]
    stored = conn.execute("select fingerprint from model_state where model = 'macros:search'").fetchone()
    defined = conn.execute("select count(*) from duckdb_functions() where database_name = current_database() "
                           "and function_name in ('search_terms', 'search_articles')").fetchone()[0]
    if stored and stored[0] == fingerprint and defined == 2:
        return
    load_extension(conn)      # a macro's body binds `stem` when it is created
    conn.execute(terms)
    conn.execute(articles)
    upsert(conn, "model_state", {"model": "macros:search", "watermark": 0, "fingerprint": fingerprint,
                                 "built_at": datetime.now(timezone.utc).replace(tzinfo=None)})


def ranking_sql(terms: str, k: str, topic: str, since: str, df: str | None = None, only: str | None = None,
                one_term: bool = False, exclude: str | None = None) -> str:
    """The BM25 ranking as a WITH chain ending in `ranked(doc_id, score, matched_terms)`: the top `k`
    documents for the terms `terms` (a subquery or a literal list), optionally only those mentioning
    `topic` or published since `since`. The macro and `search()` both use it. `search()` may pass
    the document frequencies (`df`: a VALUES list of (term, df), the whole index's) and restrict the
    scored documents to a candidate list (`only`: doc ids) or to all others (`exclude`). With `one_term` (a query of one stem)
    each posting is a document's whole score, so no grouping is needed."""
    restrict = (f" and doc_id in ({only})" if only else "") + (f" and doc_id not in ({exclude})" if exclude else "")
    df_cte = (f"df(term, df) as (values {df})" if df else
              "df as (select term, count(*) as df from hits group by term)")
    return f"""
        with hits as (
            select term, doc_id, tf, dl from search_postings where term in ({terms}){restrict}
            union all
            select term, doc_id, tf, dl from search_tail where term in ({terms}){restrict}
        ),
        {df_cte},
        stats as (select count(*) as n, avg(len) as avgdl from search_docs),
        scored as (
            select h.doc_id,
                   {"" if one_term else "sum("}ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5))
                       * h.tf * 2.2 / (h.tf + 1.2 * (0.25 + 0.75 * h.dl / s.avgdl)){"" if one_term else ")"} as score,
                   {"1" if one_term else "count(*)"} as matched_terms
            from hits h join df using (term), stats s
            {"" if one_term else "group by h.doc_id"}
        ),
        unfiltered as (      -- no filter: the top k straight from the postings
            select * from scored where {since} is null and {topic} is null
            order by score desc, doc_id limit {k}
        ),
        filtered as (
            select sc.* from scored sc join search_docs d using (doc_id)
            where ({since} is not null or {topic} is not null)
              and ({since} is null or d.published_at >= cast({since} as timestamp))
              and ({topic} is null or exists (select 1 from topic_mentions m
                                               where m.article_id = d.article_id and m.topic = {topic}))
            order by sc.score desc, sc.doc_id limit {k}
        ),
        ranked as (select * from unfiltered union all select * from filtered)
    """


def index_new(conn: duckdb.DuckDBPyConnection, seal_at: int = SEAL_POSTINGS, chunk: int = 20_000) -> int:
    """Index every article loaded since the last indexed load (idempotent: a rerun finds nothing),
    `chunk` articles per statement so a first index of a long history stays in bounded memory.
    Runs inside the caller's transaction when there is one. Returns the number of new documents."""
    last_seq, last_doc = conn.execute(
        "select coalesce(max(load_seq), -1), coalesce(max(doc_id), 0) from search_docs").fetchone()
    conn.execute(f"""
        create or replace temp table _search_new as
        select {last_doc} + row_number() over (order by load_seq, article_id) as doc_id, article_id, load_seq
        from articles where load_seq > {last_seq}
    """)
    n = conn.execute("select count(*) from _search_new").fetchone()[0]
    if n:
        load_extension(conn)
    define_macros(conn)
    stop = ", ".join(f"'{w}'" for w in STOPWORDS)
    # DuckDB runs one scan of a few thousand rows on one thread; the documents split into one part
    # per thread, each a branch of a UNION ALL, are tokenised on all of them (0.42 s -> 0.23 s for
    # 2,000 articles on 2 cores)
    parts = max(1, min(8, int(conn.execute("select current_setting('threads')").fetchone()[0])))
    for first in range(last_doc + 1, last_doc + n + 1, chunk):
        split = " union all ".join(f"""
            select n.doc_id, unnest(regexp_split_to_array(lower(coalesce(a.title, '') || ' ' || coalesce(a.text, '')),
                                                          '{TOKEN}')) as w
            from _search_new n join articles a using (article_id)
            where n.doc_id between {first} and {first + chunk - 1} and n.doc_id % {parts} = {part}
              and a.load_seq > {last_seq}""" for part in range(parts))
        # count words per document first and stem each distinct word once: a chunk has millions of
        # words but only tens of thousands of distinct ones
        conn.execute(f"""
            create or replace temp table _search_terms as
            with words as (
                select doc_id, w, count(*) as tf
                from ({split})
                where length(w) > 1 and w not in ({stop})
                group by doc_id, w
            ),
            stems as (select w, stem(w, 'porter') as term from (select distinct w from words))
            select doc_id, term, sum(tf) as tf from words join stems using (w) group by doc_id, term
        """)
        conn.execute(f"""
            insert into search_docs
            select n.doc_id, n.article_id, coalesce(t.len, 0), a.published_at, n.load_seq
            from _search_new n join articles a using (article_id)
            left join (select doc_id, sum(tf) as len from _search_terms group by doc_id) t using (doc_id)
            where n.doc_id between {first} and {first + chunk - 1} and a.load_seq > {last_seq}
        """)
        conn.execute(f"""
            insert into search_tail
            select term, doc_id, least(tf, 65535), d.len
            from _search_terms
            join (select doc_id, len from search_docs where doc_id between {first} and {first + chunk - 1}) d
              using (doc_id)
        """)
        if conn.execute("select count(*) from search_tail").fetchone()[0] >= seal_at:
            seal(conn)
    conn.execute("drop table if exists _search_terms")
    conn.execute("drop table _search_new")
    return n


def seal(conn: duckdb.DuckDBPyConnection) -> None:
    """Move the tail into the sealed postings as one chunk sorted by term."""
    conn.execute("insert into search_postings select * from search_tail order by term, doc_id")
    conn.execute("delete from search_tail")


RARE_POSTINGS = 50_000     # a query's rarer terms, up to this many postings together, pick the candidates
K1_PLUS_1 = 2.2            # BM25's term-frequency part never exceeds k1 + 1


def _literals(terms: list[str]) -> str:
    # the stems as literals (they are letters and digits only), so each term's row groups are found
    # by min/max; a subquery would read every posting
    return ", ".join(sql_string(t) for t in terms)


def _ranked(conn: duckdb.DuckDBPyConnection, terms: list[str], limit: int, topic: str | None,
            since: datetime | None) -> list[tuple[int, float, int]]:
    """The top `limit` (doc_id, score, matched_terms), exactly as the full BM25 ranking orders them.

    A common word (in a third of all articles, say) has hundreds of thousands of postings, and
    summing them per document is what makes a query slow. When the query also has rarer terms,
    those pick the candidates (every document containing one), which are scored in full, common
    terms included. A document without any rare term can score at most the common terms' bound,
    sum(idf · (k1 + 1)); if the k-th candidate already scores above that, no such document can
    enter the top k, and the common terms' postings were only read for the candidates (MaxScore
    pruning). Otherwise the best documents by their common terms alone (candidates left out) are
    ranked too, and the two lists merged: still without summing common and rare postings together.
    With no rare term, or no common one, the query is ranked in full."""
    params = {"k": limit, "topic": topic, "since": since}
    literals = _literals(terms)
    if len(terms) == 1:          # nothing to prune: one pass that counts and ranks
        return conn.execute(ranking_sql(literals, "$k", "$topic", "$since", one_term=True)
                            + "select doc_id, score, matched_terms from ranked", params).fetchall()
    freq = dict(conn.execute(f"""
        select term, count(*) from (select term from search_postings where term in ({literals})
                                    union all select term from search_tail where term in ({literals}))
        group by term""").fetchall())
    present = sorted((t for t in terms if t in freq), key=lambda t: freq[t])
    if not present:
        return []
    df = ", ".join(f"({_literals([t])}, {freq[t]})" for t in present)
    full = (ranking_sql(_literals(present), "$k", "$topic", "$since", df=df, one_term=len(present) == 1)
            + "select doc_id, score, matched_terms from ranked")
    rare: list[str] = []
    for t in present:
        if sum(freq[r] for r in rare) + freq[t] > RARE_POSTINGS:
            break
        rare.append(t)
    common = present[len(rare):]
    if not rare or not common:
        return conn.execute(full, params).fetchall()
    n, = conn.execute("select count(*) from search_docs").fetchone()
    bound = sum(math.log(1 + (n - freq[t] + 0.5) / (freq[t] + 0.5)) * K1_PLUS_1 for t in common)
    candidates = (f"select doc_id from search_postings where term in ({_literals(rare)}) "
                  f"union select doc_id from search_tail where term in ({_literals(rare)})")
    ranked = conn.execute(ranking_sql(_literals(present), "$k", "$topic", "$since", df=df, only=candidates)
                          + "select doc_id, score, matched_terms from ranked", params).fetchall()
    if len(ranked) == limit and ranked[-1][1] > bound:
        return ranked
    # a document without a rare term may still make the top k: its score is its common terms'
    # score, so the best of those (candidates left out) compete with the candidates
    rest = conn.execute(ranking_sql(_literals(common), "$k", "$topic", "$since", df=df, exclude=candidates,
                                    one_term=len(common) == 1)
                        + "select doc_id, score, matched_terms from ranked", params).fetchall()
    return sorted(ranked + rest, key=lambda r: (-r[1], r[0]))[:limit]


@dataclass(frozen=True)
class Hit:
    article_id: str
    score: float
    matched_terms: int
    published_at: datetime | None
    title: str | None
    url: str
    source_domain: str | None
    snippet: str


def snippet(text: str, terms: list[str], width: int = 220) -> str:
    """The stretch of text around the first place where a query term (stem) starts a word."""
    text = " ".join((text or "").split())
    best = None
    for term in terms:
        m = re.search(r"\b" + re.escape(term), text, re.IGNORECASE)
        if m and (best is None or m.start() < best):
            best = m.start()
    if best is None:
        return text[:width] + ("…" if len(text) > width else "")
    start = max(0, best - width // 3)
    start = text.rfind(" ", 0, start) + 1 if start else 0
    out = text[start:start + width]
    return ("…" if start else "") + out + ("…" if start + width < len(text) else "")


def search(conn: duckdb.DuckDBPyConnection, query: str, limit: int = 10, topic: str | None = None,
           since: datetime | None = None) -> list[Hit]:
    """Ranked articles for `query`, optionally only those mentioning `topic` or published since `since`."""
    load_extension(conn)
    try:
        terms = [t for (t,) in conn.execute("select term from search_terms(?)", [query]).fetchall()]
    except duckdb.CatalogException as exc:
        raise SearchError("this database has no search index yet: a cycle builds it (newsmon run)") from exc
    if not terms:
        raise SearchError(f"nothing to search for in {query!r} (only stop words or punctuation)")
    ranked = _ranked(conn, terms, limit, topic, since)
    if not ranked:
        return []
    ids = [r[0] for r in ranked]
    rows = conn.execute(f"select doc_id, article_id, load_seq from search_docs where doc_id in "
                        f"({', '.join('?' * len(ids))})", ids).fetchall()
    docs = {doc_id: article_id for doc_id, article_id, _ in rows}
    seqs = sorted({seq for _, _, seq in rows})
    # articles are stored in load order: the loads' numbers let a scan skip every other row group
    # (on a lake, every other file) instead of reading a million ids
    arts = {r[0]: r[1:] for r in conn.execute(
        f"select article_id, published_at, title, url, source_domain, text from articles "
        f"where load_seq in ({', '.join('?' * len(seqs))}) and article_id in ({', '.join('?' * len(docs))})",
        [*seqs, *docs.values()]).fetchall()}
    hits = []
    for doc_id, score, matched in ranked:
        published_at, title, url, source, text = arts[docs[doc_id]]
        hits.append((score, Hit(docs[doc_id], round(score, 4), matched, published_at, title, url, source,
                                snippet(text, terms))))
    # the macro's order: the exact score, then the newest, then the id (the shown score is rounded)
    hits.sort(key=lambda sh: (-sh[0], -(sh[1].published_at.timestamp() if sh[1].published_at else 0),
                              sh[1].article_id))
    return [h for _, h in hits]
