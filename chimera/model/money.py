"""Exact prices and quantities. Floats never touch money: they enter as strings or Decimals."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal, InvalidOperation
from typing import Literal

Price = Decimal
Qty = Decimal

Rounding = Literal["down", "nearest", "up"]
_MODES = {"down": ROUND_DOWN, "nearest": ROUND_HALF_EVEN, "up": ROUND_UP}


def to_decimal(value: object) -> Decimal:
    """Convert a venue/JSON value to Decimal exactly; floats go through ``repr`` (shortest form)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a bool is not an amount")
    if isinstance(value, float):
        value = repr(value)
    try:
        out = Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not out.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return out


def round_to_step(value: Decimal, step: Decimal, mode: Rounding = "down") -> Decimal:
    """Round ``value`` to a multiple of ``step`` (tick or lot size); quantities round down by default."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    units = (value / step).quantize(Decimal(1), rounding=_MODES[mode])
    return (units * step).quantize(step)
