"""The seam between ``chimera demo`` and what runs the pipeline: a runner takes the records and the
bundle and leaves the run's record in the ClickHouse database it is given; it returns its own
totals, which the summary checks the record against.

Two runners: the in-process engine (``inprocess.run``, the default) and the Faust workers over
Kafka (``kafka.run``, ``--kafka``). A Kafka runner fills :class:`Totals` from what it consumed
(``sig.events``, ``ord.results``, ``pos.events``) and the venue's books.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from agents.config.bundle import Bundle
from agents.connectors.recordings import Record
from chimera.settings import Settings

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RunContext:
    settings: Settings
    database: str  # migrated, this run's own
    run_id: str
    regime: str | None  # pinned regime, or None for the daily job
    initial_usdt: Decimal
    progress: Progress | None = None


@dataclass
class Totals:
    """A runner's own count of what happened, independent of ClickHouse."""

    decisions: Counter[str] = field(default_factory=Counter)  # by reason
    orders: int = 0  # distinct client_order_ids
    fills: int = 0
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)  # received (> 0) / paid (< 0), as the venue settled
    realized: Decimal = Decimal(0)  # S6's PnL net of fees and funding, over every position
    trades: int = 0  # positions closed
    open_positions: int = 0
    wallet_change: Decimal = Decimal(0)  # the venue's futures + spot USDT, end minus start
    gate_budget_inuse: Decimal = Decimal(0)
    gate_slots_inuse: int = 0
    end_of_run_closes: int = 0
    dead_letters: int = 0
    malformed: int = 0


@dataclass
class RunOutcome:
    run_id: str
    database: str
    key_prefix: str
    records: int
    ticks: int
    wall_s: float
    totals: Totals
    notes: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.records / self.wall_s if self.wall_s else 0.0


Runner = Callable[[list[Record], Bundle, RunContext], Awaitable[RunOutcome]]
