"""The router's operational figures: counters (``maker_timeout_count``, refusals, redeliveries,
unknown outcomes) and the intent→venue-ack latency summary (``router_p95``).

Latency is a wall-clock measure of the process, not domain time, so it uses a monotonic timer
the shell injects; nothing here feeds a decision."""

from __future__ import annotations

import math
from collections import Counter, deque


class Latency:
    """The last ``window`` samples (ms) and their quantiles (nearest rank)."""

    def __init__(self, window: int = 10_000) -> None:
        self.samples: deque[float] = deque(maxlen=window)
        self.count = 0

    def add(self, ms: float) -> None:
        self.samples.append(ms)
        self.count += 1

    def quantile(self, q: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return ordered[rank]


class RouterMetrics:
    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.ack_ms = Latency()

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    @property
    def maker_timeout_count(self) -> int:
        return self.counters["maker_timeout_count"]

    @property
    def router_p95(self) -> float | None:
        return self.ack_ms.quantile(0.95)

    def snapshot(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = dict(self.counters)
        out["router_p50"] = self.ack_ms.quantile(0.50)
        out["router_p95"] = self.ack_ms.quantile(0.95)
        out["router_p99"] = self.ack_ms.quantile(0.99)
        out["router_acks"] = self.ack_ms.count
        return out
