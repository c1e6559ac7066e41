"""The `newsmon` command: thin wrappers over the pipeline functions."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from pipeline.config import ConfigError, load_config
from pipeline.settings import Settings


def _fail(message: str, code: int = 2) -> int:
    print(f"newsmon: error: {message}", file=sys.stderr)
    return code


def _pipeline(args: argparse.Namespace):
    """Settings, config and an annotator for the commands that run cycles. spaCy loads on the first
    batch annotated in this process (once for all cycles of `watch`); a big batch goes to worker
    processes and a cycle with nothing new to none."""
    from pipeline.nlp import LazyAnnotator

    settings = Settings.from_env(args.config, args.db)
    config = load_config(settings.config_dir)
    return settings, config, LazyAnnotator(config, settings.spacy_model)


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.cycle import CycleBusy, run_cycle
    from pipeline.store import StoreError
    from pipeline.summary import format_summary

    try:
        settings, config, annotator = _pipeline(args)
    except ValueError as exc:        # a malformed NEWSMON_* setting
        return _fail(f"config: {exc}")
    try:
        summary = run_cycle(config, settings, annotator, all_feeds=args.all, one_shot=True)
    except (StoreError, CycleBusy) as exc:
        return _fail(str(exc), 3)
    print(format_summary(summary))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    import threading

    from pipeline.store import StoreError
    from pipeline.watch import stop_on_signals, watch

    try:
        settings, config, annotator = _pipeline(args)     # spaCy loads once, for every cycle
    except ValueError as exc:        # a malformed NEWSMON_* setting
        return _fail(f"config: {exc}")
    stop = threading.Event()
    stop_on_signals(stop)

    def report(summary) -> None:
        if summary.feeds_polled or summary.alerts_raised:
            print(f"{summary.cycle_id}: {summary.feeds_polled} feeds polled ({summary.feeds_failed} failed), "
                  f"{summary.new_articles} new articles, {len(summary.alerts_raised)} alerts raised, "
                  f"{summary.alerts_sent} sent", flush=True)

    try:
        stats = watch(config, settings, annotator, args.min_gap, args.max_sleep, args.max_cycles, report, stop)
    except StoreError as exc:
        return _fail(str(exc), 3)
    print(f"watch ended after {stats.cycles} cycle(s): {stats.new_articles} new articles, {stats.alerts} alerts")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo.run import run_demo

    settings = Settings.from_env()
    run_demo(settings.data_dir, base_config=Path(args.config) if args.config else None)
    return 0


def _open_read(args: argparse.Namespace):
    """Analysts' commands read the published read copy unless --db names a file (on the ducklake
    backend: the lake itself, read-only)."""
    from pipeline.store import open_reader

    return open_reader(Settings.from_env(None, args.db), live=bool(args.db))


def _when(text: str) -> datetime:
    """A date or date-time from the command line (UTC)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or date-time: {text!r} (use 2026-02-20 or 2026-02-20T08:00)")


def cmd_alerts(args: argparse.Namespace) -> int:
    from pipeline.store import StoreError

    if args.alerts_command == "test":
        return cmd_alerts_test(args)
    if args.alerts_command == "ack":
        return cmd_alerts_ack(args)
    try:
        conn = _open_read(args)
    except StoreError as exc:
        return _fail(str(exc), 3)
    if args.alerts_command == "show":
        return cmd_alerts_show(conn, args.alert_id, Settings.from_env(None, args.db) if args.as_of else None)
    from pipeline.review import list_alerts
    from pipeline.summary import format_alert

    rows = list_alerts(conn, args.since, args.type, args.severity, args.limit)
    for row in rows:
        state = f"sent {row['sent_at']:%Y-%m-%d %H:%M}" if row["sent_at"] else "pending"
        acked = f", acked by {row['acked_by'] or '?'}" if row["acked_at"] else ""
        print(f"{row['alert_id']}  {row['detected_at']:%Y-%m-%d %H:%M}  {row.get('severity') or 'info':8} {state}{acked}")
        print(format_alert(row))
    if not rows:
        print("no alerts")
    return 0


