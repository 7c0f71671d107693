"""Fill accounting: average entry by cost basis, realised PnL on exits, fees; exact Decimal.

A fill on the position's side adds ``price·qty`` to the cost; a fill against it removes the cost
of what it closes (all of it on a full close, so nothing is left over from rounding) and
realises ``sign·(price·qty − cost removed)``. Fees are summed as quote currency (USDT-M
futures charge them in USDT). Fills are applied once: ``trade_id`` is remembered.
"""

from __future__ import annotations

from decimal import Decimal

from agents.positions.state import COST_STEP, PRICE_STEP, ZERO, Position
from topics.trading import Fill, PositionKind


def apply_fill(
    pos: Position, fill: Fill, increasing: bool, from_entry: bool
) -> tuple[Position, PositionKind]:
    """Return the position after ``fill`` and the kind of event it makes."""
    seen = (*pos.trade_ids, fill.trade_id)
    fees = pos.fees + fill.fee
    if increasing:
        qty, cost = pos.qty + fill.qty, pos.cost + fill.price * fill.qty
        kind: PositionKind = "OPEN" if pos.seq == 0 else "ADD"
        return (
            pos.model_copy(
                update={
                    "qty": qty,
                    "cost": cost,
                    "entry_qty": pos.entry_qty + (fill.qty if from_entry else ZERO),
                    "entry_px": (cost / qty).quantize(PRICE_STEP),
                    "fees": fees,
                    "trade_ids": seen,
                }
            ),
            kind,
        )
    # a reduce-only order never closes more than is open; clip in case a venue reports more
    closing = min(fill.qty, pos.qty)
    removed = pos.cost if closing == pos.qty else (pos.cost * closing / pos.qty).quantize(COST_STEP)
    realized = pos.sign * (fill.price * closing - removed)
    qty = pos.qty - closing
    return (
        pos.model_copy(
            update={
                "qty": qty,
                "cost": pos.cost - removed,
                "realized": pos.realized + realized,
                "fees": fees,
                "trade_ids": seen,
            }
        ),
        "EXIT" if qty == 0 else "PARTIAL_EXIT",
    )


def funding_paid(sign: int, qty: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """What a settlement costs the position (longs pay a positive rate; negative = received)."""
    return sign * qty * mark * rate
