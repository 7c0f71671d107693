"""S6's pure core: ``step(book, event, ctx) -> (book, effects)`` for one symbol's positions.

Events: an :class:`~topics.trading.OrderResult` (entry, add-on, exit or protective order of a
position), a management :class:`Tick`, an :class:`AtrSeen`, an :class:`EntryPlanned` and a
:class:`~topics.market.FundingEvent`. Nothing reads a clock: times are the events' ``ts``.

The life of a position (spec B1.3, B3, B7):

- The first fill of an entry intent (``intent_id_for(signal_id, "entry")``, S3's id, or one an
  :class:`EntryPlanned` announced) opens it: OPEN, then a reduce-only stop (STOP_MARKET) and the
  final take-profit (TAKE_PROFIT_MARKET at the last rung) covering the open quantity. Later fills
  of the entry average the entry price (ADD, reason ENTRY_FILL) and resize both orders.
- Ticks move the stop up the ladder, take the rungs before the last, add, and watch stagnation
  and liquidation (``manage.py``).
- Exit fills realise PnL (PARTIAL_EXIT / EXIT); funding settlements are charged to open perps.
  PositionEvent.realized_pnl is the running total net of fees and funding.
- At EXIT: cancel every protective order left, release the entry gate reservation (its id is the
  entry intent_id, so exactly what S3 reserved comes back), and clear the Redis mirror.

Redelivery: fills are applied once (trade_id), a tick not newer than the last changes nothing,
an acknowledgement of an order already LIVE changes nothing, and the ids of the orders a step
sends depend only on the state, so a step run twice sends the same ids (S4 deduplicates).
"""

from __future__ import annotations

from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Any

from agents.positions import manage, protect
from agents.positions.context import Ctx
from agents.positions.events import (
    AtrSeen,
    Effect,
    EntryPlanned,
    Event,
    Mirror,
    ReleaseGate,
    SendIntent,
    Tick,
)
from agents.positions.fills import apply_fill, funding_paid
from agents.positions.intents import ENTRY_LEG, cancel, pos_id_for
from agents.positions.records import adds_mirror, emit, sl_mirror, snapshot, tp_mirror
from agents.positions.state import Plan, Position, Protect, SymbolBook, Working
from chimera.model import Market, intent_id_for
from topics.market import FundingEvent
from topics.trading import OrderResult

# every step runs in this context, whatever the caller's thread set (ccxt switches it)
EXACT = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])

Order = Protect | Working | str  # str: "ENTRY" or "OTHER"


def empty(symbol: str) -> SymbolBook:
    return SymbolBook(symbol=symbol)


def step(book: SymbolBook, event: Event, ctx: Ctx) -> tuple[SymbolBook, list[Effect]]:
    """Apply one event to the symbol's book; return the new book and the effects, in order."""
    if event.symbol != book.symbol or ctx.instrument.symbol != book.symbol:
        raise ValueError(f"book {book.symbol}: event for {event.symbol}, instrument {ctx.instrument.symbol}")
    with localcontext(EXACT):
        if isinstance(event, OrderResult):
            return _on_result(book, event, ctx)
        if isinstance(event, Tick):
            return _on_tick(book, event, ctx)
        if isinstance(event, FundingEvent):
            return _on_funding(book, event)
        if isinstance(event, AtrSeen):
            if event.ts <= book.atr_ts:
                return book, []
            return book.model_copy(update={"atr": event.atr, "atr_ts": event.ts}), []
        if isinstance(event, EntryPlanned):
            return _on_plan(book, event), []
    raise TypeError(f"not an S6 event: {type(event).__name__}")


# ---- order results ----------------------------------------------------------------------------
def _find(book: SymbolBook, r: OrderResult) -> Position | None:
    for pos in book.positions.values():
        if r.intent_id == pos.entry_intent_id or r.intent_id in pos.intents or r.pos_id == pos.pos_id:
            return pos
    return None


def _is_entry(book: SymbolBook, r: OrderResult) -> bool:
    if r.market is not Market.FUT or r.reduce_only:
        return False  # spot entries are protected by S4's OCO / guard stop (B2), not here
    if r.intent_id in book.plans:
        return True
    return r.signal_id is not None and r.intent_id == intent_id_for(r.signal_id, ENTRY_LEG)