def cmd_alerts_show(conn, alert_id: str, as_of: Settings | None = None) -> int:
    """One alert; with `as_of` (the ducklake backend), its evidence query runs on the snapshot the
    alert was raised from: the data as the rule saw it, whatever arrived since."""
    import duckdb

    from pipeline.review import deliveries, describe, evidence_rows, get_alert
    from pipeline.store import StoreError, open_store

    alert = get_alert(conn, alert_id)
    if alert is None:
        return _fail(f"no alert {alert_id}", 1)
    if as_of is not None:
        if alert.get("snapshot_id") is None:
            return _fail(f"alert {alert_id} records no snapshot: --as-of needs the ducklake backend "
                         "(NEWSMON_STORAGE=ducklake), where every cycle is a snapshot", 1)
        try:
            evidence_conn = open_store(as_of, snapshot=int(alert["snapshot_id"]))
        except StoreError as exc:
            return _fail(str(exc), 3)
    else:
        evidence_conn = conn
    a = describe(alert)
    print(f"{a['alert_id']}  {a['alert_type']}  severity {a.get('severity') or 'info'}")
    print(f"  {a['summary']}")
    print(f"  actor {a.get('actor_name') or '-'} ({a.get('actor_id') or '-'}), topic {a.get('topic') or '-'}"
          f"{', feed ' + a['feed'] if a.get('feed') else ''}")
    print(f"  occurred {a['occurred_at']}, detected {a['detected_at']} in cycle {a.get('cycle_id')}")
    for key, value in (a.get("details") or {}).items():
        print(f"    {key}: {value}")
    print("  evidence:")
    for item in a.get("evidence") or []:
        side = f"[{item['side']}/{item.get('stance')}] " if item.get("side") else ""
        print(f"    {side}\"{item.get('sentence')}\"")
        print(f"      {item.get('title') or ''} ({item.get('source_domain')}, {str(item.get('published_at'))[:10]}) "
              f"{item.get('url')}")
    for d in deliveries(conn, alert_id):
        print(f"  delivery {d['channel']}: {d['status']} after {d['attempts']} attempt(s)"
              f"{', ' + d['last_error'] if d['last_error'] else ''}")
    if a.get("acked_at"):
        print(f"  acknowledged {a['acked_at']} by {a.get('acked_by') or '?'}{': ' + a['note'] if a.get('note') else ''}")
    if a.get("snapshot_id") is not None:
        print(f"  raised from snapshot {a['snapshot_id']}"
              + (" (the evidence below is as of that snapshot)" if as_of is not None else
                 " (--as-of shows the evidence as it was then)"))
    if a.get("evidence_query"):
        print(f"  full evidence: {a['evidence_query']}")
        try:
            cols, rows = evidence_rows(evidence_conn, a, limit=10)
        except duckdb.Error as exc:
            print(f"    (query failed: {str(exc).splitlines()[0]})")
            return 0
        keep = [i for i, c in enumerate(cols) if c in ("event_at", "day", "source_domain", "stance", "stories",
                                                       "sentence", "url", "status", "last_topic_article_at")]
        for row in rows:
            print("    " + " | ".join(str(row[i])[:120] for i in keep))
    return 0


def cmd_alerts_ack(args: argparse.Namespace) -> int:
    from pipeline.cycle import CycleBusy
    from pipeline.publish import publish
    from pipeline.review import ack_alert
    from pipeline.store import StoreError

    settings = Settings.from_env(None, args.db)
    try:
        found = ack_alert(settings, args.alert_id, args.by or os.environ.get("USER"), args.note,
                          datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0))
    except (StoreError, CycleBusy) as exc:
        return _fail(str(exc), 3)
    if not found:
        return _fail(f"no alert {args.alert_id}", 1)
    if settings.storage == "duckdb":
        publish(settings.db_path)
    print(f"acknowledged {args.alert_id}")
    return 0


