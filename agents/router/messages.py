"""The core's inputs (events) and outputs (effects). Plain frozen data: no broker, no Redis.

Every event carries event time; the core reads no clock. Effects are carried out by the shell in
the order given; a venue answer comes back as the next event, so an effect that must wait for
another's outcome (cancel, *then* protect) is only emitted once that outcome is in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agents.connectors.port import Instrument, OcoRequest, OrderRequest, OrderState
from agents.router.book import Level
from agents.router.config import DEFAULT_PARAMS, RouterParams
from chimera.model import ClientOrderId, Market, Symbol, TimeInForce
from topics.trading import BookTop, CancelIntent, OrderIntent, OrderResult


@dataclass(frozen=True, slots=True)
class Ctx:
    """What the shell read for an event: switches, health, parameters, instruments."""

    instruments: Mapping[tuple[Market, Symbol], Instrument]
    kill_switch: bool = False
    health: str | None = None
    params: RouterParams = DEFAULT_PARAMS


# ---- events --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IntentIn:
    intent: OrderIntent


@dataclass(frozen=True, slots=True)
class CancelIn:
    cancel: CancelIntent


@dataclass(frozen=True, slots=True)
class Sent:
    """What the router knew when it sent an order (kept in the order's idempotency record, so a
    restarted router reports the order's fills against the same mid and book)."""

    role: str
    ts: int
    mid: Decimal | None = None
    book: BookTop | None = None
    time_in_force: TimeInForce | None = None  # not part of a venue's order snapshot

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "ts": self.ts,
            "tif": None if self.time_in_force is None else self.time_in_force.value,
            "mid": None if self.mid is None else str(self.mid),
            "book": None if self.book is None else self.book.model_dump(mode="json"),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Sent:
        mid, book, tif = doc.get("mid"), doc.get("book"), doc.get("tif")
        return cls(
            role=str(doc.get("role", "main")),
            ts=int(doc.get("ts", 0)),
            mid=None if mid is None else Decimal(mid),
            book=None if book is None else BookTop.model_validate(book),
            time_in_force=None if tif is None else TimeInForce(tif),
        )


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A venue snapshot of one order (the create/cancel answer, a fetch, or the venue's stream).

    ``sent`` comes with a snapshot found through an earlier send's record (after a restart)."""

    state: OrderState
    sent: Sent | None = None


@dataclass(frozen=True, slots=True)
class SendFailed:
    """The venue refused a create (or it is proven never placed): the order is REJECTED."""

    client_order_id: ClientOrderId
    reason: str
    ts: int


@dataclass(frozen=True, slots=True)
class SendUnknown:
    """The create's outcome is unknown and the venue does not know the order yet."""

    client_order_id: ClientOrderId
    ts: int


@dataclass(frozen=True, slots=True)
class Tick:
    """A market event: a trade (``price``) and/or new best levels."""

    market: Market
    symbol: Symbol
    ts: int
    price: Decimal | None = None
    bids: tuple[Level, ...] | None = None  # None: the event carries no book
    asks: tuple[Level, ...] | None = None


@dataclass(frozen=True, slots=True)
class Timer:
    ts: int


@dataclass(frozen=True, slots=True)
class Slice:
    """One TWAP child, self-contained so a restarted router can send it from the queue alone."""

    intent: OrderIntent
    k: int  # 0-based slice number, also the client_order_id's slice_no
    n: int
    qty: Decimal
    due_ts: int

    def member(self) -> str:
        """The ZSet member: the slice as canonical JSON (stable, so ZREM finds it again)."""
        doc = {"intent": self.intent.model_dump(mode="json"), "k": self.k, "n": self.n, "qty": str(self.qty)}
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_member(cls, member: str, due_ts: int) -> Slice:
        doc = json.loads(member)
        return cls(
            OrderIntent.model_validate(doc["intent"]),
            int(doc["k"]),
            int(doc["n"]),
            Decimal(doc["qty"]),
            due_ts,
        )


@dataclass(frozen=True, slots=True)
class SliceDue:
    slice: Slice
    ts: int


@dataclass(frozen=True, slots=True)
class Adopt:
    """Orders of an intent this process did not send (a restart): track them, decide nothing more."""

    intent: OrderIntent
    states: tuple[tuple[OrderState, Sent | None], ...]
    refused: str | None = None  # the router refused the intent before the venue (KILL_SWITCH, ...)
    guard: str | None = None  # a guard's recorded state (ARMED, TRIGGERED): watch it again


Event = IntentIn | CancelIn | OrderUpdate | SendFailed | SendUnknown | Tick | Timer | SliceDue | Adopt


# ---- effects -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Place:
    req: OrderRequest
    intent: OrderIntent  # whose order it is (results carry its ids)
    role: str = "main"
    slice: Slice | None = None  # a TWAP child: dequeue it once the send is resolved


@dataclass(frozen=True, slots=True)
class PlaceOco:
    req: OcoRequest
    intent: OrderIntent


@dataclass(frozen=True, slots=True)
class CancelOrder:
    market: Market
    symbol: Symbol
    client_order_id: ClientOrderId


@dataclass(frozen=True, slots=True)
class Schedule:
    slice: Slice


@dataclass(frozen=True, slots=True)
class Unschedule:
    """Drop what is left of an intent's TWAP queue (a cancel, a refusal)."""

    intent_id: str
    slice: Slice | None = None  # one slice; None: every queued slice of the intent


@dataclass(frozen=True, slots=True)
class Guard:
    """Write ``guard:{stop}:<symbol>:<intent_id>`` (armed/armed_at and what the watcher watches)."""

    symbol: Symbol
    intent_id: str
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Emit:
    """An order's state changed: publish on ``ord.results`` and write the ``orders``/``fills`` rows."""

    result: OrderResult


@dataclass(frozen=True, slots=True)
class Record:
    """A ``strategy_events`` row (TP_SL_PLACED, CANCEL, GUARD_TRIGGERED, MAKER_TIMEOUT)."""

    kind: str
    symbol: Symbol
    intent_id: str
    ts: int
    pos_id: str | None = None
    signal_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    key: str | None = None  # what makes the event unique with its kind (default: intent_id)

    @property
    def event_id(self) -> str:
        return f"{self.kind}:{self.key or self.intent_id}"


@dataclass(frozen=True, slots=True)
class Intake:
    """First effect of a new intent: accepted, or refused before the venue and why (the shell
    keeps this in the intent's idempotency record, so a redelivery is answered the same way)."""

    intent_id: str
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class Count:
    name: str
    n: int = 1


Effect = Place | PlaceOco | CancelOrder | Schedule | Unschedule | Guard | Emit | Record | Intake | Count
