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


def spawn_pool(workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A spawned (not forked: threads may be running) process pool."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=initializer, initargs=initargs)


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
