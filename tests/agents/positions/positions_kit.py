"""Test kit for S6: the BTCUSDT perpetual, a config factory, OrderResult builders, and the
checks every step must pass (the never-unprotected invariant)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from agents.connectors.port import Instrument
from agents.positions import core, protect
from agents.positions.config import PositionConfig
from agents.positions.context import Ctx
from agents.positions.events import Effect, Event, Publish, SendIntent
from agents.positions.intents import ENTRY_LEG
from agents.positions.state import Position, SymbolBook
from chimera.model import (
    ClientOrderId,
    IntentId,
    Market,
    OrderStatus,
    OrderType,
    Side,
    SignalId,
    Symbol,
    client_order_id_for,
    intent_id_for,
)
from topics.trading import CancelIntent, Fill, OrderIntent, OrderResult, PositionEvent

D = Decimal
BTC = "BTCUSDT"
T0 = 1_640_991_600_000  # 2021-12-31 23:00 UTC
SIGNAL = SignalId(f"sig-{BTC}-{T0}-test")
ENTRY = intent_id_for(SIGNAL, ENTRY_LEG)

FUT_BTC = Instrument(
    symbol=Symbol(BTC),
    market=Market.FUT,
    base="BTC",
    quote="USDT",
    tick_size=D("0.1"),
    lot_size=D("0.001"),
    min_qty=D("0.001"),
    min_notional=D("5"),
    maker_fee=D("0.0002"),
    taker_fee=D("0.0004"),
)

LADDER: dict[str, Any] = {
    "leverage": 10,
    "unit": "roe",
    "initial_sl_roe": "0.08",
    "trail": [
        {"trigger": "0.05", "lock": "0.01"},
        {"trigger": "0.10", "lock": "0.05"},
        {"trigger": "0.15", "lock": "0.10"},
        {"trigger": "0.20", "lock": "0.15"},
    ],
    "tp": [
        {"trigger": "0.08", "fraction": "0.25"},
        {"trigger": "0.16", "fraction": "0.25"},
        {"trigger": "0.40", "fraction": "0.5"},
    ],
    "add_on": {"max_adds": 1, "trigger": "0.04", "size_fraction": "0.5"},
}


def make_config(**overrides: Any) -> PositionConfig:
    fields = {**LADDER, **overrides}
    return PositionConfig(**fields)


def make_ctx(**overrides: Any) -> Ctx:
    return Ctx(make_config(**overrides), FUT_BTC)


def fill(trade_id: str, price: str, qty: str, ts: int, fee: str | None = None) -> Fill:
    px, q = D(price), D(qty)
    f = D(fee) if fee is not None else (px * q * D("0.0004")).quantize(D("1e-8"))
    return Fill(trade_id=trade_id, price=px, qty=q, fee=f, fee_asset="USDT", is_maker=False, ts=ts)


def result(
    intent_id: str,
    side: Side,
    status: OrderStatus,
    *,
    ts: int,
    fills: Iterable[Fill] = (),
    qty: str | None = None,
    type_: OrderType = OrderType.MARKET,
    version: int = 0,
    reduce_only: bool = False,
    signal_id: str | None = None,
    pos_id: str | None = None,
    filled: str | None = None,
    stop: str | None = None,
) -> OrderResult:
    fl = list(fills)
    filled_qty = D(filled) if filled is not None else sum((f.qty for f in fl), D(0))
    avg = sum((f.price * f.qty for f in fl), D(0)) / filled_qty if filled_qty and fl else None
    return OrderResult(
        intent_id=IntentId(intent_id),
        client_order_id=ClientOrderId(client_order_id_for(intent_id)),
        order_id=f"o-{intent_id}",
        version=version,
        signal_id=SignalId(signal_id) if signal_id else None,
        pos_id=pos_id,
        symbol=Symbol(BTC),
        market=Market.FUT,
        status=status,
        side=side,
        type=type_,
        reduce_only=reduce_only,
        qty=D(qty) if qty is not None else (filled_qty or None),
        stop_price=D(stop) if stop else None,
        filled_qty=filled_qty,
        avg_price=avg if avg is not None else (D("1") if filled_qty else None),
        fee=sum((f.fee for f in fl), D(0)),
        fee_asset="USDT",
        fills=fl,
        ts=ts,
    )


def entry_fill(price: str, qty: str, ts: int, side: Side = Side.BUY, trade_id: str = "e1") -> OrderResult:
    return result(
        ENTRY, side, OrderStatus.FILLED, ts=ts, fills=[fill(trade_id, price, qty, ts)], signal_id=SIGNAL
    )


def intents_of(effects: Iterable[Effect]) -> list[OrderIntent]:
    return [e.intent for e in effects if isinstance(e, SendIntent) and isinstance(e.intent, OrderIntent)]


def cancels_of(effects: Iterable[Effect]) -> list[CancelIntent]:
    return [e.intent for e in effects if isinstance(e, SendIntent) and isinstance(e.intent, CancelIntent)]


def events_of(effects: Iterable[Effect]) -> list[PositionEvent]:
    return [e.event for e in effects if isinstance(e, Publish)]


def only_position(book: SymbolBook) -> Position:
    [pos] = book.positions.values()
    return pos


class Driver:
    """Run the core over events, keeping every effect, and check after each step that a position
    whose stop was once LIVE keeps one LIVE until it closes, and that the state survives JSON."""

    def __init__(self, ctx: Ctx | None = None) -> None:
        self.ctx = ctx or make_ctx()
        self.book = core.empty(BTC)
        self.effects: list[Effect] = []
        self.steps = 0
        self._was_live: set[str] = set()
        self.expect_loss = False  # a test that makes the venue drop a stop says so

    def __call__(self, event: Event) -> list[Effect]:
        self.book, fx = core.step(self.book, event, self.ctx)
        self.effects += fx
        self.steps += 1
        self.check()
        return fx

    def check(self) -> None:
        assert SymbolBook.from_json(self.book.to_json()) == self.book
        for pos in self.book.positions.values():
            state = protect.protection(pos)
            if state == "LIVE":
                self._was_live.add(pos.pos_id)
            elif pos.pos_id in self._was_live and not self.expect_loss:
                assert state == "CLOSED", f"{pos.pos_id} lost its stop: {state} after it was LIVE"

    @property
    def pos(self) -> Position:
        return only_position(self.book)

    def ack(self, intent: OrderIntent, ts: int, *, version: int = 0) -> list[Effect]:
        """The venue accepted a resting order."""
        type_ = OrderType.STOP_MARKET if intent.sl_price is not None else OrderType.TAKE_PROFIT_MARKET
        return self(
            result(
                intent.intent_id,
                intent.side,
                OrderStatus.NEW,
                ts=ts,
                qty=str(intent.qty),
                type_=type_,
                reduce_only=True,
                pos_id=intent.pos_id,
                version=version,
                stop=str(intent.sl_price or intent.tp_price),
            )
        )

    def ended(
        self, intent_id: str, side: Side, status: OrderStatus, ts: int, version: int = 1
    ) -> list[Effect]:
        return self(result(intent_id, side, status, ts=ts, qty="0.001", version=version, filled="0"))

    def fill(
        self, intent: OrderIntent, price: str, ts: int, trade_id: str, qty: str | None = None
    ) -> list[Effect]:
        q = qty or str(intent.qty)
        return self(
            result(
                intent.intent_id,
                intent.side,
                OrderStatus.FILLED,
                ts=ts,
                fills=[fill(trade_id, price, q, ts)],
                qty=str(intent.qty),
                reduce_only=intent.reduce_only,
                pos_id=intent.pos_id,
                version=1,
            )
        )
