"""``CancelIntent`` (B3, B4): cancel an intent's working orders, record ``strategy_events(CANCEL)``,
and with ``flatten`` close what it had filled — also for an intent sent before a restart."""

from __future__ import annotations

import json

from router_kit import SPOT, D, between, cancel, coid, fut_bar_ticks, intent, make_desk, spot_events, until

from chimera.model import OrderStatus, OrderType, Side
from sinks.redis import Keyspace, RedisClient


async def test_cancel_with_flatten_closes_the_partly_filled_entry(redis1: RedisClient, ks1: Keyspace) -> None:
    t0 = 1610064036671  # bid 39542.00: the falling market fills a resting buy bit by bit
    ev = spot_events()
    desk = await make_desk(redis1, ks1)
    await desk.feed_all(until(ev, t0))
    await desk.submit(
        intent(intent_id="int-c", market="SPOT", exec="maker_taker", qty="0.3", maker_wait_ms=60_000, ts=t0)
    )
    await desk.feed_all(between(ev, t0, 1610064037000))
    maker = coid("int-c", "m0")
    filled = desk.of(maker)[-1].filled_qty
    assert filled == D("0.111612") and desk.of(maker)[-1].status is OrderStatus.PARTIALLY_FILLED

    out = await desk.submit(
        cancel(
            intent_id="cxl-c",
            target_intent_id="int-c",
            market="SPOT",
            flatten=True,
            ts=1610064037000,
            source="reconciler",
            reason="DERISK",
        )
    )
    flat = coid("cxl-c", "flat")
    assert desk.venue.calls == [("create", maker), ("cancel", maker), ("create", flat)]
    assert [(r.client_order_id, r.status) for r in out] == [
        (maker, OrderStatus.CANCELED),
        (flat, OrderStatus.FILLED),
    ]
    flatten = out[-1]
    assert (flatten.side, flatten.type, flatten.filled_qty, flatten.intent_id) == (
        Side.SELL,
        OrderType.MARKET,
        filled,
        "cxl-c",
    )
    (event,) = desk.records.rows["strategy_events"]
    payload = json.loads(event["payload"])
    assert (event["kind"], event["intent_id"], payload["net_filled"], payload["flatten"]) == (
        "CANCEL",
        "int-c",
        "0.111612",
        True,
    )
    assert desk.venue.exchange.balances(SPOT)["BTC"].total == D("1")
    # no maker re-price, no taker: the cancel ended the execution
    await desk.feed_all(between(ev, 1610064037000, 1610064040000))
    assert desk.venue.creates() == [maker, flat]


async def test_cancel_after_a_restart_finds_the_orders_through_the_records(
    client: RedisClient, keyspace: Keyspace
) -> None:
    ticks = fut_bar_ticks(1)
    desk = await make_desk(client, keyspace)
    await desk.feed(ticks[0])
    await desk.submit(
        intent(intent_id="int-old", exec="maker_taker", qty="0.01", maker_wait_ms=600_000, ts=ticks[0].ts)
    )
    desk2 = await make_desk(client, keyspace, desk.venue)  # the router restarted; the maker still rests
    out = await desk2.submit(cancel(intent_id="cxl-old", target_intent_id="int-old", ts=ticks[0].ts + 1))
    maker = coid("int-old", "m0")
    assert [(r.client_order_id, r.status) for r in out][-1] == (maker, OrderStatus.CANCELED)
    assert desk.venue.calls[-2:] == [("fetch", maker), ("cancel", maker)]
    (event,) = desk2.records.rows["strategy_events"]
    assert json.loads(event["payload"])["found"] is True
    # delivered again: the cancel is answered from its record; the venue is only read
    calls = len(desk.venue.calls)
    await desk2.submit(cancel(intent_id="cxl-old", target_intent_id="int-old", ts=ticks[0].ts + 1))
    assert {k for k, _ in desk.venue.calls[calls:]} <= {"fetch"}
    assert len(desk2.records.rows["strategy_events"]) == 1
