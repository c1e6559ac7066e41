"""Full-text search: BM25 scores by hand, ranking on the demo, filters, incremental and idempotent
indexing, sealing that changes nothing, and the CLI and SQL macro analysts use."""
from __future__ import annotations

import math
import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline import store
from pipeline.cli import main
from tests.conftest import BACKENDS, open_test_store
from pipeline.search import define_macros, index_new, load_extension, search, seal


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import contextlib
    import io

    from pipeline.demo.run import run_demo

    tmp = tmp_path_factory.mktemp("search")
    with contextlib.redirect_stdout(io.StringIO()):
        run_demo(tmp)
    return tmp / "demo"


def add_articles(conn, docs: dict[str, tuple[str, str]], seq: int) -> None:
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    for i, (article_id, (title, text)) in enumerate(docs.items()):
        conn.execute("insert into articles (article_id, url, canonical_url, feed, source_domain, title, published_at, "
                     "fetched_at, text, extracted, load_seq) values (?, ?, ?, 'f', 'x.example', ?, ?, ?, ?, true, ?)",
                     [article_id, f"https://x.example/{article_id}", f"https://x.example/{article_id}", title,
                      now + timedelta(days=i), now, text, seq])


@pytest.mark.parametrize("backend", BACKENDS)
def test_scores_are_bm25_over_the_whole_index(tmp_path, backend):
    conn = open_test_store(tmp_path, backend, "s")
    add_articles(conn, {"a": ("Truce", "truce truce talks"), "b": ("Summit", "talks summit summit summit"),
                        "c": ("Weather", "rain rain snow")}, seq=1)
    assert index_new(conn) == 3
    lens = dict(conn.execute("select article_id, len from search_docs").fetchall())
    assert lens == {"a": 4, "b": 5, "c": 4}            # title + text, stemmed terms
    n, avgdl = 3, 13 / 3

    def bm25(tf: int, df: int, length: int) -> float:
        return math.log(1 + (n - df + 0.5) / (df + 0.5)) * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avgdl))

    got = {r[0]: r[1] for r in conn.execute("select article_id, score from search_articles('truce talks')").fetchall()}
    assert got == pytest.approx({"a": round(bm25(3, 1, 4) + bm25(1, 2, 4), 4), "b": round(bm25(1, 2, 5), 4)}, abs=1e-4)
    # a later load is indexed on its own and the statistics are the whole index's
    add_articles(conn, {"d": ("Truce holds", "the truce holds")}, seq=2)
    assert index_new(conn) == 1 and index_new(conn) == 0          # idempotent
    assert conn.execute("select count(*) from search_articles('truce')").fetchone()[0] == 2
    conn.close()


def test_sealing_the_tail_changes_no_result(demo, tmp_path):
    db = tmp_path / "live.duckdb"
    shutil.copy(demo / "newsmon-demo.duckdb", db)
    conn = store.connect(db)
    load_extension(conn)
    queries = ["Duma peacekeepers", "coalition of the willing", "ceasefire talks Jeddah", "Stubb Finland"]
    before = {q: conn.execute("select article_id, score from search_articles(?)", [q]).fetchall() for q in queries}
    assert conn.execute("select count(*) from search_postings").fetchone()[0] == 0
    seal(conn)
    assert conn.execute("select count(*) from search_tail").fetchone()[0] == 0
    after = {q: conn.execute("select article_id, score from search_articles(?)", [q]).fetchall() for q in queries}
    assert after == before and all(before.values())
    # indexing from scratch in chunks of 3 articles, sealing every ~500 postings: the same answers
    for table in ("search_docs", "search_tail", "search_postings"):
        conn.execute(f"delete from {table}")
    assert index_new(conn, seal_at=500, chunk=3) == 22
    assert conn.execute("select count(*) from search_postings").fetchone()[0] > 500
    again = {q: conn.execute("select article_id, score from search_articles(?)", [q]).fetchall() for q in queries}
    assert again == before
    # every stored article is indexed exactly once
    assert conn.execute("select count(*), count(distinct article_id) from search_docs").fetchone() == \
        (conn.execute("select count(*) from articles").fetchone()[0],) * 2
    conn.close()


