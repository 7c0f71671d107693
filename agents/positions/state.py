"""S6's state: one :class:`SymbolBook` per symbol (the Faust table's value), JSON-round-trippable.

``book.to_json()`` gives plain JSON types (money as decimal strings); ``SymbolBook.from_json``
validates it back, so a changelog written by one worker version is checked when another reads it.
Models are frozen: the core returns a new book, never mutates one (a Faust table writes its
changelog only on ``table[k] = value``).

Money is kept exact. ``cost`` is Σ price·qty of the open quantity, so the average entry
(cost/qty), the unrealised PnL (sign·(mark·qty − cost)) and a full close (which removes all of
``cost``) need no rounding; only a partial exit removes ``cost·q/qty``, rounded to 1e-12 (the
scale of positions_snapshots), and the rounding is carried by the remaining cost, so the
realised PnL over the position's life is exactly Σ exits − Σ entries.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chimera.model import Market, Side

ZERO = Decimal(0)
COST_STEP = Decimal("1e-12")
PRICE_STEP = Decimal("1e-8")  # the average entry as venues show it

Role = Literal["SL", "TP"]
ProtectStatus = Literal["PENDING", "LIVE", "CANCELING"]
Action = Literal["TP", "ADD", "EXIT"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Protect(_Frozen):
    """A resting reduce-only order guarding the position: the stop (SL) or the final target (TP).

    PENDING: sent, not yet acknowledged; LIVE: acknowledged by the venue; CANCELING: a cancel was
    sent because a newer order of the same role is LIVE (make-before-break, see ``protect.py``).
    """

    role: Role
    intent_id: str
    price: Decimal
    qty: Decimal
    step: int = Field(ge=0, description="SL: trailing step (0 = initial); TP: rung number")
    status: ProtectStatus
    reason: str


class Working(_Frozen):
    """A market order in flight that changes the quantity: a TP rung, an add-on, a full exit."""

    intent_id: str
    action: Action
    step: int = Field(ge=0)
    qty: Decimal
    reason: str


class Plan(_Frozen):
    """What the decision said about an entry S6 has not seen fill yet (from ``sig.events``)."""

    entry_intent_id: str
    signal_id: str
    side: Side
    sl_mult: Decimal = Decimal(1)
    tp_mult: Decimal = Decimal(1)
    max_adds_override: int | None = None
    ts: int


class Position(_Frozen):
    pos_id: str
    signal_id: str | None
    entry_intent_id: str
    symbol: str
    market: Market
    side: Side
    leverage: int
    sl_mult: Decimal
    tp_mult: Decimal
    max_adds: int
    status: Literal["OPEN", "CLOSED"] = "OPEN"
    qty: Decimal = ZERO
    cost: Decimal = ZERO
    entry_qty: Decimal = ZERO  # filled by the entry intent: the base of add-on sizes
    entry_px: Decimal = ZERO  # average entry to 1e-8 as of the last increase (kept after the close)
    atr: Decimal | None = None  # frozen at the first fill
    opened_ts: int
    ts: int
    seq: int = 0  # next PositionEvent seq
    snap_seq: int = 0  # next positions_snapshots seq
    snap_ts: int = -1
    realized: Decimal = ZERO  # gross, before fees and funding
    fees: Decimal = ZERO
    funding: Decimal = ZERO  # paid (> 0) or received (< 0)
    funding_time: int = -1  # last settlement applied
    protects: tuple[Protect, ...] = ()
    working: tuple[Working, ...] = ()
    orders: int = 0  # orders this position sent: part of each intent_id, so a retry is a new id
    retries: dict[str, int] = Field(default_factory=dict)  # failed protective placements per role
    sl_price: Decimal | None = None  # the newest LIVE stop's price and trailing step
    sl_step: int = 0
    sl_failed_step: int = -1  # a trailing step the venue refused: not tried again
    tp_level: int = 0  # rungs taken
    tp_base: Decimal = ZERO  # open qty when the first rung was taken: rung sizes are fractions of it
    adds: int = 0
    adds_blocked: bool = False
    stagnated: bool = False
    exit_reason: str | None = None
    closed_ts: int | None = None
    last_price: Decimal | None = None
    last_mark: Decimal | None = None
    tick_ts: int = -1
    renewed_ts: int = -1  # last renewal of the entry gate's lease
    trade_ids: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()  # every order this position sent, so late results find it

    @property
    def sign(self) -> int:
        return self.side.sign

    @property
    def is_open(self) -> bool:
        return self.status == "OPEN" and self.qty > 0

    @property
    def avg(self) -> Decimal:
        """Exact average entry (at the context's 28 digits) of the open quantity."""
        return self.cost / self.qty if self.qty else ZERO

    def of_role(self, role: Role) -> list[Protect]:
        return [p for p in self.protects if p.role == role]

    def working_of(self, action: Action) -> list[Working]:
        return [w for w in self.working if w.action == action]

    def unrealized(self, mark: Decimal) -> Decimal:
        return self.sign * (mark * self.qty - self.cost)

    def net_realized(self) -> Decimal:
        return self.realized - self.fees - self.funding


class SymbolBook(_Frozen):
    symbol: str
    atr: Decimal | None = None
    atr_ts: int = -1
    last_price: Decimal | None = None
    last_mark: Decimal | None = None
    last_ts: int = -1
    plans: dict[str, Plan] = Field(default_factory=dict)  # entry intent_id -> plan
    positions: dict[str, Position] = Field(default_factory=dict)  # pos_id -> position

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SymbolBook:
        return cls.model_validate(data)

    def with_position(self, pos: Position) -> SymbolBook:
        return self.model_copy(update={"positions": {**self.positions, pos.pos_id: pos}})
