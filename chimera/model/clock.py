"""Clocks. Domain code takes a clock and never reads the wall clock itself (DESIGN §1.2)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class LiveClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class TestClock:
    """A clock moved by hand (or by event time during replays)."""

    __test__ = False  # not a pytest class

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, ts_ms: int) -> None:
        if ts_ms < self._now:
            raise ValueError(f"time cannot go backwards: {ts_ms} < {self._now}")
        self._now = ts_ms

    def advance(self, ms: int) -> None:
        self.set(self._now + ms)
