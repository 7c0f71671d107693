"""``sl_tp`` (futures): the protective legs of a position as reduce-only conditional orders.

STOP_MARKET at ``sl_price`` and TAKE_PROFIT_MARKET at ``tp_price`` (either may be absent), both
``reduce_only`` with the intent's quantity: the venue caps each fill at the open position and
refuses or expires a leg that would open or flip one, so neither can ever grow a position —
also when the position is already closed (refused, -2022) or closes before the stop fires
(expired at trigger). Futures legs are not linked at the venue: when one fills, the router
cancels the other. ``strategy_events(TP_SL_PLACED)`` is written once the venue answered for
every leg and at least one is working.
"""

from __future__ import annotations

from dataclasses import replace

from agents.connectors.port import OrderRequest
from agents.router.execution import Exec, Step, StyleEffect, View, request
from agents.router.messages import CancelOrder, Place, Record
from agents.router.styles.base import Style, finish_when_all_final
from agents.router.tracks import Track
from chimera.model import OrderStatus, OrderType
from topics.trading import OrderIntent, OrderResult

SL, TP = "sl", "tp"


def leg_requests(intent: OrderIntent) -> list[tuple[str, OrderRequest]]:
    out = []
    for role, stop, type_ in (
        (SL, intent.sl_price, OrderType.STOP_MARKET),
        (TP, intent.tp_price, OrderType.TAKE_PROFIT_MARKET),
    ):
        if stop is not None:
            out.append((role, request(intent, role, type_, intent.qty, stop=stop, reduce_only=True)))
    return out


class SlTp(Style):
    name = "sl_tp"

    def first(self, intent: OrderIntent, v: View) -> OrderRequest:
        return leg_requests(intent)[0][1]

    def start(self, x: Exec, v: View) -> Step:
        effects: list[StyleEffect] = [Place(req, x.intent, role) for role, req in leg_requests(x.intent)]
        return replace(x, phase="placing"), effects

    def on_result(self, x: Exec, track: Track, result: OrderResult, v: View) -> Step:
        tracks = v.of(x)
        effects: list[StyleEffect] = []
        if not x.recorded and all(t.last is not None for t in tracks):
            working = [t for t in tracks if t.last is not None and not t.last.status.is_final]
            if working:
                x = replace(x, recorded=True)
                effects.append(self._placed(x, tracks, v.now))
        if result.status is OrderStatus.FILLED:
            effects += [
                CancelOrder(t.intent.market, t.intent.symbol, t.cid)
                for t in tracks
                if t.cid != track.cid and t.open and not t.cancel_requested
            ]
        return finish_when_all_final(x, v), effects

    def _placed(self, x: Exec, tracks: list[Track], now: int) -> Record:
        legs = [
            {
                "client_order_id": t.cid,
                "role": t.role,
                "type": t.type.value,
                "stop_price": str(t.stop_price),
                "qty": str(t.qty),
                "status": t.last.status.value if t.last else None,
            }
            for t in tracks
        ]
        return Record(
            "TP_SL_PLACED",
            x.intent.symbol,
            x.intent.intent_id,
            now,
            x.intent.pos_id,
            x.intent.signal_id,
            {"legs": legs, "reduce_only": True},
        )
