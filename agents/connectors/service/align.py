"""Time alignment of one merged stream of ticks (pure: no clock, no broker).

Several websocket streams (trades, books, marks) feed one symbol; each is in order on its own,
but merged they interleave with a few ms of jitter, and a reconnect can hand back an old frame.
The micro-batcher needs each (market, symbol)'s event time to never go back, so a tick older than
the last one seen is either *re-stamped* to the last time (late by at most ``tolerance_ms``:
jitter, the tick is still current) or *dropped* (later than that: stale data must not move prices
in the past of what S2 already computed on). A tick stamped further than ``max_ahead_ms`` past
the receipt clock is dropped too: one bad stamp would otherwise make every later tick "late".
Every decision is counted, so S11 sees it (DESIGN §1.6: never dropped silently).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Literal

from agents.connectors.marketdata import MarketEvent
from chimera.model import Market

Verdict = Literal["ok", "restamped", "dropped_late", "dropped_ahead"]
Key = tuple[Market, str]


@dataclass(slots=True)
class AlignCounts:
    """Counts per (verdict, market); ``total(verdict)`` sums the markets."""

    by: Counter[tuple[Verdict, Market]] = field(default_factory=Counter)

    def total(self, verdict: Verdict) -> int:
        return sum(n for (v, _), n in self.by.items() if v == verdict)


class Aligner:
    """Keep each (market, symbol)'s event time monotonic; see the module docstring."""

    def __init__(self, tolerance_ms: int, max_ahead_ms: int | None = None) -> None:
        if tolerance_ms < 0 or (max_ahead_ms is not None and max_ahead_ms < 0):
            raise ValueError("tolerance_ms and max_ahead_ms must be >= 0")
        self.tolerance_ms = tolerance_ms
        self.max_ahead_ms = max_ahead_ms
        self.counts = AlignCounts()
        self._last: dict[Key, int] = {}

    def last_ts(self, market: Market, symbol: str) -> int | None:
        return self._last.get((market, symbol))

    def check(self, ev: MarketEvent, received_ms: int | None = None) -> tuple[Verdict, MarketEvent | None]:
        """Return the verdict and the event to batch (None when dropped).

        ``received_ms`` is the receipt time on our clock (live); None in replay, where event time
        is the only clock and nothing can be "ahead".
        """
        key = (ev.market, ev.symbol)
        verdict: Verdict
        out: MarketEvent | None
        ahead = self.max_ahead_ms
        if ahead is not None and received_ms is not None and ev.ts > received_ms + ahead:
            verdict, out = "dropped_ahead", None
        else:
            last = self._last.get(key)
            if last is None or ev.ts >= last:
                self._last[key] = ev.ts
                verdict, out = "ok", ev
            elif last - ev.ts <= self.tolerance_ms:
                verdict, out = "restamped", replace(ev, ts=last)
            else:
                verdict, out = "dropped_late", None
        self.counts.by[(verdict, ev.market)] += 1
        return verdict, out
