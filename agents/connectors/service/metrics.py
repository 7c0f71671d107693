"""S1's metrics (pure): ``s1.mkt_throughput`` and ``s1.ws_rtt``, as :class:`MetricEvent` records.

Both are cut into tumbling windows of ``interval_ms`` aligned to multiples of it, on whatever
clock the caller passes as ``now_ms``: event time in a replay (so a replay's metrics are the same
on every run), the wall clock live. A window is reported when ``now_ms`` reaches its end.

- ``s1.mkt_throughput``: ticks/s and batches/s per market over the window
  (tags ``market``, ``unit`` = ``ticks/s`` | ``batches/s``, ``window_ms``); value = count /
  window seconds, so value · window_ms / 1000 is the count. A quiet window reports 0; after a gap
  of several empty windows (a replay crossing a weekend) only the first one is reported, not one
  zero per window of the gap.
- ``s1.ws_rtt`` (timer, ms; tags ``method``, ``source``, ``stat`` = ``p50`` | ``max``):
  ``method=lag`` is receipt time on our clock minus the venue's event time ``ts`` of each event: one
  way latency plus the venue's own delay plus clock offset (can be negative with skew);
  ``method=ping`` is a websocket control-frame ping → pong round trip (``ccxt_source.ping_rtt``),
  the true RTT. ccxt.pro itself pings Binance only every 180 s and keeps no send time
  (``Client.lastPong`` is the receipt time of the last pong), so the probe sends its own ping.
- ``s1.mkt_out_of_order`` (counter; tags ``market``, ``action``): ticks re-stamped or dropped by
  the aligner in the window, reported only when non-zero.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from chimera.model import Market
from topics.ops import MetricEvent

SERVICE = "connectors"
UNITS = ("ticks/s", "batches/s")


class _Windows:
    """Tumbling windows aligned to multiples of ``interval_ms``."""

    def __init__(self, interval_ms: int) -> None:
        if interval_ms < 1:
            raise ValueError("interval_ms must be >= 1")
        self.interval_ms = interval_ms
        self.end: int | None = None  # end of the open window

    def start(self, now_ms: int) -> None:
        if self.end is None:
            self.end = now_ms - now_ms % self.interval_ms + self.interval_ms

    def closed(self, now_ms: int) -> list[int]:
        """The ends of the windows closed by ``now_ms``: the open one, plus the first empty one
        after it when ``now_ms`` skipped whole windows; then the window of ``now_ms`` opens."""
        if self.end is None or now_ms < self.end:
            return []
        ends = [self.end]
        if now_ms >= self.end + self.interval_ms:
            ends.append(self.end + self.interval_ms)
        self.end = now_ms - now_ms % self.interval_ms + self.interval_ms
        return ends


class ThroughputMeter:
    def __init__(self, interval_ms: int, service: str = SERVICE) -> None:
        self.windows = _Windows(interval_ms)
        self.service = service
        self._ticks: Counter[Market] = Counter()
        self._batches: Counter[Market] = Counter()
        self._markets: set[Market] = set()

    def count(self, market: Market, ticks: int, now_ms: int) -> None:
        """One batch of ``ticks`` published at ``now_ms`` (call :meth:`due` first)."""
        self.windows.start(now_ms)
        self._markets.add(market)
        self._ticks[market] += ticks
        self._batches[market] += 1

    def due(self, now_ms: int) -> list[MetricEvent]:
        out: list[MetricEvent] = []
        seconds = self.windows.interval_ms / 1000.0
        window = str(self.windows.interval_ms)
        for end in self.windows.closed(now_ms):
            for market in sorted(self._markets):
                for unit, counts in zip(UNITS, (self._ticks, self._batches), strict=True):
                    out.append(
                        MetricEvent(
                            service=self.service,
                            name="s1.mkt_throughput",
                            value=counts[market] / seconds,
                            kind="gauge",
                            tags={"market": market.value, "unit": unit, "window_ms": window},
                            ts=end,
                        )
                    )
            self._ticks.clear()
            self._batches.clear()
        return out


def _p50(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]  # the lower median: a value that was measured


class LatencyMeter:
    """``s1.ws_rtt`` samples per (method, source); p50 and max per window that had samples."""

    def __init__(self, interval_ms: int, service: str = SERVICE) -> None:
        self.windows = _Windows(interval_ms)
        self.service = service
        self._samples: defaultdict[tuple[str, str], list[float]] = defaultdict(list)

    def sample(self, method: str, source: str, ms: float, now_ms: int) -> None:
        if not math.isfinite(ms):
            return
        self.windows.start(now_ms)
        self._samples[(method, source)].append(ms)

    def due(self, now_ms: int) -> list[MetricEvent]:
        ends = self.windows.closed(now_ms)
        if not ends:
            return []
        out = []
        for (method, source), values in sorted(self._samples.items()):
            for stat, value in (("p50", _p50(values)), ("max", max(values))):
                tags = {"method": method, "source": source, "stat": stat}
                out.append(
                    MetricEvent(
                        service=self.service,
                        name="s1.ws_rtt",
                        value=value,
                        kind="timer",
                        tags=tags,
                        ts=ends[0],
                    )
                )
        self._samples.clear()
        return out


class OutOfOrderMeter:
    """Re-stamped and dropped ticks per market and window (reported only when there were some)."""

    def __init__(self, interval_ms: int, service: str = SERVICE) -> None:
        self.windows = _Windows(interval_ms)
        self.service = service
        self._counts: Counter[tuple[Market, str]] = Counter()

    def count(self, market: Market, action: str, now_ms: int) -> None:
        self.windows.start(now_ms)
        self._counts[(market, action)] += 1

    def due(self, now_ms: int) -> list[MetricEvent]:
        ends = self.windows.closed(now_ms)
        if not ends:
            return []
        out = [
            MetricEvent(
                service=self.service,
                name="s1.mkt_out_of_order",
                value=float(n),
                kind="counter",
                tags={"market": market.value, "action": action},
                ts=ends[0],
            )
            for (market, action), n in sorted(self._counts.items())
        ]
        self._counts.clear()
        return out
