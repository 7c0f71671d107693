"""What every execution style answers; the defaults fit a style whose orders just run their course."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from agents.connectors.port import OrderRequest
from agents.router.execution import DONE, Exec, Step, StyleEffect, View
from agents.router.messages import CancelOrder
from agents.router.tracks import Track
from chimera.model import ClientOrderId
from topics.trading import OrderIntent, OrderResult


class Style:
    name = "base"

    def first(self, intent: OrderIntent, v: View) -> OrderRequest:
        """The order an intent starts with: the one reported REJECTED when the router refuses it."""
        raise NotImplementedError

    def check(self, intent: OrderIntent, v: View) -> str | None:
        """Why the intent cannot be executed in this style now (a REJECTED reason), or None."""
        return None

    def start(self, x: Exec, v: View) -> Step:
        raise NotImplementedError

    def on_result(self, x: Exec, track: Track, result: OrderResult, v: View) -> Step:
        return finish_when_all_final(x, v), []

    def on_tick(self, x: Exec, v: View, trade: Decimal | None) -> Step:
        return x, []

    def on_cancel(self, x: Exec, v: View, only: ClientOrderId | None) -> Step:
        """Stop deciding for the intent and cancel its working orders (one, when ``only`` names it)."""
        effects: list[StyleEffect] = [
            CancelOrder(t.intent.market, t.intent.symbol, t.cid)
            for t in v.of(x)
            if t.open and not t.cancel_requested and only in (None, t.cid)
        ]
        x = replace(x, cancelled=True)
        return finish_when_all_final(x, v), effects


def finish_when_all_final(x: Exec, v: View) -> Exec:
    tracks = v.of(x)
    if tracks and all(t.final for t in tracks):
        return replace(x, phase=DONE)
    return x
