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
