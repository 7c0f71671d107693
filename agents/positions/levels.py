"""Price arithmetic of a position: excursion in ROE or ATR, the price of a level, liquidation.

Every function takes the position's side as ``+1`` (long) or ``-1`` (short), so one formula
serves both. Levels are rounded to the tick on the cautious side: a stop never tighter than
configured (long: down, short: up), a take-profit never earlier (long: up, short: down).
"""

from __future__ import annotations

from decimal import Decimal

from agents.positions.config import Unit
from chimera.model import round_to_step

ONE = Decimal(1)


def roe(sign: int, avg: Decimal, price: Decimal, leverage: int) -> Decimal:
    """Return on initial margin at ``price``: sign·(price − avg)/avg·leverage."""
    return sign * (price - avg) / avg * leverage


def excursion(
    unit: Unit, sign: int, avg: Decimal, price: Decimal, leverage: int, atr: Decimal | None
) -> Decimal | None:
    """The favourable move to ``price`` in ``unit``; None when the unit is ATR and none is known."""
    if unit == "roe":
        return roe(sign, avg, price, leverage)
    if atr is None or atr <= 0:
        return None
    return sign * (price - avg) / atr


def level(
    unit: Unit, sign: int, avg: Decimal, x: Decimal, leverage: int, atr: Decimal | None
) -> Decimal | None:
    """The (unrounded) price ``x`` units in our favour from ``avg`` (negative x: against us)."""
    if unit == "roe":
        return avg * (ONE + sign * x / leverage)
    if atr is None or atr <= 0:
        return None
    return avg + sign * x * atr


def stop_price(sign: int, raw: Decimal, tick: Decimal) -> Decimal:
    return round_to_step(raw, tick, "down" if sign > 0 else "up")


def target_price(sign: int, raw: Decimal, tick: Decimal) -> Decimal:
    return round_to_step(raw, tick, "up" if sign > 0 else "down")


def liquidation_price(sign: int, avg: Decimal, leverage: int, mmr: Decimal) -> Decimal:
    """Isolated-margin estimate: long avg·(1 − 1/lev + mmr), short avg·(1 + 1/lev − mmr)."""
    return avg * (ONE - sign * (ONE / leverage - mmr))


def liquidation_distance(sign: int, mark: Decimal, liq: Decimal) -> Decimal:
    """How far the mark is from liquidation, as a fraction of the mark (negative: past it)."""
    return sign * (mark - liq) / mark


def is_through(sign: int, stop: Decimal, price: Decimal) -> bool:
    """Would a stop at ``stop`` fire at once at ``price``? (long: stop at or above the price)."""
    return stop >= price if sign > 0 else stop <= price


def better_stop(sign: int, new: Decimal, old: Decimal) -> bool:
    """Does ``new`` lock more than ``old``? (long: higher)."""
    return new > old if sign > 0 else new < old
