"""``prod:{kill_switch}`` ON blocks new entries with REJECTED ``KILL_SWITCH`` — never exits, protective
legs or cancels. On real Redis and SimVenue with real BTC perpetual bars and spot trades."""

from __future__ import annotations

from router_kit import D, cancel, coid, fut_bar_ticks, intent, make_desk, spot_events, until

from chimera.model import OrderStatus
from sinks.redis import Keyspace, RedisClient

T0 = 1640991600000


async def test_kill_switch_blocks_entries_not_exits(redis1: RedisClient, ks1: Keyspace) -> None:
    ticks = fut_bar_ticks(2)
    desk = await make_desk(redis1, ks1)
    await desk.feed(ticks[0])
    await desk.submit(intent(intent_id="int-open", qty="0.02", ts=T0))  # opened while the switch is off
    await redis1.set(ks1.kill_switch(), "1")

    entries = [
        intent(intent_id="int-k1", qty="0.01", ts=T0 + 1),
        intent(intent_id="int-k2", exec="maker_taker", qty="0.01", ts=T0 + 1),
        intent(intent_id="int-k3", exec="twap", qty="0.01", twap_slices=2, twap_interval_ms=1_000, ts=T0 + 1),
        intent(intent_id="int-k4", side="SELL", qty="0.01", ts=T0 + 1),  # a short is an entry too
    ]
    for it in entries:
        (refused,) = await desk.submit(it)
        assert (refused.status, refused.reason, refused.order_id, refused.filled_qty) == (
            OrderStatus.REJECTED,
            "KILL_SWITCH",
            None,
            0,
        )
        assert refused.intent_id == it.intent_id
    assert desk.venue.creates() == [coid("int-open", 0)]
    assert desk.router.metrics.counters["rejected_kill_switch"] == 4

    legs = intent(
        intent_id="int-legs",
        exec="sl_tp",
        side="SELL",
        reduce_only=True,
        qty="0.02",
        sl_price="46000.0",
        tp_price="47000.0",
        ts=T0 + 2,
        source="positions",
    )
    assert [r.status for r in await desk.submit(legs)] == [OrderStatus.NEW, OrderStatus.NEW]
    exit_ = intent(
        intent_id="int-exit", side="SELL", reduce_only=True, qty="0.01", ts=T0 + 3, source="positions"
    )
    assert [r.status for r in await desk.submit(exit_)] == [OrderStatus.FILLED]
    assert (await desk.venue.positions())[0].qty == D("0.01")

    # a redelivery after the switch went off gets the recorded answer, not a new decision
    await redis1.set(ks1.kill_switch(), "0")
    (again,) = await desk.submit(entries[0])
    assert (again.status, again.reason) == (OrderStatus.REJECTED, "KILL_SWITCH")
    assert coid("int-k1", 0) not in desk.venue.creates()


async def test_kill_switch_lets_spot_exits_and_cancels_through(redis1: RedisClient, ks1: Keyspace) -> None:
    t0 = 1610064036671
    ev = spot_events()
    desk = await make_desk(redis1, ks1)
    await desk.feed_all(until(ev, t0))
    await redis1.set(ks1.kill_switch(), "on")
    for exec_ in ("oco", "guard"):
        it = intent(
            intent_id=f"int-{exec_}",
            market="SPOT",
            exec=exec_,
            qty="0.01",
            sl_price="39000.00",
            tp_price="40000.00",
            ts=t0,
        )
        assert [(r.status, r.reason) for r in await desk.submit(it)] == [
            (OrderStatus.REJECTED, "KILL_SWITCH")
        ]
    sell = intent(intent_id="int-sell", market="SPOT", side="SELL", qty="0.01", ts=t0, source="positions")
    assert [r.status for r in await desk.submit(sell)] == [OrderStatus.FILLED]
    await desk.submit(cancel(intent_id="cxl-none", target_intent_id="int-unknown", market="SPOT", ts=t0))
    assert [r["kind"] for r in desk.records.rows["strategy_events"]] == ["CANCEL"]
    assert desk.venue.creates() == [coid("int-sell", 0)]
