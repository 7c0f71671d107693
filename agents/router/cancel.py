"""``CancelIntent`` (the spec's ``/cancel``): stop the target's execution, cancel its working
orders, record ``strategy_events(CANCEL)`` once the venue confirms them over, and with
``flatten`` close what the target had filled with a market order the other way (reduce-only on
futures). A cancel is never blocked by the kill switch: it only ever lowers exposure.

A cancel is an execution of its own (keyed by its ``intent_id``), whose orders are the flatten
order, ``client_order_id_for(cancel.intent_id, "flat")``.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from agents.router.execution import DONE, Exec, is_exit, request
from agents.router.messages import CancelOrder, Count, Emit, Intake, Place, Record
from agents.router.pricing import lots
from agents.router.tracks import Track
from chimera.model import Market, OrderType
from topics.trading import CancelIntent, OrderIntent

if TYPE_CHECKING:
    from agents.router.core import _Work

CANCELLING, FLATTENING = "cancelling", "flattening"


def _flatten_intent(c: CancelIntent, target: OrderIntent) -> OrderIntent:
    return OrderIntent(
        intent_id=c.intent_id,
        signal_id=target.signal_id,
        pos_id=target.pos_id,
        symbol=c.symbol,
        market=c.market,
        side=target.side.opposite(),
        qty=target.qty,
        exec="market",
        reduce_only=c.market is Market.FUT,
        ts=c.ts,
        source=c.source,
        reason=c.reason or "FLATTEN",
    )


def start(w: _Work, c: CancelIntent) -> None:
    known = w.execs.get(c.intent_id)
    if known is not None:  # redelivered while still working
        w.out.append(Count("intent_redelivered"))
        w.out += [Emit(t.last) for t in (w.tracks.get(i) for i in known.cids) if t and t.last]
        return
    w.out.append(Intake(c.intent_id, None))
    target = w.execs.get(c.target_intent_id)
    if target is None or target.target is not None or target.done:
        payload = {"cancel_intent_id": c.intent_id, "found": False, "flatten": c.flatten, "orders": []}
        w.out.append(Record("CANCEL", c.symbol, c.target_intent_id, c.ts, payload=payload, key=c.intent_id))
        return
    new_target, effects = w.style(target).on_cancel(target, w.view(target.intent), c.client_order_id)
    asked = {e.client_order_id for e in effects if isinstance(e, CancelOrder)}
    pending = tuple(
        t.cid
        for t in (w.tracks[i] for i in target.cids if i in w.tracks)
        if t.open and (t.cid in asked or (t.cancel_requested and c.client_order_id in (None, t.cid)))
    )
    cx = Exec(
        _flatten_intent(c, target.intent),
        phase=CANCELLING,
        target=target.intent.intent_id,
        pending=pending,
        flatten=c.flatten,
    )
    w.execs[c.intent_id] = cx  # first: the target is not forgotten while this cancel waits on it
    w._run(target, new_target, effects)
    progress(w, w.execs[c.intent_id])


def _net_filled(target: Exec, tracks: list[Track]) -> Decimal:
    """What the target's orders left open in its own direction (entries less protective exits)."""
    side = target.intent.side
    return sum((t.filled if t.side is side else -t.filled for t in tracks), Decimal(0))


def progress(w: _Work, cx: Exec) -> None:
    if cx.phase != CANCELLING or any(w.tracks[i].open for i in cx.pending if i in w.tracks):
        return
    assert cx.target is not None
    target = w.execs.get(cx.target)
    tracks = [] if target is None else [w.tracks[i] for i in target.cids if i in w.tracks]
    net = Decimal(0) if target is None or is_exit(target.intent) else _net_filled(target, tracks)
    payload = {
        "cancel_intent_id": cx.intent.intent_id,
        "found": True,
        "flatten": cx.flatten,
        "net_filled": str(net),
        "orders": [
            {
                "client_order_id": t.cid,
                "status": t.last.status.value if t.last else None,
                "filled_qty": str(t.filled),
            }
            for t in tracks
        ],
    }
    w.out.append(
        Record(
            "CANCEL",
            cx.intent.symbol,
            cx.target,
            w.now,
            cx.intent.pos_id,
            cx.intent.signal_id,
            payload,
            key=cx.intent.intent_id,
        )
    )
    qty = lots(net, w.view(cx.intent).inst) if net > 0 and cx.flatten else Decimal(0)
    if qty == 0:
        w.execs[cx.intent.intent_id] = replace(cx, phase=DONE)
        w._cleanup(w.execs[cx.intent.intent_id])
        w._cleanup(target)
        return
    intent = cx.intent.model_copy(update={"qty": qty})
    req = request(intent, "flat", OrderType.MARKET, qty)
    flattening = replace(cx, intent=intent, phase=FLATTENING)
    w._run(flattening, flattening, [Place(req, intent, "flatten")])


def on_own_result(w: _Work, cx: Exec, track: Track) -> None:
    if track.role == "flatten" and track.final:
        w.execs[cx.intent.intent_id] = done = replace(cx, phase=DONE)
        w._cleanup(done)
        if cx.target is not None:
            w._cleanup(w.execs.get(cx.target))


def on_target_result(w: _Work, track: Track) -> None:
    for cx in list(w.execs.values()):
        if cx.target == track.intent.intent_id and cx.phase == CANCELLING:
            progress(w, cx)
