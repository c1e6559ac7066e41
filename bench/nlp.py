"""NLP benchmark: our annotate stage vs a plain full-pipeline spaCy pass over the same articles.

    .venv/bin/python bench/nlp.py [--articles 200] [--topic-share 0.1] [--check]

Prints articles/s for (1) plain `nlp.pipe` with every component of en_core_web_sm, (2) our annotate
stage (light pass everywhere, full parse of topic sentences), (3) our stage parsing every sentence,
then both cores (two processes each), the gold-set scores of (2) and (3), and peak RSS. --check
exits non-zero when a target is missed: (2) >= 5x (1), and gold scores of (2) within 1 point of (3).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.nlpcorpus import build_articles  # noqa: E402


def _articles(texts: list[str]):
    from pipeline.records import Article

    when = datetime(2026, 3, 1, tzinfo=timezone.utc)
    return [Article(f"b{i}", f"https://bench.invalid/{i}", f"https://bench.invalid/{i}", "bench", "bench.invalid",
                    f"Story {i}", when, when, "en", t) for i, t in enumerate(texts)]


def _annotator(selective: bool):
    import logging

    logging.disable(logging.WARNING)
    from pipeline.config import load_config
    from pipeline.nlp import Annotator
    from pipeline.settings import PROJECT_ROOT

    return Annotator.build(load_config(PROJECT_ROOT / "config"), selective=selective)


def _worker_ours(args: tuple[list[str], bool]) -> tuple[int, float]:
    texts, selective = args
    ann = _annotator(selective)
    ann.annotate(_articles(texts[:4]))
    t = time.perf_counter()
    ann.annotate(_articles(texts))
    return len(texts), time.perf_counter() - t


def _worker_plain(texts: list[str]) -> tuple[int, float]:
    from pipeline.nlp import load_model

    nlp = load_model()
    list(nlp.pipe(texts[:4]))
    t = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=32):
        pass
    return len(texts), time.perf_counter() - t


def _rate(fn, *args) -> float:
    t = time.perf_counter()
    n = fn(*args)
    return n / (time.perf_counter() - t)


def _two_processes(target, halves) -> float:
    """Articles/s with two processes working at once (model load excluded: each times its own pass)."""
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(target, halves)
    return sum(n for n, _ in results) / max(dt for _, dt in results)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=200)
    ap.add_argument("--topic-share", type=float, default=0.1)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    from pipeline.evaluate import evaluate, load_gold
    from pipeline.nlp import load_model

    topic_sentences = [g.text for g in load_gold() if g.topics]
    texts = build_articles(topic_sentences, args.articles, topic_share=args.topic_share)
    ours = _annotator(True)
    full = replace(ours, selective=False)
    tokens = sum(len(d) for d in ours.nlp.tokenizer.pipe(texts))
    light_sents = sum(1 for d in ours.nlp.pipe(texts, disable=[p for p in ours.nlp.pipe_names if p != "senter"])
                      for _ in d.sents)
    print(f"{len(texts)} articles, {tokens / len(texts):.0f} tokens each on average, "
          f"{light_sents} sentences, target topic share {args.topic_share:.0%}")

    plain = load_model()
    list(plain.pipe(texts[:4]))
    ours.annotate(_articles(texts[:4]))
    plain_rate = _rate(lambda: sum(1 for _ in plain.pipe(texts, batch_size=32)))
    arts = _articles(texts)
    anns: list = []
    ours_rate = _rate(lambda: len(anns.extend(ours.annotate(arts)) or anns))
    parsed = sum(len({t.sentence_index for t in a.topics}) for a in anns)
    full_rate = _rate(lambda: len(full.annotate(arts)))
    print(f"plain en_core_web_sm nlp.pipe (all components): {plain_rate:6.1f} articles/s")
    print(f"newsmon annotate, selective (default):          {ours_rate:6.1f} articles/s  "
          f"= {ours_rate / plain_rate:.1f}x plain  ({parsed} of {light_sents} sentences mention a topic)")
    print(f"newsmon annotate, every sentence parsed:         {full_rate:6.1f} articles/s  = {full_rate / plain_rate:.1f}x plain")

    half = len(texts) // 2
    halves = [texts[:half], texts[half:]]
    plain2 = _two_processes(_worker_plain, halves)
    ours2 = _two_processes(_worker_ours, [(h, True) for h in halves])
    print(f"both cores (2 processes): plain {plain2:.1f} articles/s, newsmon {ours2:.1f} articles/s "
          f"= {ours2 / plain2:.1f}x")

    fast_scores = {s: evaluate(ours, s).scores() for s in ("dev", "test")}
    full_scores = {s: evaluate(full, s).scores() for s in ("dev", "test")}
    worst = 0.0
    for split in ("dev", "test"):
        for key, value in fast_scores[split].items():
            ref = full_scores[split][key]
            worst = max(worst, ref - value)
            print(f"gold {split:4} {key:20} selective {value:.3f}   every sentence {ref:.3f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (spaCy x2 loaded): {peak:.0f} MB")

    missed = []
    if ours_rate < 5 * plain_rate:
        missed.append(f"selective annotate {ours_rate / plain_rate:.1f}x plain < 5x")
    if worst > 0.01:
        missed.append(f"gold scores drop {worst:.3f} > 0.01 against parsing every sentence")
    print("MISSED: " + "; ".join(missed) if missed else "all targets met")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
