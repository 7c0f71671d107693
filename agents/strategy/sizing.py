"""Entry size in exact money: margin x leverage x size_mult / price, floored to the lot.

- ``price``: the bar's close (a float feature) as the shortest decimal of it, on the tick.
- ``qty = floor_lot(margin_per_position * size_mult * leverage / price)``; SPOT uses leverage 1.
- refused below the venue's ``min_qty`` (or zero) -> MIN_QTY, below ``min_notional`` -> MIN_NOTIONAL.
- ``margin_usdt = qty * price / leverage`` rounded UP to the micro-USDT: the gate counts micro-USDT
  and the reservation must cover what the position uses (it never exceeds the per-position
  budget times size_mult, which has at most 6 decimals).
- reference SL/TP: ``price -/+ k_atr * mult * atr`` for a long (mirrored for a short), on the
  nearest tick; None without an ATR or when a stop would not be a positive price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from agents.strategy.config import InstrumentSpec
from chimera.model import Market, Side, round_to_step, to_decimal

MICRO = Decimal("0.000001")


def as_mult(x: float) -> Decimal:
    """A float multiplier as a Decimal of 6 decimals: the same float gives the same Decimal."""
    return to_decimal(x).quantize(MICRO, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Sized:
    qty: Decimal
    price: Decimal
    margin_usdt: Decimal
    leverage: int


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str  # MIN_QTY | MIN_NOTIONAL
    detail: str


def size_entry(
    spec: InstrumentSpec, close: float, margin_per_position: Decimal, size_mult: Decimal, leverage: int
) -> Sized | Refused:
    lev = leverage if spec.market is Market.FUT else 1
    price = round_to_step(to_decimal(close), spec.tick_size, "nearest")
    if price <= 0:
        raise ValueError(f"close {close} is not a positive price")
    target = margin_per_position * size_mult
    qty = round_to_step(target * lev / price, spec.lot_size, "down")
    if qty <= 0 or qty < spec.min_qty:
        return Refused("MIN_QTY", f"qty {qty} < min_qty {spec.min_qty} (margin {target} x{lev} at {price})")
    notional = qty * price
    if notional < spec.min_notional:
        return Refused("MIN_NOTIONAL", f"notional {notional} < min_notional {spec.min_notional}")
    margin = (notional / lev).quantize(MICRO, rounding=ROUND_UP)
    return Sized(qty=qty, price=price, margin_usdt=margin, leverage=lev)


def stop_prices(
    side: Side, price: Decimal, atr: float | int | None, sl_dist_atr: float, tp_dist_atr: float, tick: Decimal
) -> tuple[Decimal | None, Decimal | None]:
    if atr is None or not (math.isfinite(atr) and atr > 0):
        return None, None
    a = to_decimal(float(atr))
    sl_d = a * to_decimal(sl_dist_atr)
    tp_d = a * to_decimal(tp_dist_atr)
    sign = side.sign
    sl = round_to_step(price - sign * sl_d, tick, "nearest")
    tp = round_to_step(price + sign * tp_d, tick, "nearest")
    return (sl if sl > 0 else None), (tp if tp > 0 else None)
