"""Worker pools (pipeline.spawn): spawned, batch-scheduled, initialised once per worker."""
from __future__ import annotations

import os

import pytest

from pipeline.spawn import spawn_pool, submit

_SEEN: list[str] = []


def _remember(tag: str) -> None:
    _SEEN.append(tag)


def _report() -> tuple[int, list[str]]:
    return os.sched_getscheduler(0), list(_SEEN)


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="Linux scheduling policies")
def test_workers_run_batch_scheduled_after_their_own_initializer():
    pool = spawn_pool(1, _remember, ("initialised",))
    try:
        policy, seen = submit(pool, _report).result(timeout=60)
    finally:
        pool.shutdown()
    assert policy == os.SCHED_BATCH and seen == ["initialised"]
    assert os.sched_getscheduler(0) != os.SCHED_BATCH        # the caller keeps its own policy


def _load_numpy() -> None:
    import numpy  # noqa: F401   (loads OpenBLAS, which starts its threads now)


def _threads_and_setting() -> tuple[int, str | None]:
    return len(os.listdir("/proc/self/task")), os.environ.get("OPENBLAS_NUM_THREADS")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux /proc")
def test_workers_math_libraries_run_one_thread(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    pool = spawn_pool(1, _load_numpy)
    try:
        threads, setting = submit(pool, _threads_and_setting).result(timeout=60)
    finally:
        pool.shutdown()
    # OpenBLAS would start a helper thread per extra core; the worker is a single thread
    assert (threads, setting) == (1, "1")
    assert "OPENBLAS_NUM_THREADS" not in os.environ          # the caller's environment is untouched


def test_a_thread_count_the_user_set_is_kept(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    pool = spawn_pool(1)
    try:
        _threads, setting = submit(pool, _threads_and_setting).result(timeout=60)
    finally:
        pool.shutdown()
    assert setting == "3"
