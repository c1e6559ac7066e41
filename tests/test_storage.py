"""Storage backends: the same pipeline on a DuckDB file and on a DuckLake (SQLite and PostgreSQL
catalogs); concurrent writers and readers on the lake; snapshots; migration between the two."""
from __future__ import annotations

import json
import multiprocessing
import random
import time
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline import store
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.cycle import run_cycle
from pipeline.records import ActorMention, Annotation, Article, TopicMention
from pipeline.settings import Settings
from tests.conftest import ROOT, write_config

T0 = datetime(2026, 3, 1, 8)
WRITERS, PER_WRITER, BATCH, SHARED = 4, 500, 50, 25


def lake_settings(tmp_path: Path, catalog: str | None = None) -> Settings:
    return Settings(config_dir=ROOT / "config", db_path=tmp_path / "newsmon.duckdb", data_dir=tmp_path,
                    storage="ducklake", lake_catalog=catalog)


# --- the same pipeline on both backends -------------------------------------------------------------

def _demo_cycles(tmp_path: Path, demo_site, annotator, webhook, storage: str) -> Settings:
    from pipeline.config import Channel
    from pipeline.demo.site import PHASE_ONE_END, TIMELINE_END

    folder = tmp_path / storage
    config = load_config(write_config(folder / "config", demo_site.feeds_yaml()))
    config = replace(config, channels=(Channel("hook", webhook.apprise_url, None),))
    settings = Settings(config_dir=folder / "config", db_path=folder / "newsmon.duckdb", data_dir=folder,
                        allow_private_networks=True, host_min_gap=0.0, storage=storage)
    for cutoff in (PHASE_ONE_END, TIMELINE_END):
        demo_site.cutoff = cutoff
        run_cycle(config, settings, annotator, now=cutoff)
    return settings


# what must match row for row (ids are content hashes, so equal data gives equal ids)
COMPARED = {
    "articles": "select article_id, story_id, title, published_at, completeness from articles",
    "actor_mentions": "select article_id, actor_id, sentence_index, start_char from actor_mentions",
    "stances": "select article_id, actor_id, topic, sentence_index, stance, score from stances",
    "stance_ledger": "select * exclude (built_generation) from stance_ledger",
    "actor_first_seen": "select * exclude (built_generation, _key, _check) from actor_first_seen",
    "topic_volume_daily": "select * from topic_volume_daily",
    "alerts": "select alert_id, alert_type, actor_id, topic, occurred_at, summary, severity, sent_at from alerts",
    "search": "select * from search_articles('Duma peacekeepers', k := 5)",
}


@pytest.mark.slow
def test_the_demo_gives_the_same_rows_on_both_backends(tmp_path, demo_site, annotator, webhook):
    rows = {}
    for storage in ("duckdb", "ducklake"):
        settings = _demo_cycles(tmp_path, demo_site, annotator, webhook, storage)
        conn = store.open_store(settings, read_only=True)
        from pipeline.search import load_extension

        load_extension(conn)
        rows[storage] = {name: sorted(map(repr, conn.execute(sql).fetchall())) for name, sql in COMPARED.items()}
        conn.close()
    assert len(rows["duckdb"]["alerts"]) == 2
    for name in COMPARED:
        assert rows["ducklake"][name] == rows["duckdb"][name], name
    assert len(webhook.received) == 4             # two alerts, posted once by each backend's run


