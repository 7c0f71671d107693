"""USDT-M perpetual positions: one-way, isolated margin, average entry, realised PnL, liquidation.

Isolated margin of a position sits in the FUT wallet's locked USDT. Entry prices and amounts are
kept to 8 decimals (half-even), like the venue's own bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from agents.connectors.port import Position
from agents.connectors.simvenue.wallets import ZERO, Wallets, money
from chimera.model import Market, Symbol, round_to_step

PRICE_STEP = Decimal("0.00000001")


@dataclass(slots=True)
class SimPosition:
    symbol: Symbol
    leverage: int
    qty: Decimal = ZERO  # signed: >0 long, <0 short
    entry: Decimal = ZERO
    margin: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    liquidation: Decimal | None = None

    def view(self, mark: Decimal | None) -> Position:
        mark = self.entry if mark is None else mark
        return Position(
            symbol=self.symbol,
            qty=self.qty,
            entry_price=self.entry,
            mark_price=mark,
            unrealized_pnl=money((mark - self.entry) * self.qty),
            liquidation_price=self.liquidation,
            leverage=self.leverage,
            margin=self.margin,
        )


def liquidation_price(entry: Decimal, qty: Decimal, leverage: int, mmr: Decimal, tick: Decimal) -> Decimal:
    """Isolated liquidation price, rounded to the tick on the side that liquidates earlier.

    long: entry·(1 − 1/lev + mmr); short: entry·(1 + 1/lev − mmr).
    """
    inv = Decimal(1) / Decimal(leverage)
    if qty > 0:
        return round_to_step(entry * (1 - inv + mmr), tick, "up")
    return round_to_step(entry * (1 + inv - mmr), tick, "down")


class PositionBook:
    def __init__(self, wallets: Wallets, mmr: Decimal, quote: str = "USDT") -> None:
        self._wallets = wallets
        self._mmr = mmr
        self._quote = quote
        self.positions: dict[Symbol, SimPosition] = {}

    def get(self, symbol: Symbol, leverage: int) -> SimPosition:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = SimPosition(symbol, leverage)
        return pos

    def qty(self, symbol: Symbol) -> Decimal:
        pos = self.positions.get(symbol)
        return ZERO if pos is None else pos.qty

    def open_margin(self, price: Decimal, qty: Decimal, leverage: int) -> Decimal:
        return money(price * qty / leverage)

    def apply_fill(self, pos: SimPosition, signed_qty: Decimal, price: Decimal, tick: Decimal) -> Decimal:
        """Apply a fill to the position and wallet; return the realised PnL (before fees)."""
        realised = ZERO
        if pos.qty and (pos.qty > 0) != (signed_qty > 0):
            closing = min(abs(signed_qty), abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            realised = money((price - pos.entry) * closing * direction)
            release = pos.margin if closing == abs(pos.qty) else money(pos.margin * closing / abs(pos.qty))
            self._wallets.unlock(Market.FUT, self._quote, release)
            self._wallets.add_free(Market.FUT, self._quote, realised)
            pos.margin -= release
            pos.qty -= closing * direction
            pos.realized_pnl += realised
            signed_qty += closing * direction
            if pos.qty == 0:
                pos.entry, pos.liquidation = ZERO, None
        if signed_qty:
            add = self.open_margin(price, abs(signed_qty), pos.leverage)
            # checked by the exchange before the fill; forced here so a fill is never half-applied
            self._wallets.unlock(Market.FUT, self._quote, -add)
            new_qty = pos.qty + signed_qty
            pos.entry = ((pos.entry * abs(pos.qty) + price * abs(signed_qty)) / abs(new_qty)).quantize(
                PRICE_STEP, rounding=ROUND_HALF_EVEN
            )
            pos.qty = new_qty
            pos.margin += add
        if pos.qty:
            pos.liquidation = liquidation_price(pos.entry, pos.qty, pos.leverage, self._mmr, tick)
        return realised

    def liquidate(self, pos: SimPosition) -> tuple[Decimal, Decimal]:
        """Close the position at its liquidation price; its isolated margin is lost.

        Return (price, qty closed, unsigned).
        """
        assert pos.liquidation is not None
        price, qty = pos.liquidation, abs(pos.qty)
        self._wallets.burn_locked(Market.FUT, self._quote, pos.margin)
        pos.realized_pnl -= pos.margin
        pos.qty, pos.entry, pos.margin, pos.liquidation = ZERO, ZERO, ZERO, None
        return price, qty

    def pay_funding(self, amount: Decimal) -> None:
        """Funding goes to or from the FUT wallet's free balance (not the isolated margin)."""
        self._wallets.add_free(Market.FUT, self._quote, amount)

    def crossed_liquidation(self, pos: SimPosition, mark: Decimal) -> bool:
        if pos.liquidation is None or not pos.qty:
            return False
        return mark <= pos.liquidation if pos.qty > 0 else mark >= pos.liquidation
