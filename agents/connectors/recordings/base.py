"""What every loader shares: the record type it yields, exact number parsing, time guards."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from agents.connectors.marketdata import Malformed, MarketEvent
from chimera.model import to_decimal
from topics.market import FundingEvent

Record = MarketEvent | FundingEvent | Malformed
Records = Iterator[Record]


class BadRecord(ValueError):
    """Raised inside a loader for one record; the loader turns it into a :class:`Malformed`."""


def dec(value: object, name: str) -> Decimal:
    """Parse a money field exactly (text as written; floats by their shortest repr)."""
    if type(value) is str and value:  # the hot path of CSV loaders
        try:
            out = Decimal(value)
        except InvalidOperation:
            raise BadRecord(f"bad {name}: {value!r}") from None
        if out.is_finite():
            return out
        raise BadRecord(f"bad {name}: {value!r}")
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        raise BadRecord(f"missing {name}")
    if isinstance(value, float):
        value = float.__repr__(value)  # numpy 2's repr of a float64 is "np.float64(...)"
    try:
        return to_decimal(value)
    except (ValueError, TypeError) as exc:
        raise BadRecord(f"bad {name}: {value!r}") from exc


def positive(value: Decimal, name: str) -> Decimal:
    if value <= 0:
        raise BadRecord(f"{name} must be positive, got {value}")
    return value


def non_negative(value: Decimal, name: str) -> Decimal:
    if value < 0:
        raise BadRecord(f"{name} must not be negative, got {value}")
    return value


def int_ms(value: object, name: str = "timestamp") -> int:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        raise BadRecord(f"missing {name}")
    try:
        return int(value)  # type: ignore[call-overload]
    except (ValueError, TypeError) as exc:
        raise BadRecord(f"bad {name}: {value!r}") from exc


@dataclass(slots=True)
class TimeGuard:
    """Event time per symbol must not go back (``strict``: must move forward, e.g. bars)."""

    strict: bool = False
    last: int | None = None

    def check(self, ts: int) -> None:
        if self.last is not None and (ts < self.last or (self.strict and ts == self.last)):
            raise BadRecord(f"time not monotonic: {ts} after {self.last}")

    def accept(self, ts: int) -> None:
        self.last = ts


def malformed(path: Path, line: int, reason: str, raw: str, topic: str, guard: TimeGuard) -> Malformed:
    return Malformed(
        file=str(path), line=line, reason=reason, raw=raw[:2000], topic=topic, ts=guard.last or 0
    )


def symbol_of_pair(pair: str) -> str:
    """'BTC/USDT' or 'BTC/USDT:USDT' -> 'BTCUSDT' (the Binance spelling)."""
    return pair.split(":", 1)[0].replace("/", "").replace("-", "").upper()
