"""maker→taker on SimVenue with real Binance BTCUSDT spot trades and quotes (2021-01-08), in event
time: post-only at the bid, re-priced as the bid runs away, taken at market once the wait is over."""

from __future__ import annotations

import json

from router_kit import SPOT, D, between, coid, intent, make_desk, spot_events, until

from chimera.model import OrderStatus, OrderType
from sinks.redis import Keyspace, RedisClient

T0 = 1610064007367  # a best bid/ask update; the market rallies ~13 USDT over the next second


async def test_maker_times_out_to_a_taker_filled_at_the_deadline_event(
    redis1: RedisClient, ks1: Keyspace
) -> None:
    ev = spot_events()
    desk = await make_desk(redis1, ks1)
    await desk.feed_all(until(ev, T0))
    it = intent(
        intent_id="int-mt", market="SPOT", exec="maker_taker", qty="0.001", maker_wait_ms=1_000, ts=T0
    )
    await desk.submit(it)
    await desk.feed_all(between(ev, T0, T0 + 2_000))

    makers = [coid("int-mt", f"m{i}") for i in range(4)]
    taker = coid("int-mt", "t")
    # cancel-then-place at every re-price; the 3 re-prices allowed, then the taker
    assert desk.venue.calls == [
        ("create", makers[0]),
        ("cancel", makers[0]),
        ("create", makers[1]),
        ("cancel", makers[1]),
        ("create", makers[2]),
        ("cancel", makers[2]),
        ("create", makers[3]),
        ("cancel", makers[3]),
        ("create", taker),
    ]
    # each maker joined the best bid of its moment (7367, 7705, 7706, 7706): the bid ran away each time
    assert [desk.of(c)[0].price for c in makers] == [
        D("39473.94"),
        D("39475.92"),
        D("39476.19"),
        D("39476.20"),
    ]
    assert [desk.of(c)[-1].status for c in makers] == [OrderStatus.CANCELED] * 4
    assert all(desk.of(c)[0].type is OrderType.LIMIT_MAKER for c in makers)

    deadline_event = next(e for e in ev if e.ts >= T0 + 1_000)
    assert deadline_event.ts == 1610064008723  # no market event between 8101 and 8723
    (result,) = [r for r in desk.of(taker) if r.status is OrderStatus.FILLED]
    assert result.type is OrderType.MARKET
    (fill,) = result.fills
    # the ask of the 8101 quote (39486.99, 0.94 BTC) is still there: the first trade at 8723
    # printed 39484.06, through the bid, which leaves the last trade as the mid
    assert (fill.price, fill.qty, fill.ts, fill.is_maker) == (D("39486.99"), D("0.001"), 1610064008723, False)
    assert fill.fee == D("0.03948699")  # 0.1 % taker fee in USDT
    assert result.mid_at_send == D("39484.06")
    assert fill.slippage_bps == float((D("39486.99") - D("39484.06")) / D("39484.06") * 10_000)
    assert desk.router.metrics.maker_timeout_count == 1
    assert desk.router.metrics.router_p95 is not None  # intent -> first venue ack, wall clock
    assert desk.venue.exchange.balances(SPOT)["BTC"].free == D("1.001")


async def test_maker_filled_after_a_reprice_needs_no_taker(redis1: RedisClient, ks1: Keyspace) -> None:
    t0 = 1610064001997
    ev = spot_events()
    desk = await make_desk(redis1, ks1)
    await desk.feed_all(until(ev, t0))
    it = intent(
        intent_id="int-mk", market="SPOT", exec="maker_taker", qty="0.001", maker_wait_ms=1_000, ts=t0
    )
    await desk.submit(it)
    await desk.feed_all(between(ev, t0, t0 + 2_000))
    m0, m1 = coid("int-mk", "m0"), coid("int-mk", "m1")
    assert desk.venue.creates() == [m0, m1]
    # the 2304 quote lifted the bid to 39435.66; the 2319 trade at 39435.18 went through it
    (fill,) = desk.of(m1)[-1].fills
    assert (fill.price, fill.ts, fill.is_maker) == (D("39435.66"), 1610064002319, True)
    assert desk.of(m1)[-1].mid_at_send == (D("39435.66") + D("39436.78")) / 2
    assert fill.slippage_bps is not None and fill.slippage_bps < 0  # a maker buy below mid: earned
    assert desk.router.metrics.maker_timeout_count == 0


async def test_worse_health_waits_longer_before_taking(redis1: RedisClient, ks1: Keyspace) -> None:
    """The intent names no wait: ``router:{param}:curves`` gives 500 ms, ORANGE health doubles it."""
    ev = spot_events()
    fills = {}
    for health in ("GREEN", "ORANGE"):
        ks = Keyspace(f"{ks1.prefix}{health}.")
        await redis1.set(ks.router_param_curves(), json.dumps({"rev": "b10-test", "maker_wait_ms": 500}))
        await redis1.set(ks.health_system_state(), json.dumps({"level": health}))
        desk = await make_desk(redis1, ks)
        await desk.feed_all(until(ev, T0))
        await desk.submit(
            intent(intent_id=f"int-{health}", market="SPOT", exec="maker_taker", qty="0.001", ts=T0)
        )
        await desk.feed_all(between(ev, T0, T0 + 2_000))
        (taken,) = [r for r in desk.of(coid(f"int-{health}", "t")) if r.fills]
        fills[health] = taken.fills[0]
        assert desk.router.metrics.maker_timeout_count == 1
        async for key in redis1.scan_iter(match=f"{ks.prefix}*"):
            await redis1.unlink(key)
    assert fills["GREEN"].ts == next(e.ts for e in ev if e.ts >= T0 + 500) == 1610064008101
    assert fills["ORANGE"].ts == next(e.ts for e in ev if e.ts >= T0 + 1_000) == 1610064008723
