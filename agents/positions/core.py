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

from decimal import ROUND_HALF_EVEN, Context, DivisionByZero, InvalidOperation, Overflow, localcontext

from agents.positions import manage
from agents.positions.context import Ctx
from agents.positions.events import AtrSeen, Effect, EntryPlanned, Event, Tick
from agents.positions.fills import funding_paid
from agents.positions.records import mirror_effects, snapshot
from agents.positions.results import on_result
from agents.positions.state import Plan, Position, SymbolBook
from chimera.model import Market
from topics.market import FundingEvent
from topics.trading import OrderResult

# every step runs in this context, whatever the caller's thread set (ccxt switches it)
EXACT = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


def empty(symbol: str) -> SymbolBook:
    return SymbolBook(symbol=symbol)


def step(book: SymbolBook, event: Event, ctx: Ctx) -> tuple[SymbolBook, list[Effect]]:
    """Apply one event to the symbol's book; return the new book and the effects, in order."""
    if event.symbol != book.symbol or ctx.instrument.symbol != book.symbol:
        raise ValueError(f"book {book.symbol}: event for {event.symbol}, instrument {ctx.instrument.symbol}")
    with localcontext(EXACT):
        if isinstance(event, OrderResult):
            return on_result(book, event, ctx)
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
        effects += fx + mirror_effects(pos, new, ctx)
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