def test_alert_records_its_snapshot_and_as_of_shows_the_data_then(tmp_path, demo_site, annotator, webhook,
                                                                 capsys, monkeypatch):
    settings = _demo_cycles(tmp_path, demo_site, annotator, webhook, "ducklake")
    conn = store.open_store(settings)
    alert_id, snapshot = conn.execute("select alert_id, snapshot_id from alerts "
                                      "where alert_type = 'stance_change'").fetchone()
    assert snapshot is not None and snapshot <= store.snapshot_id(conn)
    labels = {m for (m,) in conn.execute("select commit_message from lake.snapshots() where author = 'newsmon'").fetchall()}
    assert {"models", "search index"} <= labels and any(m.startswith("load ") for m in labels) \
        and any(m.startswith("alerts ") for m in labels)
    # evidence that arrives after the alert: a later support sentence
    conn.execute("insert into stances (article_id, actor_id, topic, sentence_index, stance, score, cue, via, "
                 "sentence, published_at, load_seq) select article_id, actor_id, topic, 99, 'support', 0.9, 'cue', "
                 "'subject', 'A sentence stored after the alert.', published_at, load_seq from stances "
                 "where actor_id = 'russian-state-duma' limit 1")
    conn.close()
    monkeypatch.setenv("NEWSMON_STORAGE", "ducklake")
    db = str(settings.db_path)
    assert main(["alerts", "--db", db, "show", alert_id]) == 0
    now = capsys.readouterr().out
    assert main(["alerts", "--db", db, "show", alert_id, "--as-of"]) == 0
    then = capsys.readouterr().out
    assert "stored after the alert" in now and "stored after the alert" not in then
    assert f"raised from snapshot {snapshot} (the evidence below is as of that snapshot)" in then


def test_as_of_on_a_duckdb_file_is_a_clear_error(tmp_path, demo_site, annotator, webhook, capsys):
    settings = _demo_cycles(tmp_path, demo_site, annotator, webhook, "duckdb")
    alert_id = store.connect(settings.db_path, read_only=True).execute("select min(alert_id) from alerts").fetchone()[0]
    assert main(["alerts", "--db", str(settings.db_path), "show", alert_id, "--as-of"]) == 1
    assert "--as-of needs the ducklake backend" in capsys.readouterr().err


# --- migration ---------------------------------------------------------------------------------------

def _counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = [r[0] for r in conn.execute("select table_name from duckdb_tables() where database_name = "
                                         "current_database() and schema_name = 'main'").fetchall()]
    return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}


def test_migrate_to_ducklake_and_back(tmp_path, demo_site, annotator, webhook, capsys, monkeypatch):
    settings = _demo_cycles(tmp_path, demo_site, annotator, webhook, "duckdb")
    with store.connect(settings.db_path, read_only=True) as conn:
        before = _counts(conn)
        alerts = conn.execute("select alert_id, summary from alerts order by 1").fetchall()
    db = str(settings.db_path)
    assert main(["migrate", "--to", "ducklake", "--db", db]) == 0
    assert "row counts match" in capsys.readouterr().out
    lake = replace(settings, storage="ducklake")
    with store.open_store(lake, read_only=True) as conn:
        assert _counts(conn) == before
        assert conn.execute("select alert_id, summary from alerts order by 1").fetchall() == alerts
        assert conn.execute("select count(*) from actor_activity_daily").fetchone()[0] > 0   # a view, re-created
    # a second copy into a store that holds data is refused, and changes nothing
    assert main(["migrate", "--to", "ducklake", "--db", db]) == 3
    assert "already holds" in capsys.readouterr().err
    # the pipeline runs on the lake; then back into a new DuckDB file
    monkeypatch.setenv("NEWSMON_STORAGE", "ducklake")
    assert main(["search", "Duma peacekeepers", "--db", db, "--limit", "1"]) == 0
    assert "Duma" in capsys.readouterr().out
    monkeypatch.setenv("NEWSMON_LAKE_CATALOG", lake.lake_catalog_url)
    monkeypatch.setenv("NEWSMON_LAKE_DATA", lake.lake_data_path)
    back = tmp_path / "back.duckdb"
    assert main(["migrate", "--to", "duckdb", "--db", str(back)]) == 0
    with store.connect(back, read_only=True) as conn:
        assert _counts(conn) == before


def test_migrate_without_a_source_is_a_clear_error(tmp_path, capsys):
    assert main(["migrate", "--to", "ducklake", "--db", str(tmp_path / "none.duckdb")]) == 3
    assert "no DuckDB file at" in capsys.readouterr().err


