"""Protective orders — the stop (SL) and the final take-profit (TP) — replaced make-before-break.

Choice: to move a stop, S6 first places the new stop and cancels the old one only once the venue
has acknowledged the new one (NEW). Cancel-then-place would leave the position with no stop at
the venue from the cancel's acknowledgement until the new stop is accepted (a round trip to S4
and the venue, unbounded if the new one is refused). During the overlap two reduce-only stops
rest; if both fire, the second finds nothing to reduce and expires: it cannot flip the position.

The invariant, checked by :func:`protection` and by tests at every step: from the moment the
first stop is acknowledged until the position closes, at least one stop is LIVE. A cancel is
emitted for a stop only when a newer stop of the same role is LIVE (``_supersede`` asserts it).
A stop the venue refused is retried (``max_protect_retries``), and if none can be placed — or
the price is already through the stop's level — the position is closed at market.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from agents.positions import intents
from agents.positions.context import Ctx
from agents.positions.events import Effect, SendIntent
from agents.positions.levels import is_through, level, stop_price, target_price
from agents.positions.state import Position, Protect, Role, Working
from topics.trading import OrderResult

Protection = Literal["CLOSED", "NONE", "PLACING", "LIVE"]


def protection(pos: Position) -> Protection:
    """CLOSED (nothing to protect), LIVE (a stop is acknowledged), PLACING (one is on its way) or NONE."""
    if not pos.is_open:
        return "CLOSED"
    stops = pos.of_role("SL")
    if any(p.status == "LIVE" for p in stops):
        return "LIVE"
    return "PLACING" if any(p.status == "PENDING" for p in stops) else "NONE"


def initial_sl(pos: Position, ctx: Ctx) -> Decimal:
    """``initial_sl_atr × sl_mult × ATR`` from the average entry, or ``initial_sl_roe × sl_mult``
    of ROE when no ATR is known; on the tick, never tighter, never below one tick."""
    cfg, tick = ctx.cfg, ctx.instrument.tick_size
    if pos.atr is not None and pos.atr > 0:
        raw = pos.avg - pos.sign * cfg.initial_sl_atr * pos.sl_mult * pos.atr
    else:
        raw = pos.avg * (1 - pos.sign * cfg.initial_sl_roe * pos.sl_mult / pos.leverage)
    return max(stop_price(pos.sign, raw, tick), tick)


def rung_price(pos: Position, ctx: Ctx, index: int) -> Decimal | None:
    """The price of take-profit rung ``index`` from the current average entry (None: no ATR)."""
    cfg = ctx.cfg
    raw = level(cfg.unit, pos.sign, pos.avg, cfg.tp[index].trigger * pos.tp_mult, pos.leverage, pos.atr)
    return None if raw is None else target_price(pos.sign, raw, ctx.instrument.tick_size)


def request(
    pos: Position, role: Role, price: Decimal, qty: Decimal, step: int, ts: int, reason: str
) -> tuple[Position, list[Effect]]:
    pos, intent = intents.protective(pos, role, price, qty, step, ts, reason)
    prot = Protect(
        role=role,
        intent_id=intent.intent_id,
        price=price,
        qty=qty,
        step=step,
        status="PENDING",
        reason=reason,
    )
    return pos.model_copy(update={"protects": (*pos.protects, prot)}), [SendIntent(intent)]


def _replace(pos: Position, old: Protect, new: Protect | None) -> Position:
    """Swap ``old`` for ``new`` in place (None: drop it); the list stays oldest first."""
    swapped = (new if p.intent_id == old.intent_id else p for p in pos.protects)
    return pos.model_copy(update={"protects": tuple(p for p in swapped if p is not None)})


def _cancel(pos: Position, prot: Protect, ts: int, reason: str) -> tuple[Position, list[Effect]]:
    if prot.status == "CANCELING":
        return pos, []
    pos = _replace(pos, prot, prot.model_copy(update={"status": "CANCELING"}))
    return pos, [SendIntent(intents.cancel(pos, prot.intent_id, ts, reason))]


def _supersede(pos: Position, newest: Protect, ts: int) -> tuple[Position, list[Effect]]:
    """Cancel the older LIVE orders of ``newest``'s role, now that ``newest`` is LIVE."""
    assert newest.status == "LIVE" and newest in pos.protects, "a stop is cancelled only behind a LIVE one"
    effects: list[Effect] = []
    for old in [
        p for p in pos.of_role(newest.role) if p.status == "LIVE" and p.intent_id != newest.intent_id
    ]:
        pos, fx = _cancel(pos, old, ts, f"{newest.role}_REPLACED")
        effects += fx
    return pos, effects