def _open(book: SymbolBook, r: OrderResult, ctx: Ctx) -> Position:
    plan = book.plans.get(r.intent_id)
    cfg = ctx.cfg
    max_adds = plan.max_adds_override if plan is not None else None
    return Position(
        pos_id=pos_id_for(r.intent_id),
        signal_id=r.signal_id or (plan.signal_id if plan else None),
        entry_intent_id=r.intent_id,
        symbol=r.symbol,
        market=r.market,
        side=r.side,
        leverage=cfg.leverage,
        sl_mult=plan.sl_mult if plan else Decimal(1),
        tp_mult=plan.tp_mult if plan else Decimal(1),
        max_adds=cfg.add_on.max_adds if max_adds is None else max_adds,
        atr=book.atr,
        opened_ts=min(f.ts for f in r.fills),
        ts=r.ts,
        last_price=book.last_price,
        last_mark=book.last_mark,
    )


def _classify(pos: Position, intent_id: str) -> Order:
    if intent_id == pos.entry_intent_id:
        return "ENTRY"
    for prot in pos.protects:
        if prot.intent_id == intent_id:
            return prot
    for work in pos.working:
        if work.intent_id == intent_id:
            return work
    return "OTHER"


def _credit(pos: Position, order: Order, ctx: Ctx) -> Position:
    """Count what a fill of this order achieved: an add made, a rung taken."""
    if isinstance(order, Working) and order.action == "ADD":
        return pos.model_copy(update={"adds": max(pos.adds, order.step)})
    if isinstance(order, Working) and order.action == "TP":
        return pos.model_copy(update={"tp_level": max(pos.tp_level, order.step)})
    if isinstance(order, Protect) and order.role == "TP":
        return pos.model_copy(update={"tp_level": len(ctx.cfg.tp)})
    return pos


def _reason(pos: Position, order: Order) -> str:
    if order == "ENTRY":
        return "ENTRY" if pos.seq == 0 else "ENTRY_FILL"
    if isinstance(order, Protect):
        return ("SL" if order.step == 0 else "SL_TRAIL") if order.role == "SL" else f"TP_{order.step}"
    if isinstance(order, Working):
        return order.reason
    return "EXTERNAL"  # an order of this position sent by another service (S5 de-risking)


def _on_result(book: SymbolBook, r: OrderResult, ctx: Ctx) -> tuple[SymbolBook, list[Effect]]:
    pos = _find(book, r)
    old = pos
    if pos is None:
        if not r.fills or not _is_entry(book, r):
            return book, []
        pos = _open(book, r, ctx)
    was_open = pos.status == "OPEN"
    pos, effects = _apply(pos, r, ctx)
    if old is None:  # just opened: the lease S3 took runs from its decision; restart it now
        pos, renew = manage.renew_lease(pos, ctx, r.ts)
        effects.append(renew)
    if was_open and pos.status == "CLOSED":
        pos, fx = _close(pos, r.ts, r.intent_id)
        effects += fx
    elif not was_open and pos.status == "OPEN" and old is not None:
        pos, fx = protect.flatten(pos, r.ts, "ORPHAN_FILL")  # reopened by a late add-on fill
        effects += fx
    elif pos.status == "OPEN":
        pos, fx = protect.ensure(pos, ctx, r.ts, pos.last_price)
        effects += fx
    effects += _mirror(old, pos, ctx)
    plans = {k: v for k, v in book.plans.items() if k != pos.entry_intent_id}
    return book.with_position(pos).model_copy(update={"plans": plans}), effects


def _apply(pos: Position, r: OrderResult, ctx: Ctx) -> tuple[Position, list[Effect]]:
    order = _classify(pos, r.intent_id)
    effects: list[Effect] = []
    for fill in r.fills:
        if fill.trade_id in pos.trade_ids:
            continue
        increasing = r.side == pos.side
        if increasing and pos.status == "CLOSED":
            # an add-on filled after the close: reopen, so the exit below has something to close
            pos = pos.model_copy(update={"status": "OPEN", "closed_ts": None})
        reason = _reason(pos, order)
        pos, kind = apply_fill(pos, fill, increasing, from_entry=order == "ENTRY")
        pos = _credit(pos, order, ctx).model_copy(update={"ts": max(pos.ts, fill.ts)})
        if kind == "EXIT":
            pos = pos.model_copy(update={"status": "CLOSED", "closed_ts": fill.ts, "exit_reason": reason})
        pos, fx = emit(pos, kind, fill.ts, reason, fill.qty, fill.price)
        effects += fx
    if isinstance(order, Protect):
        pos, fx = protect.on_status(pos, order, r, r.ts)
        effects += fx
    elif isinstance(order, Working) and r.status.is_final:
        update: dict[str, Any] = {"working": tuple(w for w in pos.working if w.intent_id != order.intent_id)}
        if order.action == "ADD" and r.filled_qty == 0:
            update["adds_blocked"] = True  # refused (e.g. margin): not retried tick after tick
        pos = pos.model_copy(update=update)
    return pos, effects


