"""Prices and sizes on the venue's grid: maker prices, worst prices, lots.

A maker buy rests at the best bid rounded *down* to the tick (a sell at the ask rounded up), so a
post-only order never crosses because of rounding; a worst price from a slippage budget rounds
inside the budget.
"""

from __future__ import annotations

from decimal import Decimal

from agents.connectors.port import Instrument
from agents.router.book import Book
from chimera.model import Side, round_to_step

BPS = Decimal(10_000)


def maker_price(side: Side, book: Book, inst: Instrument, limit: Decimal | None = None) -> Decimal | None:
    """Where a post-only order joins the book: our side's best, else one tick off the last trade."""
    best = book.best(side)
    if best is None and book.last is not None:
        best = book.last - inst.tick_size if side is Side.BUY else book.last + inst.tick_size
    if best is None:
        return None
    price = round_to_step(best, inst.tick_size, "down" if side is Side.BUY else "up")
    if limit is not None:  # the intent's maker price is a cap (BUY) / floor (SELL)
        price = min(price, limit) if side is Side.BUY else max(price, limit)
    return price if price > 0 else None


def worst_price(
    side: Side, book: Book, inst: Instrument, worst: Decimal | None, max_bps: float | None
) -> Decimal | None:
    """The limit a taking order may not pass: the intent's, or mid ± its slippage budget."""
    candidates = [] if worst is None else [worst]
    mid = book.mid
    if max_bps is not None and mid is not None:
        move = Decimal(repr(max_bps)) / BPS
        if side is Side.BUY:
            candidates.append(round_to_step(mid * (1 + move), inst.tick_size, "down"))
        else:
            candidates.append(round_to_step(mid * (1 - move), inst.tick_size, "up"))
    if not candidates:
        return None
    return min(candidates) if side is Side.BUY else max(candidates)


def lots(qty: Decimal, inst: Instrument) -> Decimal:
    """``qty`` rounded down to the lot; 0 when below the venue's minimum."""
    out = round_to_step(qty, inst.lot_size, "down")
    return out if out >= inst.min_qty and out > 0 else Decimal(0)


def tradable(qty: Decimal, ref: Decimal | None, inst: Instrument) -> bool:
    """Is ``qty`` an order the venue would take (lot, minimum size, minimum notional at ``ref``)?
    What is left of a partly filled order often is not: it is dust, not a reason to keep sending."""
    if qty <= 0 or lots(qty, inst) != qty:
        return False
    return ref is None or qty * ref >= inst.min_notional


def stop_limit(side: Side, stop: Decimal, bps: float, inst: Instrument) -> Decimal:
    """The limit of a stop-limit leg ``bps`` beyond its trigger (a sell below it, a buy above)."""
    move = Decimal(repr(bps)) / BPS
    if side is Side.SELL:
        return round_to_step(stop * (1 - move), inst.tick_size, "down")
    return round_to_step(stop * (1 + move), inst.tick_size, "up")