def test_demo_ranking_and_filters(demo):
    conn = store.connect(demo / "newsmon-demo.read.duckdb", read_only=True)
    top = search(conn, "Duma peacekeepers", limit=3)
    assert all("Duma" in h.title for h in top) and top[0].score >= top[-1].score
    assert all(h.matched_terms == 2 for h in top)
    assert any("peacekeep" in h.snippet.lower() for h in top)
    coalition = search(conn, "Stubb", topic="coalition")
    assert coalition and {h.title for h in coalition} <= {h.title for h in search(conn, "Stubb", limit=50)}
    late = search(conn, "Duma", since=datetime(2026, 2, 18))
    assert late and all(h.published_at >= datetime(2026, 2, 18) for h in late)
    assert len(search(conn, "Duma", limit=50)) > len(late)
    # the fast path (literal terms) and the analysts' macro agree exactly, filters included
    for query, topic, since in (("Duma peacekeepers", None, None), ("Stubb", "coalition", None),
                                ("ceasefire talks", None, datetime(2026, 2, 10)), ("coalition", "coalition", datetime(2026, 2, 20))):
        fast = [(h.article_id, h.score, h.matched_terms) for h in search(conn, query, 20, topic, since)]
        macro = conn.execute("select article_id, score, matched_terms from search_articles(?, k := 20, in_topic := ?, "
                             "since := ?)", [query, topic, since]).fetchall()
        assert fast == macro and fast
    conn.close()


def test_search_command_and_sql_macro(demo, capsys):
    read_copy = str(demo / "newsmon-demo.read.duckdb")
    assert main(["search", "Duma peacekeepers UN mandate", "--db", read_copy, "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("  1. [") and "State Duma accepts idea of peacekeepers under a UN mandate" in out.splitlines()[0]
    assert main(["search", "the of and", "--db", read_copy]) == 2
    assert "only stop words" in capsys.readouterr().err
    assert main(["search", "--extension-path"]) == 0
    assert Path(capsys.readouterr().out.strip()).is_file()
    assert main(["sql", "select title from search_articles('ceasefire talks', k := 1)", "--db", read_copy]) == 0
    assert "Ceasefire talks" in capsys.readouterr().out


def test_a_database_without_an_index_is_a_clear_error(tmp_path, capsys):
    conn = store.connect(tmp_path / "old.duckdb")
    conn.close()
    assert main(["search", "truce", "--db", str(tmp_path / "old.duckdb")]) == 2
    assert "no search index yet" in capsys.readouterr().err


def test_macros_survive_in_the_file_and_need_only_the_extension(tmp_path):
    import duckdb

    from pipeline.search import extension_path

    conn = store.connect(tmp_path / "m.duckdb")
    load_extension(conn)
    define_macros(conn)
    conn.close()
    plain = duckdb.connect(str(tmp_path / "m.duckdb"), read_only=True,
                           config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    plain.execute(f"load '{extension_path()}'")           # what the README tells analysts to do
    assert plain.execute("select * from search_terms('Peacekeepers, the ceasefire!')").fetchall() in (
        [("peacekeep",), ("ceasefir",)], [("ceasefir",), ("peacekeep",)])
    plain.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_pruned_ranking_equals_the_full_ranking(tmp_path, backend, monkeypatch):
    """Candidates from the rare terms, the common terms bounded: same top k as ranking everything."""
    import pipeline.search as s

    rng = random.Random(5)
    docs = {}
    for i in range(300):
        words = ["truce"] * rng.randint(1, 6) + ["filler"] * rng.randint(5, 40)
        if i % 20 == 0:
            words += ["jeddah"] * rng.randint(1, 3)
        if i % 7 == 0:
            words += ["envoy"]
        docs[f"d{i:03d}"] = (f"Title {i}", " ".join(rng.sample(words, len(words))))
    conn = open_test_store(tmp_path, backend, "p")
    add_articles(conn, docs, seq=1)
    index_new(conn)
    monkeypatch.setattr(s, "RARE_POSTINGS", 30)      # 'jeddah' (15 docs) is rare, 'truce' (300) common
    pruned = []
    real = s.ranking_sql
    monkeypatch.setattr(s, "ranking_sql", lambda *a, **kw: (pruned.append(kw.get("only")), real(*a, **kw))[1])
    for query, k in (("jeddah truce", 5), ("jeddah truce", 10), ("jeddah envoy truce", 10), ("truce", 10),
                     ("jeddah truce", 20)):
        got = [(h.article_id, h.score) for h in search(conn, query, limit=k)]
        want = conn.execute("select article_id, score from search_articles(?, k := ?)", [query, k]).fetchall()
        assert got == want, query
    assert any(pruned), "the pruned path never ran"
    conn.close()
