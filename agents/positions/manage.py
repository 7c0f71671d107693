"""The management tick (spec S6.1, B3): ROE, liquidation distance, and what to do about them.

In order, at the tick's event time and last price (the mark, when the venue sends one, for the
liquidation distance):

1. liquidation guard: the mark within ``liq_guard_distance`` of the estimated liquidation price
   -> close at market (LIQ_GUARD);
2. stagnation: older than ``after_ms`` with |ROE| under ``max_abs_roe`` -> STAGNATED (once), and
   close at market (TIME_STOP) when configured;
3. take-profit rungs before the last: excursion ≥ trigger × tp_mult -> a reduce-only market exit
   of ``fraction`` × the open quantity at the first rung, on the lot grid (the last rung is the
   resting TAKE_PROFIT order placed at open, which closes what is left);
4. trailing stop: the highest step whose trigger the excursion reached; if it is above the current
   stop's step, place the new stop at its lock level (make-before-break, ``protect.py``);
5. add-ons: the k-th add (k from 0) at excursion ≥ trigger × (k + 1), while adds < max, before
   any take-profit, and with the mark far enough from liquidation;
6. re-check protection (a stop that was refused or lost is placed again), a snapshot row every
   ``snapshot_every_ms``, and the entry gate's lease renewed every ``gate_renew_every_ms``.

Excursions are measured from the current average entry. One order of each kind is in flight at a
time; a tick older than the last one seen changes nothing (a redelivery).

A tick whose prices reach one of the position's own resting exits (a stop or the final target at
the venue: LIVE, or CANCELING and still resting) changes nothing for that position either: the venue
saw those prices first and that order's fill decides what is left. Acting on the tick would trail a
stop, take a rung or add to a position the venue may have closed already — and whether S6 heard of
the fill first is a matter of transport (in-process S6 gets the venue's results of a batch before
the batch, on Kafka one hop after it), which must not change a decision.
"""

from __future__ import annotations

from decimal import Decimal

from agents.positions import intents, protect
from agents.positions.context import Ctx
from agents.positions.events import Effect, RenewGate, SendIntent, Tick
from agents.positions.levels import (
    better_stop,
    excursion,
    is_through,
    level,
    liquidation_distance,
    liquidation_price,
    roe,
    stop_price,
)
from agents.positions.records import emit, snapshot
from agents.positions.state import Position, Working
from chimera.model import round_to_step


def on_tick(pos: Position, tick: Tick, ctx: Ctx) -> tuple[Position, list[Effect]]:
    if not pos.is_open or tick.ts <= pos.tick_ts or exit_reached(pos, tick):
        return pos, []
    pos = pos.model_copy(
        update={
            "last_price": tick.price,
            "last_mark": tick.mark or pos.last_mark,
            "tick_ts": tick.ts,
            "ts": tick.ts,
        }
    )
    effects: list[Effect] = []
    if not pos.working_of("EXIT"):
        pos, effects = _decide(pos, tick, ctx)
    pos, fx = protect.ensure(pos, ctx, tick.ts, tick.price)
    effects += fx
    if tick.ts - pos.snap_ts >= ctx.cfg.snapshot_every_ms:
        pos, row = snapshot(pos, tick.ts)
        effects.append(row)
    if tick.ts - pos.renewed_ts >= ctx.cfg.gate_renew_every_ms:
        pos, renew = renew_lease(pos, ctx, tick.ts)
        effects.append(renew)
    return pos, effects


def exit_reached(pos: Position, tick: Tick) -> bool:
    """Did the tick trade at or through a resting stop (against us) or final target (for us)?"""
    prices = tick.range()
    for p in pos.protects:
        if p.status == "PENDING":
            continue  # not at the venue yet: nothing of it can fill
        sign = pos.sign if p.role == "SL" else -pos.sign  # a target is a stop the other way round
        if any(is_through(sign, p.price, x) for x in prices):
            return True
    return False


def renew_lease(pos: Position, ctx: Ctx, ts: int) -> tuple[Position, RenewGate]:
    renew = RenewGate(pos.pos_id, pos.symbol, pos.entry_intent_id, ctx.cfg.gate_lease_ttl_ms)
    return pos.model_copy(update={"renewed_ts": ts}), renew