def _close(pos: Position, ts: int, closing_intent: str) -> tuple[Position, list[Effect]]:
    """EXIT happened: cancel what is left, give the entry's reservation back, clear the mirror."""
    pos, effects = protect.cancel_all(pos, ts, "POSITION_CLOSED", spare=closing_intent)
    for work in pos.working_of("ADD"):  # an add-on is not reduce-only: it must not reopen
        effects.append(SendIntent(cancel(pos, work.intent_id, ts, "POSITION_CLOSED")))
    effects.append(ReleaseGate(pos_id=pos.pos_id, symbol=pos.symbol, reservation_id=pos.entry_intent_id))
    effects.append(Mirror(pos_id=pos.pos_id, clear=True))
    return pos, effects


def _mirror(old: Position | None, new: Position, ctx: Ctx) -> list[Effect]:
    if new.status == "CLOSED" or (old is not None and _mirror_key(old) == _mirror_key(new)):
        return []
    prices = [protect.rung_price(new, ctx, i) for i in range(len(ctx.cfg.tp))]
    return [
        Mirror(
            pos_id=new.pos_id,
            sl=sl_mirror(new),
            tp=tp_mirror(new, ctx.cfg, prices) if ctx.cfg.tp else None,
            adds=adds_mirror(new),
        )
    ]


def _mirror_key(pos: Position) -> tuple[object, ...]:
    orders = tuple((p.intent_id, p.status) for p in pos.protects)
    return (
        pos.status,
        pos.entry_px,
        pos.sl_price,
        pos.sl_step,
        orders,
        pos.tp_level,
        pos.adds,
        pos.adds_blocked,
    )


# ---- market, funding, plans -------------------------------------------------------------------
def _on_tick(book: SymbolBook, tick: Tick, ctx: Ctx) -> tuple[SymbolBook, list[Effect]]:
    if tick.ts <= book.last_ts:
        return book, []  # redelivered (or out of order): event time only moves forward
    cfg = ctx.cfg
    effects: list[Effect] = []
    positions: dict[str, Position] = {}
    for pid, pos in book.positions.items():
        if pos.closed_ts is not None and pos.closed_ts + cfg.closed_retention_ms < tick.ts:
            continue  # closed long enough ago that no result for it is still to come
        new, fx = manage.on_tick(pos, tick, ctx)
        positions[pid] = new
        effects += fx + _mirror(pos, new, ctx)
    plans = {k: p for k, p in book.plans.items() if p.ts + cfg.plan_ttl_ms >= tick.ts}
    update = {
        "last_price": tick.price,
        "last_mark": tick.mark or book.last_mark,
        "last_ts": tick.ts,
        "positions": positions,
        "plans": plans,
    }
    return book.model_copy(update=update), effects


def _on_funding(book: SymbolBook, ev: FundingEvent) -> tuple[SymbolBook, list[Effect]]:
    effects: list[Effect] = []
    for pos in book.positions.values():
        if not pos.is_open or pos.market is not Market.FUT:
            continue
        if ev.funding_time <= pos.funding_time or pos.opened_ts >= ev.funding_time:
            continue  # settled already, or opened after the settlement
        mark = ev.mark_price or book.last_mark or book.last_price or pos.avg
        paid = funding_paid(pos.sign, pos.qty, mark, ev.rate)
        pos = pos.model_copy(
            update={"funding": pos.funding + paid, "funding_time": ev.funding_time, "ts": max(pos.ts, ev.ts)}
        )
        pos, row = snapshot(pos, ev.ts)
        effects.append(row)
        book = book.with_position(pos)
    return book, effects


def _on_plan(book: SymbolBook, ev: EntryPlanned) -> SymbolBook:
    if any(p.entry_intent_id == ev.entry_intent_id for p in book.positions.values()):
        return book  # the entry filled before its plan arrived: the position runs on defaults
    plan = Plan(
        entry_intent_id=ev.entry_intent_id,
        signal_id=ev.signal_id,
        side=ev.side,
        sl_mult=ev.sl_mult,
        tp_mult=ev.tp_mult,
        max_adds_override=ev.max_adds_override,
        ts=ev.ts,
    )
    return book.model_copy(update={"plans": {**book.plans, ev.entry_intent_id: plan}})
