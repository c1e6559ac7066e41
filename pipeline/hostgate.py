"""Politeness: at most N requests in flight per host and a minimum gap between requests to one host."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator


class HostGate:
    def __init__(self, per_host: int = 2, min_gap: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.per_host, self.min_gap = max(1, per_host), max(0.0, min_gap)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._lock:
            sem = self._slots.setdefault(host, threading.BoundedSemaphore(self.per_host))
        with sem:
            with self._lock:  # reserve a start time at least min_gap after the previous one
                now = self._clock()
                start = max(now, self._next_start.get(host, now))
                self._next_start[host] = start + self.min_gap
            if start > now:
                self._sleep(start - now)
            yield