def _decide(pos: Position, tick: Tick, ctx: Ctx) -> tuple[Position, list[Effect]]:
    cfg = ctx.cfg
    mark = tick.mark or pos.last_mark or tick.price
    liq = liquidation_price(pos.sign, pos.avg, pos.leverage, cfg.maintenance_margin_rate)
    distance = liquidation_distance(pos.sign, mark, liq)
    if distance < cfg.liq_guard_distance:
        return protect.flatten(pos, tick.ts, "LIQ_GUARD")
    effects: list[Effect] = []
    stag = cfg.stagnation
    if (
        stag is not None
        and not pos.stagnated
        and tick.ts - pos.opened_ts >= stag.after_ms
        and abs(roe(pos.sign, pos.avg, tick.price, pos.leverage)) < stag.max_abs_roe
    ):
        pos, effects = emit(pos.model_copy(update={"stagnated": True}), "STAGNATED", tick.ts, "STAGNATION")
        if stag.exit:
            pos, fx = protect.flatten(pos, tick.ts, "TIME_STOP")
            return pos, effects + fx
    x = excursion(cfg.unit, pos.sign, pos.avg, tick.price, pos.leverage, pos.atr)
    if x is None:
        return pos, effects
    for rule in (_take_profit, _trail, _add_on):
        pos, fx = rule(pos, tick, ctx, x, distance)
        effects += fx
    return pos, effects


def _take_profit(
    pos: Position, tick: Tick, ctx: Ctx, x: Decimal, _: Decimal
) -> tuple[Position, list[Effect]]:
    rungs, inst = ctx.cfg.tp, ctx.instrument
    k = pos.tp_level  # index of the next rung
    if k >= len(rungs) - 1 or pos.working_of("TP") or x < rungs[k].trigger * pos.tp_mult:
        return pos, []
    base = pos.tp_base if pos.tp_base > 0 else pos.qty
    qty = round_to_step(rungs[k].fraction * base, inst.lot_size)
    if qty < inst.min_qty:  # too small to split: this rung's share stays for the next ones
        return pos.model_copy(update={"tp_level": k + 1, "tp_base": base}), []
    if pos.qty - qty < inst.min_qty:  # would leave dust the venue cannot close: take it all
        qty = pos.qty
    pos, intent = intents.market(pos, "tp", k + 1, qty, tick.ts, f"TP_{k + 1}")
    work = Working(intent_id=intent.intent_id, action="TP", step=k + 1, qty=qty, reason=f"TP_{k + 1}")
    return pos.model_copy(update={"working": (*pos.working, work), "tp_base": base}), [SendIntent(intent)]


def _trail(pos: Position, tick: Tick, ctx: Ctx, x: Decimal, _: Decimal) -> tuple[Position, list[Effect]]:
    steps = ctx.cfg.trail
    reached = max((i + 1 for i, s in enumerate(steps) if x >= s.trigger), default=0)
    if reached <= max(pos.sl_step, pos.sl_failed_step) or pos.sl_price is None:
        return pos, []
    if any(p.status == "PENDING" for p in pos.of_role("SL")):
        return pos, []  # one replacement at a time; the next tick looks again
    raw = level(ctx.cfg.unit, pos.sign, pos.avg, steps[reached - 1].lock, pos.leverage, pos.atr)
    if raw is None:
        return pos, []
    px = stop_price(pos.sign, raw, ctx.instrument.tick_size)
    if px <= 0 or not better_stop(pos.sign, px, pos.sl_price) or is_through(pos.sign, px, tick.price):
        return pos, []
    return protect.request(pos, "SL", px, pos.qty, reached, tick.ts, "SL_TRAIL")


def _add_on(
    pos: Position, tick: Tick, ctx: Ctx, x: Decimal, distance: Decimal
) -> tuple[Position, list[Effect]]:
    rule, inst = ctx.cfg.add_on, ctx.instrument
    if (
        pos.adds >= pos.max_adds
        or pos.adds_blocked
        or pos.tp_level > 0
        or pos.working
        or x < rule.trigger * (pos.adds + 1)
        or distance < rule.min_liq_distance
    ):
        return pos, []
    qty = round_to_step(rule.size_fraction * pos.entry_qty, inst.lot_size)
    if qty < inst.min_qty or qty * tick.price < inst.min_notional:
        return pos.model_copy(update={"adds_blocked": True}), []  # this entry is too small to add to
    step = pos.adds + 1
    pos, intent = intents.market(pos, "add", step, qty, tick.ts, "ADD_ON")
    work = Working(intent_id=intent.intent_id, action="ADD", step=step, qty=qty, reason="ADD_ON")
    return pos.model_copy(update={"working": (*pos.working, work)}), [SendIntent(intent)]
