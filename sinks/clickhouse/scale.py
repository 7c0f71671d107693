"""Reference values to the record's scale: every money column of ``infra/ddl`` is Decimal(38, 12).

The sink refuses a Decimal with more places than its column (``schema.py``: a writer's mistake
must show, not be rounded away silently), so a row builder rounds, where it builds the row, what
it only measured against: a mark, a mid, a book level, an average. Those carry the float noise of
their sources (freqtrade's XRP files hold a close of 1.0937000000000001; an average of noisy
fills runs to 28 digits) and would lose the row. Money that moved (a fill's price, qty, fee) is
exact at its source and is not passed through here, so a bad one is still dead-lettered.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

RECORD_SCALE = 12
RECORD_STEP = Decimal(1).scaleb(-RECORD_SCALE)


def at_scale(value: Decimal) -> Decimal:
    """``value`` rounded half-even to 12 places; a value that fits is returned as it is (a replay
    writes the same rows byte for byte)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -RECORD_SCALE:
        return value.quantize(RECORD_STEP, rounding=ROUND_HALF_EVEN)
    return value


def all_at_scale(values: Sequence[Decimal]) -> list[Decimal]:
    """An Array(Decimal(38, 12)) cell: each element at the scale."""
    return [at_scale(v) for v in values]
