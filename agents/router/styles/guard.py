"""``guard`` (spot): a LIMIT_MAKER entry watched by a guard stop the router itself runs.

The guard is armed with the entry (``guard:{stop}:<symbol>:<intent_id>``: armed, armed_at, the
stop). A trade at or through ``sl_price`` (a BUY guard: at or below; a SELL: at or above) fires
it: the resting entry is cancelled FIRST, and only once the venue confirms it is over is what it
filled protected by a market order the other way. Cancelling first means the entry cannot fill
after the protection is sized, so the exit is exactly the holding. An entry that filled in full
stays guarded until the stop fires or the intent is cancelled.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from agents.connectors.port import OrderRequest
from agents.router.execution import DONE, Exec, Step, StyleEffect, View, cid, post_only, request
from agents.router.messages import CancelOrder, Guard, Place, Record
from agents.router.pricing import lots, maker_price
from agents.router.styles.base import Style
from agents.router.styles.oco import holding
from agents.router.tracks import Track
from chimera.model import ClientOrderId, OrderStatus, OrderType, Side
from topics.trading import OrderIntent, OrderResult

ENTRY, EXIT = "g", "x"
ARMED, TRIGGERED, PROTECTING = "armed", "triggered", "protecting"


def hit(side: Side, stop: Decimal, price: Decimal) -> bool:
    return price <= stop if side is Side.BUY else price >= stop


def _guard(x: Exec, **fields: str) -> Guard:
    return Guard(x.intent.symbol, x.intent.intent_id, fields)


class GuardStop(Style):
    name = "guard"

    def first(self, intent: OrderIntent, v: View) -> OrderRequest:
        price = maker_price(intent.side, v.book, v.inst, intent.limit_price) or intent.limit_price
        return post_only(intent, ENTRY, intent.qty, price)

    def check(self, intent: OrderIntent, v: View) -> str | None:
        if (
            maker_price(intent.side, v.book, v.inst, intent.limit_price) is None
            and intent.limit_price is None
        ):
            return "NO_MARKET_DATA"
        return None

    def start(self, x: Exec, v: View) -> Step:
        req = self.first(x.intent, v)
        assert x.intent.sl_price is not None
        x = replace(x, phase=ARMED, current=req.client_order_id)
        guard = _guard(
            x,
            armed="1",
            armed_at=str(v.now),
            state="ARMED",
            side=x.intent.side.value,
            sl_price=str(x.intent.sl_price),
            entry_client_order_id=req.client_order_id,
        )
        return x, [Place(req, x.intent, "entry"), guard]

    def on_tick(self, x: Exec, v: View, trade: Decimal | None) -> Step:
        stop = x.intent.sl_price
        if (
            x.phase != ARMED
            or x.cancelled
            or trade is None
            or stop is None
            or not hit(x.intent.side, stop, trade)
        ):
            return x, []
        entry = v.tracks.get(cid(x.intent, ENTRY))
        x = replace(x, phase=TRIGGERED)
        effects: list[StyleEffect] = [
            _guard(x, armed="0", state="TRIGGERED", triggered_at=str(v.now), trigger_price=str(trade)),
            Record(
                "GUARD_TRIGGERED",
                x.intent.symbol,
                x.intent.intent_id,
                v.now,
                x.intent.pos_id,
                x.intent.signal_id,
                {"sl_price": str(stop), "trade": str(trade)},
            ),
        ]
        if entry is not None and entry.open:
            if not entry.cancel_requested:
                effects.append(CancelOrder(x.intent.market, x.intent.symbol, entry.cid))
            return x, effects  # protect once the venue says the entry is over
        x, more = self._protect(x, v, entry)
        return x, effects + more

    def _protect(self, x: Exec, v: View, entry: Track | None) -> Step:
        qty = Decimal(0) if entry is None else lots(holding(entry, v.inst.base), v.inst)
        if qty == 0:
            return replace(x, phase=DONE), [_guard(x, state="DONE")]
        req = request(x.intent, EXIT, OrderType.MARKET, qty, side=x.intent.side.opposite())
        x = replace(x, phase=PROTECTING, current=req.client_order_id)
        return x, [Place(req, x.intent, "protect"), _guard(x, exit_client_order_id=req.client_order_id)]

    def on_result(self, x: Exec, track: Track, result: OrderResult, v: View) -> Step:
        if not result.status.is_final:
            return x, []
        if track.role == "protect":
            return replace(x, phase=DONE), [_guard(x, state="DONE")]
        if x.phase == TRIGGERED:
            return self._protect(x, v, track)
        if x.cancelled and all(t.final for t in v.of(x)):
            return replace(x, phase=DONE), []
        if x.phase == ARMED and result.status is not OrderStatus.FILLED and result.filled_qty == 0:
            # refused as taking, expired or cancelled by someone else: nothing to guard
            return replace(x, phase=DONE), [_guard(x, armed="0", state="DONE")]
        return x, []  # (partly) filled: the holding stays guarded

    def resume(self, x: Exec, v: View) -> Step:
        """Watch a guard again after a restart: armed, it waits for its stop; triggered, it goes on
        from where the dead router stopped (cancel the entry, or protect what it filled)."""
        if x.phase != TRIGGERED:
            return x, []
        entry = v.tracks.get(cid(x.intent, ENTRY))
        if entry is not None and entry.open:
            return x, [CancelOrder(x.intent.market, x.intent.symbol, entry.cid)]
        if cid(x.intent, EXIT) in x.cids:
            return replace(x, phase=PROTECTING, current=cid(x.intent, EXIT)), []
        return self._protect(x, v, entry)

    def on_cancel(self, x: Exec, v: View, only: ClientOrderId | None) -> Step:
        x, effects = super().on_cancel(x, v, only)
        if x.phase == ARMED and not x.done:
            x = replace(x, phase=DONE) if all(t.final for t in v.of(x)) else x
        effects.append(_guard(x, armed="0", state="CANCELLED"))
        return x, effects
