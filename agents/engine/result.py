"""What a run hands back: everything the services published, in the order they published it, and
the venue's and the gate's state at the end (the truths the record is checked against)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from agents.connectors.marketdata import Malformed
from agents.connectors.port import Balance, OrderState, Position
from agents.connectors.simvenue import FundingPayment
from sinks.clickhouse.sink import DeadLetter
from sinks.redis import GateUsage, Released
from topics.trading import CancelIntent, Decision, Fill, OrderIntent, OrderResult, PositionEvent


@dataclass(slots=True)
class Counts:
    records: int = 0  # every record fed (ticks, funding events, malformed)
    ticks: int = 0
    funding_events: int = 0
    batches: int = 0
    features: int = 0
    timers: int = 0  # live timers the engine fired between records (batch closes, maker, TWAP)


@dataclass(frozen=True, slots=True)
class FinalState:
    """The venue and the gate after the last record."""

    balances: dict[str, dict[str, Balance]]  # market -> asset -> balance
    positions: list[Position]
    open_orders: list[OrderState]
    gate: GateUsage
    now_ms: int


@dataclass(slots=True)
class BacktestResult:
    run_id: str
    bundle_id: str
    bundle_rev: str
    database: str
    key_prefix: str
    initial_usdt: Decimal
    decisions: list[Decision] = field(default_factory=list)
    intents: list[OrderIntent | CancelIntent] = field(default_factory=list)
    orders: list[OrderResult] = field(default_factory=list)  # every OrderResult S4 published
    position_events: list[PositionEvent] = field(default_factory=list)
    funding: list[FundingPayment] = field(default_factory=list)
    snapshots: int = 0
    released: list[Released] = field(default_factory=list)
    lapsed: list[str] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)
    rejected_features: list[str] = field(default_factory=list)  # feature events the contract refused
    dead_letters: list[DeadLetter] = field(default_factory=list)
    regimes: list[dict[str, object]] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    wall_s: float = 0.0
    final: FinalState | None = None

    @property
    def fills(self) -> list[tuple[OrderResult, Fill]]:
        """Every fill with the result that reported it (each trade once: results carry new fills)."""
        return [(r, f) for r in self.orders for f in r.fills]

    def reasons(self) -> Counter[str]:
        return Counter(d.reason for d in self.decisions)

    @property
    def events_per_s(self) -> float:
        return self.counts.records / self.wall_s if self.wall_s else 0.0
