"""``market``: one taking order (MARKET, or LIMIT IOC at the intent's worst price / slippage budget)."""

from __future__ import annotations

from dataclasses import replace

from agents.connectors.port import OrderRequest
from agents.router.execution import Exec, Step, View, taker
from agents.router.messages import Place
from agents.router.styles.base import Style
from topics.trading import OrderIntent


class Market(Style):
    name = "market"

    def first(self, intent: OrderIntent, v: View) -> OrderRequest:
        return taker(intent, 0, intent.qty, v.book, v.inst)

    def start(self, x: Exec, v: View) -> Step:
        req = self.first(x.intent, v)
        return replace(x, phase="working", current=req.client_order_id), [Place(req, x.intent, "main")]
