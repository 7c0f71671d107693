"""What the core takes in and what it asks the shell to do.

Inputs: the wire :class:`~topics.trading.OrderResult` and :class:`~topics.market.FundingEvent`
as they are, plus three small events the shell builds from other topics (``inputs.py``): a
management :class:`Tick` (from ``mkt.perp``), an :class:`AtrSeen` (from ``feat.events``) and an
:class:`EntryPlanned` (from an open decision on ``sig.events``).

Effects are carried out in the order given; ``SendIntent`` holds the wire ``OrderIntent`` /
``CancelIntent`` for ``ord.intents``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chimera.model import Side
from topics.market import FundingEvent
from topics.trading import CancelIntent, OrderIntent, OrderResult, PositionEvent


@dataclass(frozen=True, slots=True)
class Tick:
    """A management tick: the symbol's last price (and mark, if the venue sends one) at ``ts``, and
    the lowest and highest prices traded since the previous tick (None: just ``price``)."""

    symbol: str
    ts: int
    price: Decimal
    mark: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None

    def __post_init__(self) -> None:
        # built at the boundary (inputs.tick_of): a price the core would divide by is refused here
        if not self.price > 0 or (self.mark is not None and not self.mark > 0):
            raise ValueError(f"{self.symbol} tick at {self.ts}: price and mark must be positive")
        low, high = self.range()
        if not 0 < low <= self.price <= high:
            raise ValueError(f"{self.symbol} tick at {self.ts}: need 0 < low <= price <= high")

    def range(self) -> tuple[Decimal, Decimal]:
        """The lowest and the highest price traded (the venue saw each, its stops too)."""
        low = self.price if self.low is None else self.low
        return low, self.price if self.high is None else self.high


@dataclass(frozen=True, slots=True)
class AtrSeen:
    """S2's ATR for the symbol as of bar close ``ts`` (exact decimal of the float it sent)."""

    symbol: str
    ts: int
    atr: Decimal

    def __post_init__(self) -> None:
        if not self.atr > 0:
            raise ValueError(f"{self.symbol} ATR at {self.ts} must be positive, got {self.atr}")


@dataclass(frozen=True, slots=True)
class EntryPlanned:
    """S3 decided to open: the multiples and the add-on cap S6 applies when the entry fills."""

    symbol: str
    entry_intent_id: str
    signal_id: str
    side: Side
    sl_mult: Decimal
    tp_mult: Decimal
    max_adds_override: int | None
    ts: int


Event = OrderResult | FundingEvent | Tick | AtrSeen | EntryPlanned


@dataclass(frozen=True, slots=True)
class SendIntent:
    """Send to S4 on ``ord.intents``."""

    intent: OrderIntent | CancelIntent


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish on ``pos.events`` (S7, S8 and the sinks listen)."""

    event: PositionEvent


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One ``positions_snapshots`` row (columns as infra/ddl/0001_trading.sql)."""

    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Mirror:
    """Write the position's levels to Redis (``pos:{sl}``, ``pos:{tp}``, ``pos:{adds}``) as JSON;
    ``clear`` deletes the three keys (the position closed)."""

    pos_id: str
    sl: dict[str, Any] | None = None
    tp: dict[str, Any] | None = None
    adds: dict[str, Any] | None = None
    clear: bool = False


@dataclass(frozen=True, slots=True)
class ReleaseGate:
    """Give back the entry gate reservation (B7): reservation id = the entry's intent_id."""

    pos_id: str
    symbol: str
    reservation_id: str


@dataclass(frozen=True, slots=True)
class RenewGate:
    """Extend the entry reservation's lease (S3 reserves with a lease so a dead holder cannot leak
    budget; an open position is alive, so S6 keeps its lease from running out)."""

    pos_id: str
    symbol: str
    reservation_id: str
    ttl_ms: int


Effect = SendIntent | Publish | Snapshot | Mirror | ReleaseGate | RenewGate
