"""One venue order as the router follows it, and the ``OrderResult`` of each of its state changes.

``version`` is derived from the venue's state, not counted in memory: the number of fills so far,
plus one when the order ended without filling (cancelled, expired, rejected). It starts at 0
(NEW), rises by one per fill and by one at an unfilled end, so it is gap-free whenever every fill
is seen, strictly increasing along any order's life, and the same after a restart or a replay.
A venue answer that does not raise it is a repeat (a stale snapshot, a redelivery) and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

from agents.connectors.port import Fill as VenueFill
from agents.connectors.port import OrderRequest, OrderState
from chimera.model import ClientOrderId, OrderStatus, OrderType, Side, TimeInForce
from topics.trading import BookTop, Fill, OrderIntent, OrderResult

SCALE = Decimal("1e-12")  # the record's money scale (Decimal(38, 12)): an average is rounded to it
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Track:
    cid: ClientOrderId
    intent: OrderIntent
    role: str  # what the order is for: main, maker, taker, slice, entry, protect, sl, tp, oco_tp, ...
    side: Side
    type: OrderType
    time_in_force: TimeInForce | None
    reduce_only: bool
    qty: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    mid_at_send: Decimal | None
    book_at_send: BookTop | None
    sent_ts: int
    version: int = -1  # of the last result emitted; -1: none yet
    seen: frozenset[str] = frozenset()  # trade ids already reported
    last: OrderResult | None = None
    cancel_requested: bool = False
    unknown_since: int | None = None  # the send's outcome is unknown since this event time

    @classmethod
    def of(
        cls,
        req: OrderRequest,
        intent: OrderIntent,
        role: str,
        mid: Decimal | None,
        book: BookTop | None,
        ts: int,
    ) -> Track:
        return cls(
            req.client_order_id,
            intent,
            role,
            req.side,
            req.type,
            req.time_in_force,
            req.reduce_only,
            req.qty,
            req.price,
            req.stop_price,
            mid,
            book,
            ts,
        )

    @property
    def final(self) -> bool:
        return self.last is not None and self.last.status.is_final

    @property
    def filled(self) -> Decimal:
        return ZERO if self.last is None else self.last.filled_qty

    @property
    def open(self) -> bool:
        """Sent and possibly working at the venue (not known to be over)."""
        return not self.final


def version_of(status: OrderStatus, fills: int, filled_qty: Decimal) -> int:
    # a venue that lists no fills (some REST answers) still counts a filled quantity as one fill
    k = fills if fills else (1 if filled_qty > 0 else 0)
    return k + (1 if status.is_final and status is not OrderStatus.FILLED else 0)


def slippage_bps(side: Side, price: Decimal, mid: Decimal | None) -> float | None:
    """Signed against us: positive = paid above mid on a buy / received below mid on a sell."""
    if mid is None or mid <= 0:
        return None
    return float(side.sign * (price - mid) / mid * 10_000)


def _fill(f: VenueFill, side: Side, mid: Decimal | None) -> Fill:
    return Fill(
        trade_id=f.trade_id,
        price=f.price,
        qty=f.qty,
        fee=f.fee,
        fee_asset=f.fee_asset,
        is_maker=f.is_maker,
        slippage_bps=slippage_bps(side, f.price, mid),
        ts=f.ts,
    )


def _avg(state: OrderState) -> Decimal | None:
    if state.filled_qty <= 0:
        return None
    avg = state.avg_price
    if avg is None and state.fills:
        avg = sum((f.price * f.qty for f in state.fills), ZERO) / sum((f.qty for f in state.fills), ZERO)
    if avg is None:
        return None
    exponent = avg.as_tuple().exponent
    # the venue's exact average (notional / qty) may run to 28 digits; the record keeps 12 places
    return (
        avg.quantize(SCALE, rounding=ROUND_HALF_EVEN) if isinstance(exponent, int) and exponent < -12 else avg
    )


def observe(track: Track, state: OrderState, reason: str | None = None) -> tuple[Track, OrderResult | None]:
    """Fold a venue snapshot into the track; return the result to emit, or None for a repeat."""
    version = version_of(state.status, len(state.fills), state.filled_qty)
    if version <= track.version:
        return track, None
    new = [f for f in state.fills if f.trade_id not in track.seen]
    fee = sum((f.fee for f in state.fills), ZERO)
    result = OrderResult(
        intent_id=track.intent.intent_id,
        client_order_id=track.cid,
        order_id=state.venue_order_id or None,
        version=version,
        signal_id=track.intent.signal_id,
        pos_id=track.intent.pos_id,
        symbol=track.intent.symbol,
        market=track.intent.market,
        status=state.status,
        side=track.side,
        type=track.type,
        time_in_force=track.time_in_force,
        reduce_only=track.reduce_only,
        qty=state.qty if state.qty is not None else track.qty,
        price=track.price,
        stop_price=track.stop_price,
        filled_qty=state.filled_qty,
        avg_price=_avg(state),
        fee=fee,
        fee_asset=state.fills[0].fee_asset if state.fills else None,
        fills=[_fill(f, track.side, track.mid_at_send) for f in new],
        mid_at_send=track.mid_at_send,
        book_at_send=track.book_at_send,
        reason=reason,
        ts=state.ts,
    )
    seen = track.seen | {f.trade_id for f in new}
    return replace(track, version=version, seen=seen, last=result, unknown_since=None), result


def refused(track: Track, reason: str, ts: int) -> tuple[Track, OrderResult | None]:
    """The order never reached the venue's book: refused there, or by the router (KILL_SWITCH)."""
    if track.final:
        return track, None
    version = version_of(OrderStatus.REJECTED, 0, ZERO)
    result = OrderResult(
        intent_id=track.intent.intent_id,
        client_order_id=track.cid,
        order_id=None,
        version=version,
        signal_id=track.intent.signal_id,
        pos_id=track.intent.pos_id,
        symbol=track.intent.symbol,
        market=track.intent.market,
        status=OrderStatus.REJECTED,
        side=track.side,
        type=track.type,
        time_in_force=track.time_in_force,
        reduce_only=track.reduce_only,
        qty=track.qty,
        price=track.price,
        stop_price=track.stop_price,
        filled_qty=ZERO,
        fee=ZERO,
        mid_at_send=track.mid_at_send,
        book_at_send=track.book_at_send,
        reason=reason,
        ts=ts,
    )
    return replace(track, version=version, last=result, unknown_since=None), result
