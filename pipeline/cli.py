"""The `newsmon` command: thin wrappers over the pipeline functions."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipeline.config import ConfigError, load_config
from pipeline.settings import Settings


def _fail(message: str, code: int = 2) -> int:
    print(f"newsmon: error: {message}", file=sys.stderr)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.cycle import CycleBusy, run_cycle
    from pipeline.store import StoreError
    from pipeline.summary import format_summary

    try:
        settings = Settings.from_env(args.config, args.db)
        config = load_config(settings.config_dir)
    except (ConfigError, ValueError) as exc:
        return _fail(f"config: {exc}")
    from pipeline.nlp import Annotator

    try:
        annotator = Annotator.build(config, settings.spacy_model)
        summary = run_cycle(config, settings, annotator, all_feeds=args.all)
    except (StoreError, CycleBusy) as exc:
        return _fail(str(exc), 3)
    print(format_summary(summary))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo.run import run_demo

    settings = Settings.from_env()
    try:
        run_demo(settings.data_dir, base_config=Path(args.config) if args.config else None)
    except ConfigError as exc:
        return _fail(f"config: {exc}")
    return 0


def _open_read(args: argparse.Namespace):
    from pipeline.store import connect

    settings = Settings.from_env(None, args.db)
    return connect(settings.db_path, read_only=True)


def cmd_alerts(args: argparse.Namespace) -> int:
    from pipeline.store import StoreError
    from pipeline.summary import format_alert

    try:
        conn = _open_read(args)
    except StoreError as exc:
        return _fail(str(exc), 3)
    cur = conn.execute("select * from alerts order by detected_at desc, occurred_at desc limit ?", [args.limit])
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    for row in rows:
        state = f"sent {row['sent_at']:%Y-%m-%d %H:%M}" if row["sent_at"] else "pending"
        print(f"{row['alert_id']}  {row['detected_at']:%Y-%m-%d %H:%M}  {state}")
        print(format_alert(row))
    if not rows:
        print("no alerts")
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    from pipeline.store import StoreError

    try:
        conn = _open_read(args)
    except StoreError as exc:
        return _fail(str(exc), 3)
    rows = conn.execute("""select feed, last_status, last_success_at, consecutive_failures, articles_total, last_error
                           from feeds order by feed""").fetchall()
    print(f"{'feed':28} {'status':13} {'last success':17} {'fails':>5} {'articles':>8}  last error")
    for feed, status, ok_at, fails, total, error in rows:
        ok = f"{ok_at:%Y-%m-%d %H:%M}" if ok_at else "never"
        print(f"{feed:28} {status or '-':13} {ok:17} {fails:>5} {total:>8}  {error or ''}")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from pipeline.store import StoreError

    try:
        conn = _open_read(args)
    except StoreError as exc:
        return _fail(str(exc), 3)
    try:
        conn.sql(args.query).show(max_rows=args.max_rows, max_width=200)
    except duckdb.Error as exc:
        return _fail(str(exc).splitlines()[0], 1)
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
    demo = sub.add_parser("demo", help="serve the bundled demo news site on loopback and run the pipeline over it")
    demo.add_argument("--config", help="take alerts.yaml (channels) from this folder too")
    demo.set_defaults(func=cmd_demo)
    alerts = sub.add_parser("alerts", help="list the latest alerts")
    alerts.add_argument("--db", help="DuckDB file")
    alerts.add_argument("--limit", type=int, default=20)
    alerts.set_defaults(func=cmd_alerts)
    feeds = sub.add_parser("feeds", help="list feeds with status, last success and last error")
    feeds.add_argument("--db", help="DuckDB file")
    feeds.set_defaults(func=cmd_feeds)
    sql = sub.add_parser("sql", help="run a read-only SQL query against the database")
    sql.add_argument("query")
    sql.add_argument("--db", help="DuckDB file")
    sql.add_argument("--max-rows", type=int, default=50)
    sql.set_defaults(func=cmd_sql)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
