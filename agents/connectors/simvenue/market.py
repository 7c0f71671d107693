"""What the paper exchange knows of one instrument's market: last trade, book, mark price.

Taking liquidity walks the book's levels and consumes them, so two orders in the same instant do
not both fill against the same size; the next quote replaces the book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from chimera.model import Side, round_to_step

Level = tuple[Decimal, Decimal]  # (price, qty)


@dataclass(slots=True)
class MarketState:
    last: Decimal | None = None
    bids: list[Level] = field(default_factory=list)  # best first
    asks: list[Level] = field(default_factory=list)
    mark: Decimal | None = None
    mark_feed: bool = False  # once mark-price events arrive, only they move the mark

    def set_book(self, bids: list[Level], asks: list[Level]) -> None:
        self.bids = sorted(bids, key=lambda lv: -lv[0])
        self.asks = sorted(asks, key=lambda lv: lv[0])
        if not self.mark_feed and self.bids and self.asks:
            self.mark = (self.bids[0][0] + self.asks[0][0]) / 2

    def on_trade(self, price: Decimal) -> None:
        """A print at ``price`` proves no bid above it and no ask below it is left: drop them, so a
        stale book never fills an order at a price the market has already left."""
        self.last = price
        if self.bids and self.bids[0][0] > price:
            self.bids = [lv for lv in self.bids if lv[0] <= price]
        if self.asks and self.asks[0][0] < price:
            self.asks = [lv for lv in self.asks if lv[0] >= price]
        if not self.mark_feed:
            self.mark = price

    def on_mark(self, mark: Decimal) -> None:
        self.mark_feed = True
        self.mark = mark

    def best(self, side: Side) -> Decimal | None:
        """Best price an order on ``side`` would take: the ask for a buy, the bid for a sell."""
        levels = self.asks if side is Side.BUY else self.bids
        return levels[0][0] if levels else None

    def would_take(self, side: Side, price: Decimal) -> bool:
        """Would a limit at ``price`` cross the book (or, with no book, the last trade)?"""
        ref = self.best(side)
        if ref is None:
            ref = self.last
        if ref is None:
            return False
        return price >= ref if side is Side.BUY else price <= ref

    def take(
        self, side: Side, qty: Decimal, limit: Decimal | None, slippage: Decimal, tick: Decimal
    ) -> list[Level]:
        """Return the (price, qty) fills of a taker order, consuming the book.

        Without a book on that side the order fills at the last trade moved against it by
        ``slippage``; a limit never fills beyond its price, and what it cannot fill is left.
        """
        levels = self.asks if side is Side.BUY else self.bids
        fills: list[Level] = []
        left = qty
        worst: Decimal | None = None
        while left > 0 and levels:
            price, size = levels[0]
            if limit is not None and (price > limit if side is Side.BUY else price < limit):
                return fills
            take = min(left, size)
            fills.append((price, take))
            left -= take
            worst = price
            if take == size:
                levels.pop(0)
            else:
                levels[0] = (price, size - take)
        if left <= 0:
            return fills
        ref = worst if worst is not None else self.last
        if ref is None:
            return fills
        price = self._slipped(side, ref, slippage, tick)
        if limit is not None:
            if (side is Side.BUY and ref > limit) or (side is Side.SELL and ref < limit):
                return fills
            price = min(price, limit) if side is Side.BUY else max(price, limit)
        fills.append((price, left))
        return fills

    @staticmethod
    def _slipped(side: Side, ref: Decimal, slippage: Decimal, tick: Decimal) -> Decimal:
        if side is Side.BUY:
            return round_to_step(ref * (1 + slippage), tick, "up")
        return round_to_step(ref * (1 - slippage), tick, "down")

    def taker_reference(self, side: Side) -> Decimal | None:
        """Price used to size a market order before it runs (book top, else last trade)."""
        best = self.best(side)
        return best if best is not None else self.last