def cmd_alerts_test(args: argparse.Namespace) -> int:
    import socket

    from pipeline.notify import mask_url
    from pipeline.review import test_channel

    config = load_config(Settings.from_env(args.config).config_dir)
    channel = next((c for c in config.channels if c.name == args.channel), None)
    if channel is None:
        names = ", ".join(c.name for c in config.channels) or "none configured (or their variables are unset)"
        return _fail(f"no channel {args.channel!r}; channels: {names}")
    result = test_channel(channel, socket.gethostname())
    if result.ok:
        print(f"test message sent to {channel.name} ({mask_url(channel.url)})")
        return 0
    return _fail(f"{channel.name} ({mask_url(channel.url)}): {result.error}", 1)


def cmd_backtest(args: argparse.Namespace) -> int:
    from pipeline.publish import read_copy_path
    from pipeline.review import backtest

    from pipeline.store import StoreError

    settings = Settings.from_env(args.config, args.db)
    config = load_config(settings.config_dir)
    start, end = args.from_.date(), args.to.date()
    if end < start:
        return _fail("--to is before --from")
    if settings.storage == "duckdb":
        source = str(settings.db_path if args.db else read_copy_path(settings.db_path))
        if not Path(source).exists():
            return _fail(f"database {source} does not exist", 3)
    else:
        source = settings.store_name
    try:
        fired = backtest(settings, config, start, end, live=bool(args.db))
    except StoreError as exc:
        return _fail(str(exc), 3)
    for f in fired:
        a = f.alert
        print(f"{f.day}  [{a['alert_type']}/{a.get('severity') or 'info'}] {a['summary']}")
    counts: dict[str, int] = {}
    for f in fired:
        counts[f.alert["alert_type"]] = counts.get(f.alert["alert_type"], 0) + 1
    summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "nothing"
    print(f"{(end - start).days + 1} days replayed from {source}: {summary} would have fired (nothing was sent)")
    return 0


FEEDS_SQL = """
    select f.feed,
           case when f.unhealthy then 'UNHEALTHY' else coalesce(f.last_status, '-') end as status,
           f.last_success_at, f.next_poll_at, f.consecutive_failures,
           round(coalesce(r.recent, 0) / 7.0, 1) as items_per_day, f.articles_total, f.last_error
    from feeds f
    left join (select feed, count(*) as recent from articles
               where fetched_at >= (select max(fetched_at) from articles) - interval 7 day group by feed) r
      using (feed)
    order by f.unhealthy desc, f.feed
"""


def cmd_feeds(args: argparse.Namespace) -> int:
    if args.feeds_command == "import":
        return cmd_feeds_import(args)
    if args.feeds_command == "export":
        return cmd_feeds_export(args)
    from pipeline.store import StoreError

    try:
        conn = _open_read(args)
    except StoreError as exc:
        return _fail(str(exc), 3)
    rows = conn.execute(FEEDS_SQL).fetchall()
    print(f"{'feed':26} {'status':12} {'last success':16} {'next poll':16} {'fails':>5} {'items/day':>9}  last error")
    for feed, status, ok_at, next_at, fails, per_day, _total, error in rows:
        ok = f"{ok_at:%Y-%m-%d %H:%M}" if ok_at else "never"
        nxt = f"{next_at:%Y-%m-%d %H:%M}" if next_at else "now"
        print(f"{feed:26} {status:12} {ok:16} {nxt:16} {fails:>5} {per_day:>9}  {error or ''}")
    return 0


