"""Perpetual funding: the rates known so far and the payments settled on open positions.

A settlement at ``T`` pays ``position_qty · mark · rate`` (longs pay a positive rate) with the
rate published for ``T`` when it is known, else the latest rate known before it; the mark is the
one published with ``T``'s own rate (the mark at the settlement instant, as a venue computes the
fee), else the venue's mark when it crossed ``T``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from agents.connectors.port import FundingRate
from agents.connectors.simvenue.positions import PositionBook
from agents.connectors.simvenue.wallets import money
from chimera.model import Symbol


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One funding settlement on one position; ``amount`` > 0 is received, < 0 paid (quote asset)."""

    symbol: Symbol
    funding_time: int
    rate: Decimal
    position_qty: Decimal
    mark_price: Decimal
    amount: Decimal


class FundingBook:
    def __init__(self) -> None:
        self.latest: dict[Symbol, FundingRate] = {}
        self.history: dict[Symbol, dict[int, FundingRate]] = {}
        self.marks: dict[tuple[Symbol, int], Decimal] = {}  # published with a settlement's own rate
        self.payments: list[FundingPayment] = []

    def publish(self, rate: FundingRate, mark: Decimal | None = None) -> None:
        """Make ``rate`` (and the mark at its settlement, if given) known for its own settlement
        (call :meth:`make_latest` once time moved)."""
        self.history.setdefault(rate.symbol, {})[rate.funding_time] = rate
        if mark is not None:
            self.marks[rate.symbol, rate.funding_time] = mark

    def make_latest(self, rate: FundingRate) -> None:
        self.latest[rate.symbol] = rate

    def snapshot(
        self, book: PositionBook, mark_of: Callable[[Symbol], Decimal | None]
    ) -> list[tuple[Symbol, Decimal, Decimal]]:
        """The open positions at a settlement instant: (symbol, qty, mark)."""
        return [
            (symbol, pos.qty, mark_of(symbol) or pos.entry)
            for symbol, pos in sorted(book.positions.items())
            if pos.qty
        ]

    def has_own_rates(self, funding_time: int, held: list[tuple[Symbol, Decimal, Decimal]]) -> bool:
        return all(funding_time in self.history.get(symbol, {}) for symbol, _, _ in held)

    def settle(
        self, funding_time: int, held: list[tuple[Symbol, Decimal, Decimal]], book: PositionBook
    ) -> list[FundingPayment]:
        """Pay the positions held at ``funding_time``; return the payments (also kept)."""
        out = []
        for symbol, qty, crossed in held:
            own = self.history.get(symbol, {}).get(funding_time)
            rate = own or self.latest.get(symbol)
            if rate is None:
                continue
            mark = self.marks.get((symbol, funding_time), crossed) if own is not None else crossed
            amount = money(-qty * mark * rate.rate)
            book.pay_funding(amount)
            out.append(FundingPayment(symbol, funding_time, rate.rate, qty, mark, amount))
        self.payments.extend(out)
        return out
