"""``oco`` (spot): a native OCO list, TAKE-PROFIT LIMIT_MAKER above and STOP_LOSS_LIMIT below.

A BUY intent is an entry: it takes first (MARKET, or LIMIT IOC at its worst price), then protects
what it bought with a SELL list. A SELL intent protects a holding: the list is placed at once.
The venue ends the other leg when one executes; the router only reports both legs.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from agents.connectors.port import OcoRequest, OrderRequest
from agents.router.execution import DONE, Exec, Step, View, cid, request, taker
from agents.router.messages import Place, PlaceOco
from agents.router.pricing import lots, stop_limit
from agents.router.styles.base import Style, finish_when_all_final
from agents.router.tracks import Track
from chimera.model import OrderType, Side, TimeInForce
from topics.trading import OrderIntent, OrderResult

LIST, TP, SL, ENTRY = "L", "tp", "sl", "e"


def oco_request(intent: OrderIntent, qty: Decimal, v: View) -> OcoRequest:
    assert intent.tp_price is not None and intent.sl_price is not None  # the intent's own validation
    limit = intent.sl_limit_price
    if limit is None:
        limit = stop_limit(Side.SELL, intent.sl_price, v.ctx.params.oco_stop_limit_bps, v.inst)
    return OcoRequest(
        symbol=intent.symbol,
        side=Side.SELL,
        qty=qty,
        list_client_order_id=cid(intent, LIST),
        limit_client_order_id=cid(intent, TP),
        stop_client_order_id=cid(intent, SL),
        price=intent.tp_price,
        stop_price=intent.sl_price,
        stop_limit_price=limit,
    )


def legs(req: OcoRequest, intent: OrderIntent) -> tuple[OrderRequest, OrderRequest]:
    """The two orders the venue makes of a list (as ``simvenue.orders.oco_legs`` and Binance do)."""
    tp = request(
        intent, TP, OrderType.LIMIT_MAKER, req.qty, side=req.side, price=req.price, reduce_only=False
    )
    sl = request(
        intent,
        SL,
        OrderType.STOP_LOSS_LIMIT,
        req.qty,
        side=req.side,
        price=req.stop_limit_price,
        stop=req.stop_price,
        tif=TimeInForce.GTC,
        reduce_only=False,
    )
    return tp, sl


def holding(track: Track, base: str) -> Decimal:
    """What an entry left us holding: its fills, less any fee the venue took in the base asset."""
    last = track.last
    if last is None:
        return Decimal(0)
    return last.filled_qty - (last.fee if last.fee_asset == base else Decimal(0))


class Oco(Style):
    name = "oco"

    def first(self, intent: OrderIntent, v: View) -> OrderRequest:
        if intent.side is Side.SELL:
            return legs(oco_request(intent, intent.qty, v), intent)[0]
        return taker(intent, ENTRY, intent.qty, v.book, v.inst)

    def start(self, x: Exec, v: View) -> Step:
        if x.intent.side is Side.SELL:
            return self._protect(x, v, x.intent.qty)
        req = taker(x.intent, ENTRY, x.intent.qty, v.book, v.inst)
        return replace(x, phase="entering", current=req.client_order_id), [Place(req, x.intent, "entry")]

    def _protect(self, x: Exec, v: View, qty: Decimal) -> Step:
        qty = lots(qty, v.inst)
        if qty == 0 or x.cancelled:
            return replace(x, phase=DONE), []
        return replace(x, phase="protecting"), [PlaceOco(oco_request(x.intent, qty, v), x.intent)]

    def on_result(self, x: Exec, track: Track, result: OrderResult, v: View) -> Step:
        if track.role == "entry":
            if not result.status.is_final:
                return x, []
            return self._protect(x, v, holding(track, v.inst.base))
        return finish_when_all_final(x, v), []