def test_a_bad_storage_setting_is_refused(monkeypatch):
    monkeypatch.setenv("NEWSMON_STORAGE", "sqlite")
    with pytest.raises(ValueError, match="storage backend 'sqlite' is not one of duckdb, ducklake"):
        Settings.from_env()


def test_a_catalog_password_never_appears_in_messages():
    s = Settings(config_dir=ROOT, db_path=Path("x.duckdb"), data_dir=Path("."), storage="ducklake",
                 lake_catalog="postgres:dbname=lake host=db.internal password=hunter2 user=nm")
    assert "hunter2" not in s.store_name and "password=***" in s.store_name


# --- many writers and a reader at once ---------------------------------------------------------------

def _article(i: int, writer: int) -> tuple[Article, Annotation]:
    aid = f"art{i:05d}"
    domain = f"site{i % 7}.example"
    rng = random.Random(i)
    words = " ".join(rng.choice(["truce", "envoy", "border", "talks", "force", "summit", "deal", "aid"])
                     + str(rng.randrange(10_000)) for _ in range(60))
    actor = f"envoy-{i // PER_WRITER}"       # each writer's share introduces one new actor
    text = f"Envoy {i // PER_WRITER} backs the peacekeeping force. {words}"
    art = Article(aid, f"http://{domain}/{aid}", f"http://{domain}/{aid}", f"feed{writer}", domain, f"Story {i}",
                  T0 + timedelta(minutes=i), T0 + timedelta(days=1), "en", text, content_hash=aid)
    ann = Annotation(aid, topics=[TopicMention(aid, "peacekeeping", 0, "peacekeeping", text[:45])],
                     actors=[ActorMention(aid, actor, f"Envoy {i // PER_WRITER}", False, "PERSON", 0, 0,
                                          f"Envoy {i // PER_WRITER}")],
                     stances=[])
    return art, ann


def _writer(settings: Settings, writer: int, ids: list[int], out: str, start) -> None:
    """Load `ids` in batches of BATCH, each batch one transaction (a mapped load task's work)."""
    config = load_config(settings.config_dir)
    conn = store.open_store(settings)
    start.wait(timeout=120)             # all writers begin together
    started = time.perf_counter()
    for first in range(0, len(ids), BATCH):
        pairs = [_article(i, writer) for i in ids[first:first + BATCH]]
        store.load_cycle(conn, f"w{writer}", T0, [], [a for a, _ in pairs], [n for _, n in pairs], config.actors,
                         settings)
    conn.close()
    Path(out).write_text(json.dumps({"seconds": time.perf_counter() - started}))


def _reader(settings: Settings, stop: str, out: str) -> None:
    """An analyst querying in a loop: every answer consistent (no duplicates, never fewer rows)."""
    queries, errors, last = 0, [], 0
    while not Path(stop).exists():
        try:
            conn = store.open_reader(settings)
            n, distinct = conn.execute("select count(*), count(distinct article_id) from articles").fetchone()
            conn.execute("select count(*) from alerts").fetchone()
            conn.close()
            if n != distinct:
                errors.append(f"{n - distinct} duplicate articles visible")
            if n < last:
                errors.append(f"article count went back from {last} to {n}")
            last = n
            queries += 1
        except Exception as exc:  # any error is a failure of the test, reported with its text
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        time.sleep(0.05)
    Path(out).write_text(json.dumps({"queries": queries, "errors": errors}))


def _alerter(settings: Settings, stop: str, out: str) -> None:
    """Models and alerts built again and again while the writers write (as the next cycle would)."""
    from pipeline.sqlrun import run_alerts, run_models

    config = load_config(settings.config_dir)
    raised, runs = [], 0
    while not Path(stop).exists():
        conn = store.open_store(settings)
        run_models(conn, config, T0 + timedelta(days=2))
        raised += run_alerts(conn, config, f"alerter-{runs}", T0 + timedelta(days=2))
        conn.close()
        runs += 1
    Path(out).write_text(json.dumps({"runs": runs, "raised": raised}))


