"""The router's view of one instrument's market: best levels and the last trade.

Fed by the same market events S1 publishes (``mkt.spot`` / ``mkt.perp``). A trade prunes levels it
proves stale (no bid above a print, no ask below it), as SimVenue does, so the mid recorded at
send is the mid the venue sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from chimera.model import Side
from topics.trading import BookTop

Level = tuple[Decimal, Decimal]  # (price, qty), best first
TOP_LEVELS = 3  # what ``fills.top3_*`` keep


@dataclass(frozen=True, slots=True)
class Book:
    ts: int = 0
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    last: Decimal | None = None

    def on_trade(self, ts: int, price: Decimal) -> Book:
        bids = (
            self.bids
            if not self.bids or self.bids[0][0] <= price
            else tuple(b for b in self.bids if b[0] <= price)
        )
        asks = (
            self.asks
            if not self.asks or self.asks[0][0] >= price
            else tuple(a for a in self.asks if a[0] >= price)
        )
        return Book(max(ts, self.ts), bids, asks, price)

    def on_levels(self, ts: int, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> Book:
        return Book(
            max(ts, self.ts),
            tuple(sorted(bids, key=lambda lv: -lv[0])),
            tuple(sorted(asks, key=lambda lv: lv[0])),
            self.last,
        )

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    def best(self, side: Side) -> Decimal | None:
        """The best price on our own side: the bid for a buy, the ask for a sell (where a maker rests)."""
        return self.best_bid if side is Side.BUY else self.best_ask

    @property
    def mid(self) -> Decimal | None:
        """Mid of the best levels; the last trade when a side is missing (bar data has no book)."""
        if self.bids and self.asks:
            return (self.bids[0][0] + self.asks[0][0]) / 2
        return self.last

    def top(self, n: int = TOP_LEVELS) -> BookTop | None:
        if not self.bids and not self.asks:
            return None
        return BookTop(
            bid_px=[p for p, _ in self.bids[:n]],
            bid_qty=[q for _, q in self.bids[:n]],
            ask_px=[p for p, _ in self.asks[:n]],
            ask_qty=[q for _, q in self.asks[:n]],
        )
