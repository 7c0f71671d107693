"""``twap``: ``twap_slices`` taking children, slice k due at ``ts + k * twap_interval_ms``.

The plan is queued (``Schedule``; the shell keeps it in the ZSet ``prod:{exec}:twap:queue``,
score = due_ts) and each slice is sent when the scheduler finds it due at event time
(``SliceDue``). A slice carries its intent, so a restarted router sends the rest from the queue
alone. Slice k's client_order_id is ``client_order_id_for(intent_id, k)``; the shell claims it
before sending, so a slice is never sent twice. Slices are lots of ``qty / n`` rounded down; the
last one takes the remainder. Later entry slices are refused while the kill switch is on.
"""

from __future__ import annotations

from dataclasses import replace

from agents.connectors.port import Instrument, OrderRequest
from agents.router.execution import DONE, Exec, Refuse, Step, StyleEffect, View, is_exit, taker
from agents.router.messages import Place, Schedule, Slice, Unschedule
from agents.router.pricing import lots
from agents.router.styles.base import Style
from agents.router.tracks import Track
from chimera.model import ClientOrderId, round_to_step
from topics.trading import OrderIntent, OrderResult


def plan(intent: OrderIntent, inst: Instrument, max_slices: int) -> list[Slice] | str:
    """The slices of an intent, or why it cannot be sliced."""
    n, interval = intent.twap_slices, intent.twap_interval_ms
    assert n is not None and interval is not None  # the intent's own validation
    if n > max_slices:
        return "TWAP_TOO_MANY_SLICES"
    base = round_to_step(intent.qty / n, inst.lot_size, "down")
    last = intent.qty - base * (n - 1)
    if lots(base, inst) == 0 or lots(last, inst) != last:
        return "TWAP_SLICE_BELOW_LOT"
    return [Slice(intent, k, n, last if k == n - 1 else base, intent.ts + k * interval) for k in range(n)]


class Twap(Style):
    name = "twap"

    def first(self, intent: OrderIntent, v: View) -> OrderRequest:
        slices = plan(intent, v.inst, v.ctx.params.twap_max_slices)
        qty = intent.qty if isinstance(slices, str) else slices[0].qty
        return taker(intent, 0, qty, v.book, v.inst)

    def check(self, intent: OrderIntent, v: View) -> str | None:
        slices = plan(intent, v.inst, v.ctx.params.twap_max_slices)
        return slices if isinstance(slices, str) else None

    def start(self, x: Exec, v: View) -> Step:
        slices = plan(x.intent, v.inst, v.ctx.params.twap_max_slices)
        assert not isinstance(slices, str)
        return replace(x, phase="running"), [Schedule(s) for s in slices]

    def on_slice(self, x: Exec, s: Slice, v: View) -> Step:
        if x.cancelled or s.k <= x.last_k:
            return x, [Unschedule(x.intent.intent_id, s)]
        x = replace(x, last_k=s.k)
        req = taker(x.intent, s.k, s.qty, v.book, v.inst)
        effects: list[StyleEffect]
        if v.ctx.kill_switch and not is_exit(x.intent):
            effects = [Refuse(req, x.intent, "slice", "KILL_SWITCH"), Unschedule(x.intent.intent_id, s)]
        else:
            effects = [Place(req, x.intent, "slice", slice=s)]
        return x, effects

    def on_result(self, x: Exec, track: Track, result: OrderResult, v: View) -> Step:
        return self._maybe_done(x, v), []

    def _maybe_done(self, x: Exec, v: View) -> Exec:
        n = x.intent.twap_slices or 0
        if (x.cancelled or x.last_k >= n - 1) and all(t.final for t in v.of(x)):
            return replace(x, phase=DONE)
        return x

    def on_cancel(self, x: Exec, v: View, only: ClientOrderId | None) -> Step:
        x, effects = super().on_cancel(x, v, only)
        effects.append(Unschedule(x.intent.intent_id))
        return self._maybe_done(x, v), effects