def cmd_feeds_import(args: argparse.Namespace) -> int:
    from pipeline.opml import feeds_file, import_opml

    settings = Settings.from_env(args.config)
    try:
        existing = load_config(settings.config_dir).feeds if (settings.config_dir / "feeds.yaml").exists() else ()
        report = import_opml(Path(args.file), feeds_file(settings.config_dir), existing)
    except (ConfigError, ValueError, OSError) as exc:
        return _fail(f"import: {exc}")
    for name, url in report.added:
        print(f"added   {name:30} {url}")
    for what, why in report.skipped:
        print(f"skipped {what}: {why}")
    print(f"{len(report.added)} feed(s) added to {settings.config_dir / 'feeds.yaml'}, {len(report.skipped)} skipped")
    return 0


def cmd_feeds_export(args: argparse.Namespace) -> int:
    from pipeline.opml import export_opml

    config = load_config(Settings.from_env(args.config).config_dir)
    text = export_opml(config.feeds)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.publish import read_copy_path
    from pipeline.report import ReportError, build_report

    from pipeline.store import StoreError

    settings = Settings.from_env(None, args.db)
    source = settings.db_path if args.db else read_copy_path(settings.db_path)
    if settings.storage == "duckdb" and not source.is_file():
        return _fail(f"no database at {source}: run a cycle first (newsmon run), or name a file with --db")
    out = Path(args.out) if args.out else settings.data_dir / "report"
    try:
        report = build_report(settings, out, live=bool(args.db))
    except ReportError as exc:
        return _fail(f"report: {exc}")
    except StoreError as exc:
        return _fail(str(exc), 3)
    print(f"report: {report.path} (cycle {report.cycle_id or 'none'}; "
          + ", ".join(f"{v} {k}" for k, v in report.counts.items()) + ")")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from pipeline.store import StoreError

    if args.print_attach:
        print(analyst_session_sql(Settings.from_env(None, args.db), live=bool(args.db)))
        return 0
    if not args.query:
        return _fail("sql: give a query, e.g. newsmon sql \"select * from alerts\"")
    try:
        conn = _open_read(args)
    except StoreError as exc:
        return _fail(str(exc), 3)
    try:
        from pipeline.search import load_extension

        load_extension(conn)       # search_articles(...) works here as in the docs
        conn.sql(args.query).show(max_rows=args.max_rows, max_width=200)
    except duckdb.Error as exc:
        return _fail(str(exc).splitlines()[0], 1)
    return 0


def analyst_session_sql(settings: Settings, live: bool = False) -> str:
    """The statements that open what `newsmon sql` reads in the analyst's own DuckDB: the extension
    files from this installation (nothing to download), then the store, read-only."""
    from pipeline.publish import read_copy_path
    from pipeline.store import attach_lake_sql, extension_file, lake_extensions, sql_string

    names = (lake_extensions(settings) if settings.storage == "ducklake" else []) + ["fts"]
    lines = [f"LOAD {sql_string(str(extension_file(n)))};" for n in names]
    if settings.storage == "ducklake":
        lines += [attach_lake_sql(settings, read_only=True).replace("attach ", "ATTACH ", 1) + ";", "USE lake;"]
    else:
        path = settings.db_path if live else read_copy_path(settings.db_path)
        lines += [f"ATTACH {sql_string(str(path.resolve()))} AS newsmon (READ_ONLY);", "USE newsmon;"]
    return "\n".join(lines)


def cmd_search(args: argparse.Namespace) -> int:
    from pipeline.search import SearchError, extension_path, search
    from pipeline.store import StoreError

    if args.extension_path:
        print(extension_path())
        return 0
    if not args.query:
        return _fail("search: give a query, e.g. newsmon search \"peacekeepers Duma\"")
    try:
        conn = _open_read(args)
    except StoreError as exc:
        return _fail(str(exc), 3)
    try:
        hits = search(conn, args.query, args.limit, args.topic, args.since)
    except SearchError as exc:
        return _fail(f"search: {exc}")
    if not hits:
        print("no article matches")
    for i, h in enumerate(hits, 1):
        print(f"{i:>3}. [{h.score:.2f}] {h.title or h.url}")
        print(f"     {h.source_domain or ''} {str(h.published_at or '')[:16]}  {h.url}")
        print(f"     {h.snippet}")
    return 0


