"""Worker process pools that are safe wherever newsmon runs (CLI, tests, Airflow task processes)."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import types
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Callable

_NO_MAIN = types.ModuleType("__main__")
_MAIN_SWAP = threading.Lock()     # submit() may be called from many threads at once


# the math libraries under numpy, spaCy and thinc: each worker is one thread (one worker per core)
ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _start_worker(initializer: Callable[..., Any] | None, *initargs: Any) -> None:
    """Set up a worker, then run its own initializer.

    - Its math libraries run one thread each (ONE_THREAD; a value set by the user is kept). numpy's
      OpenBLAS starts a helper thread per core by default, and a spaCy worker then took 8% more
      CPU for the same articles: 150 articles annotated in 1.88-1.97 CPU-s with one thread,
      2.05-2.10 without. This must happen before numpy is loaded, so here, before the initializer
      (a spaCy worker loads numpy there; the extraction workers, which use no BLAS, load it earlier).
    - It runs under Linux's SCHED_BATCH policy: it is CPU-bound and never waits for a person, so
      the kernel may let it run longer before switching to another process. Paired runs of
      `newsmon run` on 2,000 articles took 22.60/22.73/22.52 s with it, 22.94/22.88/22.84 s without.
    """
    for name in ONE_THREAD:
        os.environ.setdefault(name, "1")
    if hasattr(os, "sched_setscheduler"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:        # not allowed here: the default policy is only a little slower
            pass
    if initializer is not None:
        initializer(*initargs)


def spawn_pool(workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A spawned (not forked: threads may be running) process pool of batch-scheduled workers."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(initializer, *initargs))


def submit(pool: Executor, fn: Callable[..., Any], *args: Any) -> Future:
    """pool.submit, without the children re-running the parent's __main__ script.

    Workers are spawned inside submit(). A spawned child re-runs the parent's __main__ unless told
    otherwise; under Airflow that script is the `airflow` CLI, which fails in the child. Our worker
    functions live in importable modules, so the children need no __main__.
    """
    with _MAIN_SWAP:
        saved = sys.modules["__main__"]
        sys.modules["__main__"] = _NO_MAIN
        try:
            return pool.submit(fn, *args)
        finally:
            sys.modules["__main__"] = saved


def kill_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now, busy or not (a worker stuck in C code ignores everything else)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def stop_session(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM a process started with `start_new_session=True` and everything in its session (an
    Airflow standalone's scheduler, API server, workers...); SIGKILL what is left after `grace` s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
