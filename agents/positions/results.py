"""Order results of a position: fills (OPEN / ADD / PARTIAL_EXIT / EXIT), the order's new state,
and what follows — protection ensured while open; at the close, leftovers cancelled, the gate
released and the mirror cleared. The first fill of an entry intent opens the position."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agents.positions import manage, protect
from agents.positions.context import Ctx
from agents.positions.events import Effect, Mirror, ReleaseGate, SendIntent
from agents.positions.fills import apply_fill
from agents.positions.intents import ENTRY_LEG, cancel, pos_id_for
from agents.positions.records import emit, mirror_effects
from agents.positions.state import Position, Protect, SymbolBook, Working
from chimera.model import Market, intent_id_for
from topics.trading import OrderResult

Order = Protect | Working | str  # str: "ENTRY" or "OTHER"


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


def on_result(book: SymbolBook, r: OrderResult, ctx: Ctx) -> tuple[SymbolBook, list[Effect]]:
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
    effects += mirror_effects(old, pos, ctx)
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