def _hammer(settings: Settings, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    store.open_store(settings).close()       # create the lake (the workers would race to, and retry)
    all_ids = list(range(WRITERS * PER_WRITER))
    stop = str(tmp_path / "stop")
    reader = ctx.Process(target=_reader, args=(settings, stop, str(tmp_path / "reader.json")))
    alerter = ctx.Process(target=_alerter, args=(settings, stop, str(tmp_path / "alerter.json")))
    writers = []
    start = ctx.Barrier(WRITERS)
    for w in range(WRITERS):
        mine = all_ids[w * PER_WRITER:(w + 1) * PER_WRITER]
        rest = mine[SHARED:]
        random.Random(w).shuffle(rest)
        # the first batch of each writer also carries the first SHARED articles of the next writer's
        # share, which that writer loads in its own first batch at the same moment: the same article
        # arriving through two feeds at once must still be stored once
        shared = all_ids[((w + 1) % WRITERS) * PER_WRITER:][:SHARED]
        ids = shared + mine[:SHARED] + rest
        writers.append(ctx.Process(target=_writer, args=(settings, w, ids, str(tmp_path / f"w{w}.json"), start)))
    reader.start()
    alerter.start()
    for p in writers:
        p.start()
    for p in writers:
        p.join(timeout=600)
        assert p.exitcode == 0, "a writer failed"
    Path(stop).touch()
    reader.join(timeout=60)
    alerter.join(timeout=300)
    assert reader.exitcode == 0 and alerter.exitcode == 0

    conn = store.open_store(settings)
    n, distinct, lo, hi = conn.execute("select count(*), count(distinct article_id), min(article_id), "
                                       "max(article_id) from articles").fetchone()
    assert (n, distinct) == (WRITERS * PER_WRITER, WRITERS * PER_WRITER)
    assert (lo, hi) == ("art00000", f"art{WRITERS * PER_WRITER - 1:05d}")
    assert conn.execute("select count(*) - count(distinct (article_id, start_char)) from actor_mentions").fetchone()[0] == 0
    seqs = conn.execute("select count(distinct load_seq), max(load_seq) from articles").fetchone()
    assert seqs[0] <= seqs[1]                 # load sequence numbers are unique per committed load
    reading = json.loads((tmp_path / "reader.json").read_text())
    assert reading["errors"] == [] and reading["queries"] > 0
    # no lost alert: one new-actor alert per writer's actor, each raised once, whichever run saw it
    from pipeline.sqlrun import run_alerts, run_models

    config = load_config(settings.config_dir)
    run_models(conn, config, T0 + timedelta(days=2))
    run_alerts(conn, config, "final", T0 + timedelta(days=2))
    actors = conn.execute("select actor_id, count(*) from alerts where alert_type = 'new_actor' "
                          "group by 1 order by 1").fetchall()
    assert actors == [(f"envoy-{w}", 1) for w in range(WRITERS)]
    conn.close()


@pytest.mark.slow
def test_four_writers_and_a_reader_on_a_sqlite_catalog(tmp_path):
    _hammer(lake_settings(tmp_path), tmp_path)


@pytest.mark.slow
def test_four_writers_and_a_reader_on_a_postgres_catalog(tmp_path, postgres_server):
    _hammer(lake_settings(tmp_path, postgres_server()), tmp_path)


_HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("begin exclusive")
print("locked", flush=True)
sys.stdin.readline()
db.execute("rollback")
"""


def test_a_reader_is_not_locked_out_of_a_sqlite_catalog_while_a_writer_commits(tmp_path):
    """The catalog is kept in WAL mode (an older one is switched): a committing writer holds the
    catalog's exclusive lock, which in SQLite's rollback-journal mode turned every reader away
    ("database is locked"; seen in the hammer test above under CI load)."""
    import sqlite3
    import subprocess
    import sys

    settings = lake_settings(tmp_path)
    catalog = settings.lake_catalog_url.partition(":")[2]
    store.open_store(settings).close()
    with closing(sqlite3.connect(catalog)) as db:
        assert db.execute("pragma journal_mode").fetchone() == ("wal",)
        db.execute("pragma journal_mode = delete")            # as a catalog made by an older newsmon
    store.open_store(settings).close()                        # the next writer switches it
    with closing(sqlite3.connect(catalog)) as db:
        assert db.execute("pragma journal_mode").fetchone() == ("wal",)
    # another process (file locks do not apply within one) in the middle of its commit
    writer = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, catalog], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "locked"
        conn = store.open_reader(settings)                    # the lock is held throughout
        assert conn.execute("select count(*) from articles").fetchone() == (0,)
        conn.close()
    finally:
        writer.communicate("done\n", timeout=30)
    assert writer.returncode == 0


def test_retrying_runs_a_conflicting_transaction_again_and_gives_up_on_other_errors():
    calls = []

    def conflicted():
        calls.append(1)
        if len(calls) < 3:
            raise duckdb.TransactionException("Failed to commit DuckLake transaction: conflict")
        return "done"

    assert store.retrying(conflicted, "test", sleep=lambda s: None) == "done" and len(calls) == 3
    with pytest.raises(duckdb.CatalogException):
        store.retrying(lambda: (_ for _ in ()).throw(duckdb.CatalogException("no table x")), "test",
                       sleep=lambda s: None)


def test_keys_come_from_the_schema_and_are_dropped_for_ducklake():
    keys = store.table_keys()
    assert keys["articles"] == ("article_id",)
    assert keys["stances"] == ("article_id", "actor_id", "topic", "sentence_index")
    assert keys["store_clock"] == ("name",)
    ddl = "create table t (a varchar primary key, b int,\n primary key (a, b)\n)"
    assert "primary key" not in store.without_keys(ddl).lower()


@pytest.mark.parametrize("backend", ("duckdb", "ducklake"))
def test_near_duplicates_join_the_stored_story_by_any_band(tmp_path, backend):
    """A new text within 3 bits of a stored one, whichever 16-bit band they share, joins its story;
    a distant one, or a near one in the same batch, is handled too."""
    from pipeline.dedup import assign_stories
    from tests.conftest import open_test_store

    conn = open_test_store(tmp_path, backend)
    base = 0x0123_4567_89AB_CDEF
    stored = [("s1", base, "story-1"), ("s2", 0xFFFF_0000_FFFF_0000, None)]
    for aid, h, story in stored:
        conn.execute("insert into articles (article_id, url, canonical_url, feed, source_domain, fetched_at, "
                     "extracted, story_id, simhash, load_seq) values (?, ?, ?, 'f', 'x', ?, true, ?, ?, 1)",
                     [aid, aid, aid, T0, story, h])

    def art(aid: str, h: int) -> Article:
        return Article(aid, aid, aid, "f", "x", "t", T0, T0, "en", "text", simhash=h)

    # flips in three different bands: still one shared band with s1 (and 3 bits apart)
    near = base ^ (1 << 50) ^ (1 << 33) ^ (1 << 17)
    out = {a.article_id: a.story_id for a in assign_stories(conn, [
        art("n1", near), art("n2", 0xFFFF_0000_FFFF_0001), art("n3", 0x5555_5555_5555_5555),
        art("n4", 0x5555_5555_5555_5554)])}
    assert out == {"n1": "story-1", "n2": "s2", "n3": "n3", "n4": "n3"}
    # a copy joins a story fetched within the window before it (STORY_WINDOW_DAYS), not an older one
    from pipeline.dedup import STORY_WINDOW_DAYS
    for aid, h, days in (("old", 0x0F0F_0F0F_0F0F_0F0F, STORY_WINDOW_DAYS + 1), ("recent", 0x3C3C_3C3C_3C3C_3C3C,
                                                                                    STORY_WINDOW_DAYS - 1)):
        conn.execute("insert into articles (article_id, url, canonical_url, feed, source_domain, fetched_at, "
                     "extracted, simhash, load_seq) values (?, ?, ?, 'f', 'x', ?, true, ?, 1)",
                     [aid, aid, aid, T0 - timedelta(days=days), h])
    out = {a.article_id: a.story_id for a in assign_stories(conn, [
        art("n5", 0x0F0F_0F0F_0F0F_0F0E), art("n6", 0x3C3C_3C3C_3C3C_3C3D)])}
    assert out == {"n5": "n5", "n6": "recent"}
    conn.close()


def test_a_batch_groups_its_own_copies_like_a_pairwise_comparison(tmp_path):
    """Within a batch, copies are found by band look-ups, not by comparing every pair; the result is
    the pairwise one: each article joins the story of the earliest earlier article within 3 bits."""
    from pipeline.dedup import MAX_DISTANCE, assign_stories, hamming
    from tests.conftest import open_test_store

    rng = random.Random(7)
    seeds = [rng.getrandbits(64) for _ in range(40)]
    hashes = [seed ^ sum(1 << b for b in rng.sample(range(64), rng.randrange(5)))
              for seed in (rng.choice(seeds) for _ in range(400))]
    arts = [Article(f"b{i}", f"b{i}", f"b{i}", "f", "x", "t", T0, T0, "en", "text", simhash=h)
            for i, h in enumerate(hashes)]
    expected: list[str] = []
    for i, h in enumerate(hashes):
        earlier = [j for j in range(i) if hamming(hashes[j], h) <= MAX_DISTANCE]
        expected.append(expected[earlier[0]] if earlier else f"b{i}")
    conn = open_test_store(tmp_path, "duckdb")
    assert [a.story_id for a in assign_stories(conn, arts)] == expected
    assert len(set(expected)) < 400 - 100        # the case has plenty of copies
    conn.close()


@pytest.mark.parametrize("backend", ("duckdb", "ducklake"))
def test_an_article_stored_before_keeps_its_mentions_and_a_batch_repeat_is_stored_once(tmp_path, backend):
    """Mentions and stances go in only with their article's first load (no per-row key check): a
    later load of the same article adds none, and a mention listed twice in a batch is stored once."""
    from tests.conftest import open_test_store

    conn = open_test_store(tmp_path, backend)
    settings = Settings(config_dir=ROOT / "config", db_path=tmp_path / "n.duckdb", data_dir=tmp_path,
                        storage=backend)
    actors = load_config(ROOT / "config").actors
    art, ann = _article(1, 0)
    twice = replace(ann, actors=ann.actors * 2)
    first = store.load_cycle(conn, "c1", T0, [], [art], [twice], actors, settings)
    other = replace(ann, actors=[replace(ann.actors[0], actor_id="someone-else", start_char=99)])
    again = store.load_cycle(conn, "c2", T0, [], [art], [other], actors, settings)
    assert (first.new_articles, first.actor_mentions, first.topic_mentions) == (1, 1, 1)
    assert (again.new_articles, again.actor_mentions, again.topic_mentions) == (0, 0, 0)
    assert conn.execute("select article_id, actor_id, load_seq from actor_mentions").fetchall() == [
        ("art00001", "envoy-0", 1)]
    assert conn.execute("select count(*) from topic_mentions").fetchone()[0] == 1
    conn.close()


@pytest.mark.parametrize("backend", ("duckdb", "ducklake"))
def test_print_attach_opens_the_same_data_in_a_plain_duckdb(tmp_path, backend, capsys, monkeypatch):
    """What analysts paste into their own DuckDB: extension files from this install, the store
    read-only, and the search macro works there."""
    settings = Settings(config_dir=ROOT / "config", db_path=tmp_path / "n.duckdb", data_dir=tmp_path, storage=backend)
    conn = store.open_store(settings)
    conn.execute("insert into cycles (cycle_id, started_at) values ('c1', now())")
    conn.close()
    monkeypatch.setenv("NEWSMON_STORAGE", backend)
    assert main(["sql", "--print-attach", "--db", str(settings.db_path)]) == 0
    statements = capsys.readouterr().out
    plain = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    for statement in statements.strip().splitlines():
        plain.execute(statement)
    assert plain.execute("select cycle_id from cycles").fetchall() == [("c1",)]
    plain.close()
