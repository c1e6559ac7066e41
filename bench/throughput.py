"""Throughput benchmark: `newsmon run` end to end over a cold local site of real-size news pages.

    .venv/bin/python bench/throughput.py [--feeds 40] [--items 50] [--runs 3] [--check]

A local site (its own process, loopback) serves `--feeds` RSS feeds of `--items` items each; every
article page is distinct (~30 KB of HTML, ~900 words; one sentence slot in ten on topic). The bench

1. measures the ceiling the raw libraries set on these pages, both cores busy: trafilatura.extract
   in one process per core, then newsmon's annotate stage (spaCy, one process per core, model loads
   included, exactly as `newsmon run` calls it) over the extracted texts;
2. runs the real CLI, `newsmon run`, as a subprocess on a fresh database, timing it from process
   start to exit, sampling the resident memory of its whole process tree (spaCy workers included)
   and printing its per-stage breakdown (poll, fetch+extract, annotate, load, models, alerts,
   notify, publish; "startup" is imports, config and the process itself).

Steps 1 and 2 alternate (`--runs` runs, a ceiling before the first and after each): each run is
compared with the mean of the ceilings on either side of it, and the verdict is on the median run.
This shared machine drifts by several percent within minutes, which one run against one ceiling
cannot tell from a change in newsmon.

Targets (issue 7): >= 500 articles/min, >= 80% of the ceiling, peak RSS < 1.5 GB (median run);
--check exits non-zero when one is missed.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sitegen import serve  # noqa: E402


def _extract(html: bytes) -> str:
    import trafilatura

    return trafilatura.extract(html, fast=True, include_comments=False) or ""


class TreeRss:
    """Peak resident memory of a process and all its descendants, summed, sampled every 50 ms; and
    the CPU seconds each of them used (last sample)."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.root, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self.cpu: dict[int, tuple[str, float]] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                        times = p.cpu_times()
                        self.cpu[p.pid] = (" ".join(p.cmdline()[-2:])[-60:], times.user + times.system)
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            self._stop.wait(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def ceiling(pages: list[bytes], cores: int, config) -> tuple[float, float, float]:
    """Seconds for raw extract (cores processes) and for the annotate stage over the texts."""
    from pipeline.nlp import annotate_in_processes
    from pipeline.records import Article

    ctx = mp.get_context("spawn")
    with ctx.Pool(cores) as pool:
        pool.map(_extract, pages[: cores * 2])              # imports done before the clock starts
        t = time.perf_counter()
        texts = pool.map(_extract, pages, chunksize=8)
        extract_s = time.perf_counter() - t
    now = datetime.now(timezone.utc)
    arts = [Article(f"a{i}", f"http://x/{i}", f"http://x/{i}", "f", "x", f"Story {i}", now, now, "en", text)
            for i, text in enumerate(texts)]
    t = time.perf_counter()
    annotate_in_processes(arts, config, cores)
    annotate_s = time.perf_counter() - t
    return extract_s, annotate_s, sum(len(x.split()) for x in texts) / len(texts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=40)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3, help="newsmon runs, each between two ceilings")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    import urllib3

    from pipeline.config import load_config
    from pipeline.settings import PROJECT_ROOT

    n = args.feeds * args.items
    cores = os.cpu_count() or 1
    ctx = mp.get_context("spawn")
    ready, port = ctx.Event(), ctx.Value("i", 0)
    site = ctx.Process(target=serve, args=("127.0.0.1", args.items, ready, port, n), daemon=True)
    site.start()
    import psutil

    site_proc = psutil.Process(site.pid)
    ready.wait(300)
    base = f"http://127.0.0.1:{port.value}"
    with urllib3.PoolManager() as client:
        pages = [client.request('GET', f"{base}/a/{i}.html").data for i in range(n)]
    print(f"site: {args.feeds} feeds x {args.items} items = {n} distinct pages, "
          f"mean {sum(map(len, pages)) / n / 1024:.1f} KB HTML")

    config = load_config(PROJECT_ROOT / "config")

    def measure_ceiling(when: str) -> float:
        extract_s, annotate_s, words = ceiling(pages, cores, config)
        print(f"raw ceiling ({when}), {cores} cores: trafilatura.extract {n / extract_s:.0f} pages/s, annotate stage "
              f"{n / annotate_s:.1f} articles/s (model loads included; {words:.0f} words/article) -> "
              f"{n / (extract_s + annotate_s) * 60:,.0f} articles/min", flush=True)
        return extract_s + annotate_s

    work = Path(tempfile.mkdtemp(prefix="newsmon-throughput-"))
    cfg = work / "config"
    cfg.mkdir()
    for name in ("actors.yaml", "topics.yaml", "stance.yaml", "alerts.yaml"):
        (cfg / name).write_text((ROOT / "config" / name).read_text())
    (cfg / "feeds.yaml").write_text("feeds:\n" + "".join(
        f"  - {{name: bench{i}, url: '{base}/feed/{i}.xml'}}\n" for i in range(args.feeds)))

    def one_run(i: int) -> dict:
        """`newsmon run` on a fresh database: every page is new to it."""
        db = work / f"run{i}" / "newsmon.duckdb"
        db.parent.mkdir()
        env = {**os.environ, "NEWSMON_CONFIG": str(cfg), "NEWSMON_DB": str(db), "NEWSMON_DATA_DIR": str(db.parent),
               "NEWSMON_ALLOW_PRIVATE_NETWORKS": "1", "NEWSMON_HOST_MIN_GAP": "0",
               "NEWSMON_PER_HOST_LIMIT": "16", "NEWSMON_FETCH_WORKERS": "16"}   # one local host plays many sites
        site_cpu = sum(site_proc.cpu_times()[:2])
        t = time.perf_counter()
        proc = subprocess.Popen([str(Path(sys.executable).with_name("newsmon")), "run"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        rss = TreeRss(proc.pid)
        out, _ = proc.communicate()
        wall = time.perf_counter() - t
        peak = rss.stop()
        if proc.returncode != 0:
            print(out)
            raise SystemExit(f"newsmon run failed with exit code {proc.returncode}")
        stages = dict((k, float(v)) for k, v in re.findall(r"(\w+) (\d+\.\d+)", out.split("stages (")[1].split("\n")[0]))
        main_cpu = rss.cpu.pop(proc.pid, ("", 0.0))[1]
        return {"wall": wall, "peak": peak, "stored": int(re.search(r"new articles (\d+)", out).group(1)),
                "stages": {"startup": wall - sum(stages.values()), **stages}, "main_cpu": main_cpu,
                "worker_cpu": sorted((c for _, c in rss.cpu.values()), reverse=True),
                "site_cpu": sum(site_proc.cpu_times()[:2]) - site_cpu}

    ceilings, runs = [measure_ceiling("before run 1")], []
    for i in range(args.runs):
        runs.append(one_run(i))
        ceilings.append(measure_ceiling(f"after run {i + 1}"))
    site.terminate()

    ratios = []
    for i, r in enumerate(runs):
        wall, rate = r["wall"], r["stored"] / r["wall"] * 60
        ceil_rate = n / ((ceilings[i] + ceilings[i + 1]) / 2) * 60
        ratios.append(rate / ceil_rate)
        print(f"run {i + 1}: newsmon run stored {r['stored']} articles in {wall:.1f} s = {rate:,.0f} articles/min "
              f"({ratios[-1]:.2f} of the raw ceiling around it, {ceil_rate:,.0f}/min); "
              f"peak RSS of the process tree {r['peak'] / 2**20:,.0f} MB")
        print("  stages: " + ", ".join(f"{k} {v:.1f} s ({v / wall:.0%})" for k, v in r["stages"].items()))
        print(f"  CPU seconds: newsmon main process {r['main_cpu']:.1f}, its worker processes "
              f"{sum(r['worker_cpu']):.1f} ({', '.join(f'{c:.1f}' for c in r['worker_cpu'])}), "
              f"the local site {r['site_cpu']:.1f} "
              f"(of {wall * cores:.0f} available on {cores} cores; a remote site costs none of ours)")
    ratio = statistics.median(ratios)
    rate = statistics.median(r["stored"] / r["wall"] * 60 for r in runs)
    peak = max(r["peak"] for r in runs)
    print(f"median of {len(runs)} runs: {rate:,.0f} articles/min, {ratio:.2f} of the raw ceiling "
          f"(runs: {', '.join(f'{x:.2f}' for x in ratios)}); highest peak RSS {peak / 2**20:,.0f} MB")
    missed = []
    if rate < 500:
        missed.append(f"{rate:.0f} articles/min < 500")
    if ratio < 0.8:
        missed.append("below 80% of the raw ceiling")
    if peak >= 1.5 * 2**30:
        missed.append("peak RSS >= 1.5 GB")
    lost = [n - r["stored"] for r in runs if r["stored"] != n]
    if lost:
        missed.append(f"{max(lost)} of {n} articles not stored in a run")
    print("MISSED: " + "; ".join(missed) if missed else "targets met")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