def cancel_all(pos: Position, ts: int, reason: str, spare: str = "") -> tuple[Position, list[Effect]]:
    """The position is closed: cancel every protective order still resting or on its way, but
    ``spare``, the order whose fill closed it (what is left of it expires: it is reduce-only)."""
    effects: list[Effect] = []
    for prot in [p for p in pos.protects if p.intent_id != spare]:
        pos, fx = _cancel(pos, prot, ts, reason)
        effects += fx
    return pos, effects


def on_status(pos: Position, prot: Protect, result: OrderResult, ts: int) -> tuple[Position, list[Effect]]:
    """The venue's word on one protective order: acknowledged, or ended (filled, cancelled, refused)."""
    if not result.status.is_final:
        if prot.status != "PENDING":
            return pos, []
        live = prot.model_copy(update={"status": "LIVE", "qty": result.qty or prot.qty})
        pos = _replace(pos, prot, live)
        if not pos.is_open:  # acknowledged after the position closed
            return _cancel(pos, live, ts, "POSITION_CLOSED")
        update: dict[str, object] = {"retries": {**pos.retries, prot.role: 0}}
        if prot.role == "SL":
            update.update(sl_price=live.price, sl_step=live.step)
        return _supersede(pos.model_copy(update=update), live, ts)
    pos = _replace(pos, prot, None)
    if prot.status == "PENDING":  # refused (or expired) before it ever rested
        retries = {**pos.retries, prot.role: pos.retries.get(prot.role, 0) + 1}
        failed = (
            max(pos.sl_failed_step, prot.step) if prot.role == "SL" and prot.step > 0 else pos.sl_failed_step
        )
        pos = pos.model_copy(update={"retries": retries, "sl_failed_step": failed})
    return pos, []


def flatten(pos: Position, ts: int, reason: str) -> tuple[Position, list[Effect]]:
    """Close what is open at market, reduce-only (once: not while another exit is on its way)."""
    if not pos.is_open or pos.working_of("EXIT"):
        return pos, []
    pos, intent = intents.market(pos, "exit", 0, pos.qty, ts, reason)
    work = Working(intent_id=intent.intent_id, action="EXIT", step=0, qty=pos.qty, reason=reason)
    return pos.model_copy(update={"working": (*pos.working, work)}), [SendIntent(intent)]


def ensure(pos: Position, ctx: Ctx, ts: int, price: Decimal | None) -> tuple[Position, list[Effect]]:
    """Make sure an open position has a stop (and its final take-profit) covering all of it."""
    if not pos.is_open:
        return pos, []
    pos, effects = _ensure_stop(pos, ctx, ts, price)
    if ctx.cfg.tp:
        pos, fx = _ensure_target(pos, ctx, ts, price)
        effects += fx
    return pos, effects


def _ensure_stop(pos: Position, ctx: Ctx, ts: int, price: Decimal | None) -> tuple[Position, list[Effect]]:
    stops = [p for p in pos.of_role("SL") if p.status in ("PENDING", "LIVE")]
    if not stops:
        px = pos.sl_price if pos.sl_price is not None else initial_sl(pos, ctx)
        if price is not None and is_through(pos.sign, px, price):
            return flatten(pos, ts, "SL_BREACHED")
        if pos.retries.get("SL", 0) > ctx.cfg.max_protect_retries:
            return flatten(pos, ts, "SL_REFUSED")
        first = pos.sl_price is None and not pos.retries.get("SL")
        return request(pos, "SL", px, pos.qty, pos.sl_step, ts, "SL" if first else "SL_REPLACE")
    live = [p for p in stops if p.status == "LIVE"]
    if len(live) == len(stops) and max(p.qty for p in live) < pos.qty:
        assert pos.sl_price is not None
        return request(pos, "SL", pos.sl_price, pos.qty, pos.sl_step, ts, "SL_RESIZE")
    return pos, []


def _ensure_target(pos: Position, ctx: Ctx, ts: int, price: Decimal | None) -> tuple[Position, list[Effect]]:
    n = len(ctx.cfg.tp)
    targets = [p for p in pos.of_role("TP") if p.status in ("PENDING", "LIVE")]
    if pos.retries.get("TP", 0) > ctx.cfg.max_protect_retries or any(p.status == "PENDING" for p in targets):
        return pos, []
    live_qty = max((p.qty for p in targets), default=None)
    if live_qty is not None and live_qty >= pos.qty:
        return pos, []
    px = rung_price(pos, ctx, n - 1)
    if px is None:
        return pos, []
    if price is not None and is_through(-pos.sign, px, price):  # the target is already passed
        return flatten(pos, ts, f"TP_{n}")
    return request(pos, "TP", px, pos.qty, n, ts, f"TP_{n}" if live_qty is None else "TP_RESIZE")
