"""B1 on SimVenue with real BTC perpetual bars: a market entry (step 2), then its SL/TP as reduce-only
STOP_MARKET / TAKE_PROFIT_MARKET (step 4) — which can never grow or flip the position: not when
larger than it, not when it is already closed, not when it closes before they fire."""

from __future__ import annotations

import json

from router_kit import D, Desk, coid, fut_bar_ticks, intent, make_desk

from agents.connectors.marketdata import MarketEvent
from chimera.model import OrderStatus, OrderType, round_to_step
from sinks.redis import Keyspace, RedisClient

T0 = 1640991600000  # 46319.0; bar 1 tops at 46411, bar 2 at 46425 (23:02:30)


async def position(desk: Desk) -> D:
    return sum((p.qty for p in await desk.venue.positions()), D(0))


async def feed_watching(desk: Desk, ticks: list[MarketEvent]) -> list[D]:
    """Feed ticks; the position after each one (it must never go short)."""
    seen = []
    for t in ticks:
        await desk.feed(t)
        seen.append(await position(desk))
    return seen


def legs(intent_id: str, qty: str, sl: str, tp: str, ts: int) -> object:
    return intent(
        intent_id=intent_id,
        exec="sl_tp",
        side="SELL",
        reduce_only=True,
        qty=qty,
        sl_price=sl,
        tp_price=tp,
        ts=ts,
        source="positions",
        pos_id="pos-1",
        reason="TP_1",
    )


async def test_entry_then_reduce_only_legs_one_fills_the_other_is_cancelled(
    redis1: RedisClient, ks1: Keyspace
) -> None:
    ticks = fut_bar_ticks(4)
    desk = await make_desk(redis1, ks1)
    await desk.feed(ticks[0])
    await desk.submit(intent(intent_id="int-entry", qty="0.01", ts=T0, pos_id="pos-1"))
    assert await position(desk) == D("0.01")
    # S6 asks for the legs larger than the position: reduce-only caps them at what is open
    await desk.submit(legs("int-legs", "0.02", "46300.0", "46420.0", T0 + 1))  # type: ignore[arg-type]
    sl, tp = coid("int-legs", "sl"), coid("int-legs", "tp")
    placed = [desk.of(c)[0] for c in (sl, tp)]
    assert [(r.type, r.status, r.reduce_only, r.qty, r.stop_price) for r in placed] == [
        (OrderType.STOP_MARKET, OrderStatus.NEW, True, D("0.01"), D("46300.0")),
        (OrderType.TAKE_PROFIT_MARKET, OrderStatus.NEW, True, D("0.01"), D("46420.0")),
    ]
    (event,) = desk.records.rows["strategy_events"]
    assert (event["kind"], event["intent_id"], event["pos_id"]) == ("TP_SL_PLACED", "int-legs", "pos-1")
    assert [leg["client_order_id"] for leg in json.loads(event["payload"])["legs"]] == [sl, tp]

    seen = await feed_watching(desk, ticks[1:])
    assert min(seen) == 0 and all(q >= 0 for q in seen)
    (fill,) = desk.of(tp)[-1].fills
    fired = next(t for t in ticks if t.price is not None and t.price >= D("46420"))
    assert (fired.ts, fired.price) == (T0 + 150_000, D("46425.0"))
    assert (fill.ts, fill.price, fill.qty) == (
        fired.ts,
        round_to_step(D("46425") * D("0.9995"), D("0.1")),
        D("0.01"),
    )
    assert desk.of(sl)[-1].status is OrderStatus.CANCELED  # the router ends the unlinked sibling
    assert ("cancel", sl) in desk.venue.calls
    assert await position(desk) == 0


async def test_legs_for_a_closed_position_are_refused_and_open_nothing(
    redis1: RedisClient, ks1: Keyspace
) -> None:
    ticks = fut_bar_ticks(4)
    desk = await make_desk(redis1, ks1)
    await desk.feed(ticks[0])
    await desk.submit(legs("int-late", "0.01", "46300.0", "46420.0", T0))  # type: ignore[arg-type]
    results = [desk.of(coid("int-late", c))[-1] for c in ("sl", "tp")]
    assert [(r.status, r.reason) for r in results] == [
        (OrderStatus.REJECTED, "-2022: ReduceOnly Order is rejected.")
    ] * 2
    assert "strategy_events" not in desk.records.rows  # nothing is working: no TP_SL_PLACED
    assert set(await feed_watching(desk, ticks[1:])) == {D(0)}


async def test_a_leg_firing_after_the_position_closed_expires_without_opening_one(
    redis1: RedisClient, ks1: Keyspace
) -> None:
    ticks = fut_bar_ticks(4)
    desk = await make_desk(redis1, ks1)
    await desk.feed(ticks[0])
    await desk.submit(intent(intent_id="int-e2", qty="0.01", ts=T0))
    await desk.submit(legs("int-l2", "0.01", "46000.0", "46420.0", T0 + 1))  # type: ignore[arg-type]
    await desk.feed_all(t for t in ticks[1:] if t.ts < T0 + 60_000)
    # the position is closed by another exit (S6's time stop), and the legs are left behind
    exit_ = intent(
        intent_id="int-x2", side="SELL", reduce_only=True, qty="0.01", ts=T0 + 59_999, source="positions"
    )
    await desk.submit(exit_)
    assert await position(desk) == 0
    seen = await feed_watching(desk, [t for t in ticks if t.ts >= T0 + 60_000])
    assert set(seen) == {D(0)}
    tp = desk.of(coid("int-l2", "tp"))[-1]
    assert (tp.status, tp.filled_qty, tp.ts) == (OrderStatus.EXPIRED, 0, T0 + 150_000)
    assert desk.venue.exchange.book.qty("BTCUSDT") == 0