def cmd_actors(args: argparse.Namespace) -> int:
    from pipeline.candidates import list_candidates, promote
    from pipeline.store import StoreError

    settings = Settings.from_env(args.config, args.db)
    config = load_config(settings.config_dir)
    try:
        conn = _open_read(args)
    except StoreError as exc:
        return _fail(str(exc), 3)
    if args.actors_command == "promote":
        try:
            done = promote(conn, settings.config_dir, args.actor_id, args.name, args.type, args.alias, args.wikidata)
        except ValueError as exc:
            return _fail(str(exc))
        print(f"registered {done.actor_id} ({done.name}, {done.kind}) in {done.path}; "
              f"aliases: {', '.join(done.aliases) or '-'}. The next cycle tags it as a known actor.")
        return 0
    rows = list_candidates(conn, [a.id for a in config.actors], args.min_sources, args.limit)
    if not rows:
        print("no candidate actors")
    for r in rows:
        print(f"{r.actor_id}  {r.actor_name} [{r.entity_label}]  {r.mentions} mentions, {r.articles} articles, "
              f"{r.sources} sources, {r.stories} stories; first seen {r.first_seen_at:%Y-%m-%d %H:%M} at {r.first_url}")
        print(f"    sources: {', '.join(r.source_list)}")
        for sentence in r.sample_sentences:
            print(f"    > {sentence}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from pipeline.evaluate import GOLD_PATH, evaluate
    from pipeline.nlp import Annotator

    if args.errors and args.split == "test":
        return _fail("the test split is frozen: its scores are shown, its errors are not (use --split dev)")
    settings = Settings.from_env(args.config)
    config = load_config(settings.config_dir)
    gold = Path(args.gold) if args.gold else GOLD_PATH
    if not gold.is_file():
        return _fail(f"gold set {gold} not found (it ships in the repository's tests/eval/; use --gold FILE)")
    annotator = Annotator.build(config, settings.spacy_model)
    if args.full:
        annotator = replace(annotator, selective=False)
    try:
        report = evaluate(annotator, args.split, gold)
    except ValueError as exc:
        return _fail(str(exc))
    print(report.text())
    if args.errors:
        print("\n".join(report.errors))
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:
    from pipeline.airflow_launcher import run_standalone

    settings = Settings.from_env()
    config = args.config or os.environ.get("NEWSMON_CONFIG")
    try:
        if config:
            load_config(config)
        return run_standalone(settings.data_dir, Path(config) if config else None, args.port,
                              continuous=args.continuous)
    except RuntimeError as exc:
        return _fail(str(exc))


def cmd_migrate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from pipeline.cycle import CycleBusy, cycle_lock
    from pipeline.migrate import MigrateError, copy_store
    from pipeline.store import StoreError

    settings = Settings.from_env(None, args.db)
    source = replace(settings, storage="duckdb" if args.to == "ducklake" else "ducklake")
    target = replace(settings, storage=args.to)
    try:
        with cycle_lock(settings.db_path):
            counts = copy_store(source, target)
    except (MigrateError, StoreError, CycleBusy) as exc:
        return _fail(f"migrate: {exc}", 3)
    total = sum(counts.values())
    print(f"copied {len(counts)} tables, {total:,} rows, from {source.store_name} to {target.store_name} "
          "(row counts match)")
    print(f"run the pipeline on it with NEWSMON_STORAGE={args.to}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsmon", description="Monitor news feeds for new actors and stance changes.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one cycle: poll, fetch, extract, annotate, load, models, alerts, notify")
    run.add_argument("--config", help="config folder (default $NEWSMON_CONFIG or ./config)")
    run.add_argument("--db", help="DuckDB file (default $NEWSMON_DB or data/newsmon.duckdb)")
    run.add_argument("--all", action="store_true", help="poll every feed now, not only the ones that are due")
    run.set_defaults(func=cmd_run)
    wt = sub.add_parser("watch", help="run cycles continuously, polling feeds as they fall due (Ctrl-C stops "
                                      "after the current cycle)")
    wt.add_argument("--config", help="config folder (default $NEWSMON_CONFIG or ./config)")
    wt.add_argument("--db", help="DuckDB file (default $NEWSMON_DB or data/newsmon.duckdb)")
    wt.add_argument("--min-gap", type=float, default=5.0, help="seconds between two cycles at least (default 5)")
    wt.add_argument("--max-sleep", type=float, default=60.0, help="seconds between two cycles at most (default 60)")
    wt.add_argument("--max-cycles", type=int, help="stop after this many cycles")
    wt.set_defaults(func=cmd_watch)
    demo = sub.add_parser("demo", help="serve the bundled demo news site on loopback and run the pipeline over it")
    demo.add_argument("--config", help="take alerts.yaml (channels) from this folder too")
    demo.set_defaults(func=cmd_demo)
    alerts = sub.add_parser("alerts", help="list, show, acknowledge alerts; send a test message to a channel")
    alerts.add_argument("--db", help="DuckDB file")
    alerts.add_argument("--config", help="config folder (for test)")
    alerts.set_defaults(func=cmd_alerts, alerts_command="list", since=None, type=None, severity=None, limit=20)
    alerts_sub = alerts.add_subparsers(dest="alerts_command")
    al = alerts_sub.add_parser("list", help="the latest alerts (default)")
    al.add_argument("--since", type=_when, help="detected at or after (2026-02-20 or 2026-02-20T08:00)")
    al.add_argument("--type", choices=["new_actor", "stance_change", "volume_spike", "source_silent"])
    al.add_argument("--severity", choices=["info", "warning", "critical"])
    al.add_argument("--limit", type=int, default=20)
    ash = alerts_sub.add_parser("show", help="one alert with its evidence, deliveries and evidence query")
    ash.add_argument("alert_id")
    ash.add_argument("--as-of", action="store_true",
                     help="run the evidence query on the snapshot the alert was raised from (ducklake backend)")
    ack = alerts_sub.add_parser("ack", help="acknowledge an alert (written to the live database)")
    ack.add_argument("alert_id")
    ack.add_argument("--by", help="who (default $USER)")
    ack.add_argument("--note")
    at = alerts_sub.add_parser("test", help="send a test message to a configured channel")
    at.add_argument("channel")
    bt = sub.add_parser("backtest", help="replay stored history day by day through the alert rules, without sending")
    bt.add_argument("--from", dest="from_", type=_when, required=True)
    bt.add_argument("--to", type=_when, required=True)
    bt.add_argument("--db", help="DuckDB file (default: the read copy)")
    bt.add_argument("--config", help="config folder whose rules to replay (tune thresholds here)")
    bt.set_defaults(func=cmd_backtest)
    feeds = sub.add_parser("feeds", help="list feeds (status, last success, next poll, items/day, last error); "
                                         "import/export OPML")
    feeds.add_argument("--db", help="DuckDB file")
    feeds.add_argument("--config", help="config folder (for import/export)")
    feeds.set_defaults(func=cmd_feeds, feeds_command="list")
    feeds_sub = feeds.add_subparsers(dest="feeds_command")
    feeds_sub.add_parser("list", help="every feed with its health (default)")
    imp = feeds_sub.add_parser("import", help="append the feeds of an OPML file to feeds.yaml")
    imp.add_argument("file")
    exp = feeds_sub.add_parser("export", help="write the configured feeds as OPML")
    exp.add_argument("--out", help="file to write (default: stdout)")
    af = sub.add_parser("airflow", help="run `airflow standalone` on 127.0.0.1 with these DAGs "
                                       "(the demo site as feeds unless --config or NEWSMON_CONFIG is given)")
    af.add_argument("--config", help="real config folder (default: the demo site)")
    af.add_argument("--port", type=int, default=8080)
    af.add_argument("--continuous", action="store_true",
                    help="run news_monitor_continuous (@continuous, lowest latency) instead of the 5-minute DAG")
    af.set_defaults(func=cmd_airflow)
    actors = sub.add_parser("actors", help="the candidate review queue: list unregistered actors, promote one")
    actors.add_argument("--db", help="DuckDB file")
    actors.add_argument("--config", help="config folder whose actors.yaml is the registry")
    actors.set_defaults(func=cmd_actors, actors_command="candidates", min_sources=1, limit=50)
    actors_sub = actors.add_subparsers(dest="actors_command")
    cands = actors_sub.add_parser("candidates", help="unregistered actors with counts, sources, first seen, samples")
    cands.add_argument("--min-sources", type=int, default=1, help="only those seen in at least N sources")
    cands.add_argument("--limit", type=int, default=50)
    prom = actors_sub.add_parser("promote", help="write a candidate into actors.yaml")
    prom.add_argument("actor_id")
    prom.add_argument("--name", help="canonical name (default: the name seen most)")
    prom.add_argument("--type", choices=["person", "government", "legislature", "country", "organization", "party",
                                         "military", "media", "other"])
    prom.add_argument("--alias", action="append", default=[], help="another spelling (repeatable)")
    prom.add_argument("--wikidata", help="Wikidata id, e.g. Q1234")
    ev = sub.add_parser("eval", help="score the annotator on the gold set (precision/recall/F1)")
    ev.add_argument("--split", choices=["dev", "test", "all"], default="test")
    ev.add_argument("--errors", action="store_true", help="list every miss (dev or all only)")
    ev.add_argument("--full", action="store_true", help="parse every sentence (the slow reference)")
    ev.add_argument("--gold", help="gold file (default tests/eval/gold.jsonl)")
    ev.add_argument("--config", help="config folder")
    ev.set_defaults(func=cmd_eval)
    se = sub.add_parser("search", help="full-text search (BM25) over article titles and text, with snippets")
    se.add_argument("query", nargs="?", help='words to look for, e.g. "peacekeepers Duma"')
    se.add_argument("--topic", help="only articles that mention this topic")
    se.add_argument("--since", type=_when, help="only articles published at or after (2026-02-20)")
    se.add_argument("--limit", type=int, default=10)
    se.add_argument("--db", help="DuckDB file (default: the published read copy)")
    se.add_argument("--extension-path", action="store_true",
                    help="print the path of the fts extension file, for LOAD in your own DuckDB")
    se.set_defaults(func=cmd_search)
    rp = sub.add_parser("report", help="write the analyst report: one self-contained HTML page (SVG charts, "
                                       "works offline) from the read copy")
    rp.add_argument("--db", help="DuckDB file (default: the published read copy)")
    rp.add_argument("--out", help="folder to write report.html into (default $NEWSMON_DATA_DIR/report)")
    rp.set_defaults(func=cmd_report)
    mg = sub.add_parser("migrate", help="copy every table from one storage backend to the other "
                                        "(row counts checked): --to ducklake, or --to duckdb to come back")
    mg.add_argument("--to", required=True, choices=["ducklake", "duckdb"])
    mg.add_argument("--db", help="the DuckDB file (default $NEWSMON_DB or data/newsmon.duckdb)")
    mg.set_defaults(func=cmd_migrate)
    sql = sub.add_parser("sql", help="run a read-only SQL query against the database")
    sql.add_argument("query", nargs="?")
    sql.add_argument("--db", help="DuckDB file")
    sql.add_argument("--print-attach", action="store_true",
                     help="print the LOAD/ATTACH statements that open the same data in your own DuckDB")
    sql.add_argument("--max-rows", type=int, default=50)
    sql.set_defaults(func=cmd_sql)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ConfigError as exc:      # every command: one line naming file, key and problem; exit 2
        return _fail(f"config: {exc}")


if __name__ == "__main__":
    sys.exit(main())
