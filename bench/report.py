"""Report benchmark: how long `newsmon report` takes on a big database.

    .venv/bin/python bench/report.py [--articles 1000000] [--repeat 3] [--check]

Fills a database with `--articles` articles of history (bench/models.py's generator: 10 actor
mentions per article, topic mentions, stances; 1,000 feeds), builds every model and raises the
alerts once, then times `build_report` on that file opened read-only, as the CLI and the DAG do.
Target (issue 8): < 10 s at 1M articles; --check exits non-zero when missed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.flatcost import prepare  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    from pipeline.config import load_config
    from pipeline.report import build_report
    from pipeline.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="newsmon-report-"))
    t = time.perf_counter()
    prepare(folder, args.articles, datetime.now(timezone.utc).replace(microsecond=0), load_config(ROOT / "config"))
    db = folder / "newsmon.duckdb"
    print(f"{args.articles:,} articles generated and built in {time.perf_counter() - t:.0f} s "
          f"({db.stat().st_size / 2**20:,.0f} MB)")
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        report = build_report(Settings.from_env(None, db), folder / "report", live=True)
        times.append(time.perf_counter() - t)
    took = statistics.median(times)
    print(f"report: {took:.2f} s median (runs {', '.join(f'{x:.2f}' for x in times)}); page "
          f"{report.path.stat().st_size / 1024:,.0f} KB; rows shown: "
          + ", ".join(f"{v} {k}" for k, v in report.counts.items()))
    missed = took >= 10
    print("MISSED: report >= 10 s" if missed else "target met (< 10 s)")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
