"""``maker_taker``: post-only at our side's best price, re-priced (a bounded number of times) when
the book moves away, then cancelled and taken at market once ``maker_wait_ms`` has passed.

Each re-price is cancel-then-place: the new maker order is sent only once the venue confirms the
old one is over, so its size is exactly what is left. The wait counts from the intent's event
time; an intent without ``maker_wait_ms`` takes the parameters' wait at the current health.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from agents.connectors.port import OrderRequest
from agents.router.execution import DONE, Exec, Step, StyleEffect, View, is_exit, post_only, taker
from agents.router.messages import CancelOrder, Count, Place
from agents.router.pricing import lots, maker_price, tradable
from agents.router.styles.base import Style
from agents.router.tracks import Track
from chimera.model import OrderStatus, Side
from topics.trading import OrderIntent, OrderResult

MAKING, REPRICING, TO_TAKER, TAKING = "maker", "repricing", "to_taker", "taker"


def moved_away(side: Side, ours: Decimal, now: Decimal, min_move: Decimal) -> bool:
    """A buy is left behind when the bid rises above it; a sell when the ask falls below it."""
    return now - ours >= min_move if side is Side.BUY else ours - now >= min_move


class MakerTaker(Style):
    name = "maker_taker"

    def first(self, intent: OrderIntent, v: View) -> OrderRequest:
        price = maker_price(intent.side, v.book, v.inst, intent.limit_price)
        if price is None:
            return taker(intent, "t", intent.qty, v.book, v.inst)
        return post_only(intent, "m0", intent.qty, price)

    def start(self, x: Exec, v: View) -> Step:
        wait = x.intent.maker_wait_ms
        if wait is None:
            wait = v.ctx.params.maker_wait_for(v.ctx.health)
        deadline = x.intent.ts + wait
        x = replace(x, deadline=deadline)
        price = maker_price(x.intent.side, v.book, v.inst, x.intent.limit_price)
        if price is None or v.now >= deadline:
            return self._take(x, v, x.intent.qty)
        return self._make(x, x.intent.qty, price)

    def _make(self, x: Exec, qty: Decimal, price: Decimal) -> Step:
        req = post_only(x.intent, f"m{x.makers}", qty, price)
        x = replace(x, phase=MAKING, current=req.client_order_id, makers=x.makers + 1)
        return x, [Place(req, x.intent, "maker")]

    def _take(self, x: Exec, v: View, left: Decimal) -> Step:
        qty = lots(left, v.inst)
        if x.cancelled or not tradable(qty, v.book.mid, v.inst):
            return replace(x, phase=DONE), [] if x.cancelled else [Count("dust_left")]
        if v.ctx.kill_switch and not is_exit(x.intent):
            # the switch went on while we waited: the rest of an entry is not taken
            return replace(x, phase=DONE), [Count("taker_blocked_kill_switch")]
        req = taker(x.intent, "t", qty, v.book, v.inst)
        return replace(x, phase=TAKING, current=req.client_order_id), [Place(req, x.intent, "taker")]

    def on_tick(self, x: Exec, v: View, trade: Decimal | None) -> Step:
        if x.cancelled or x.phase not in (MAKING, REPRICING) or x.deadline is None:
            return x, []
        cur = v.tracks.get(x.current) if x.current else None
        if v.now >= x.deadline:
            effects: list[StyleEffect] = [Count("maker_timeout_count")]
            if x.phase == MAKING and cur is not None and cur.open and not cur.cancel_requested:
                effects.insert(0, CancelOrder(x.intent.market, x.intent.symbol, cur.cid))
            return replace(x, phase=TO_TAKER), effects
        if (
            x.phase == MAKING
            and x.makers <= v.ctx.params.max_reprices
            and cur is not None
            and cur.last is not None
            and cur.open
            and not cur.cancel_requested
            and cur.price is not None
        ):
            price = maker_price(x.intent.side, v.book, v.inst, x.intent.limit_price)
            step = v.inst.tick_size * v.ctx.params.reprice_min_ticks
            if price is not None and moved_away(x.intent.side, cur.price, price, step):
                return replace(x, phase=REPRICING), [CancelOrder(x.intent.market, x.intent.symbol, cur.cid)]
        return x, []

    def on_result(self, x: Exec, track: Track, result: OrderResult, v: View) -> Step:
        if track.cid != x.current or not result.status.is_final:
            return x, []  # a partial fill: the order keeps working
        if track.role == "taker":
            return replace(x, phase=DONE), []
        x = replace(x, done_filled=x.done_filled + result.filled_qty)
        left = x.intent.qty - x.done_filled
        if result.status is OrderStatus.FILLED or x.cancelled:
            return replace(x, phase=DONE), []
        if not tradable(lots(left, v.inst), v.book.mid, v.inst):
            return replace(x, phase=DONE), [Count("dust_left")]
        assert x.deadline is not None
        if x.phase == TO_TAKER or v.now >= x.deadline:
            return self._take(x, v, left)
        # over before the deadline: our re-price cancel, or the venue refused it as taking
        price = maker_price(x.intent.side, v.book, v.inst, x.intent.limit_price)
        if x.makers <= v.ctx.params.max_reprices and price is not None:
            return self._make(x, left, price)
        return self._take(x, v, left)
