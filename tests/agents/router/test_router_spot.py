"""Spot styles on SimVenue with real Binance BTCUSDT trades and quotes (2021-01-08): a native OCO
protecting a market entry, and the guard stop (LIMIT_MAKER entry watched by the router)."""

from __future__ import annotations

from router_kit import SPOT, D, between, coid, intent, make_desk, spot_events, until

from chimera.model import OrderStatus, OrderType, Side
from sinks.redis import Keyspace, RedisClient


async def test_oco_entry_protected_by_a_list_whose_other_leg_the_venue_ends(
    redis1: RedisClient, ks1: Keyspace
) -> None:
    t0 = 1610064002304  # quote 39435.66 / 39436.78 (0.002842 BTC on the ask); last trade 39440.37
    ev = spot_events()
    desk = await make_desk(redis1, ks1)
    await desk.feed_all(until(ev, t0))
    it = intent(
        intent_id="int-oco",
        market="SPOT",
        exec="oco",
        qty="0.002",
        sl_price="39420.00",
        tp_price="39450.00",
        ts=t0,
    )
    await desk.submit(it)
    entry, tp, sl = coid("int-oco", "e"), coid("int-oco", "tp"), coid("int-oco", "sl")
    (bought,) = desk.of(entry)[-1].fills
    assert (bought.price, bought.qty, bought.is_maker) == (D("39436.78"), D("0.002"), False)
    assert [(r.type, r.status, r.side, r.qty) for r in (desk.of(tp)[0], desk.of(sl)[0])] == [
        (OrderType.LIMIT_MAKER, OrderStatus.NEW, Side.SELL, D("0.002")),
        (OrderType.STOP_LOSS_LIMIT, OrderStatus.NEW, Side.SELL, D("0.002")),
    ]
    assert (desk.of(sl)[0].stop_price, desk.of(sl)[0].price) == (D("39420.00"), D("39222.90"))  # 50 bps below

    await desk.feed_all(between(ev, t0, t0 + 3_000))
    # 00:00:02.573: the rally prints 39451.98 through the take-profit; the venue ends the stop leg
    (tp_fill,) = desk.of(tp)[-1].fills
    assert (desk.of(tp)[-1].status, tp_fill.price, tp_fill.ts, tp_fill.is_maker) == (
        OrderStatus.FILLED,
        D("39450.00"),
        1610064002573,
        True,
    )
    assert (desk.of(sl)[-1].status, desk.of(sl)[-1].ts) == (OrderStatus.EXPIRED, 1610064002573)
    assert desk.venue.calls == [("create", entry), ("create_oco", coid("int-oco", "L"))]  # no cancel from us
    assert desk.venue.exchange.balances(SPOT)["BTC"].total == D("1")


async def test_guard_fires_cancel_then_protect_on_the_partly_filled_entry(
    redis1: RedisClient, ks1: Keyspace
) -> None:
    t0 = 1610064036671  # bid 39542.00 / ask 39542.01, at the top of the 00:00:35 high; then it falls
    ev = spot_events()
    desk = await make_desk(redis1, ks1)
    await desk.feed_all(until(ev, t0))
    it = intent(intent_id="int-g", market="SPOT", exec="guard", qty="0.3", sl_price="39534.00", ts=t0)
    await desk.submit(it)
    entry, exit_ = coid("int-g", "g"), coid("int-g", "x")
    armed = await desk.router.guards.read("BTCUSDT", "int-g")
    assert (armed["armed"], armed["armed_at"], armed["sl_price"]) == ("1", str(t0), "39534.00")
    assert (desk.of(entry)[0].type, desk.of(entry)[0].price) == (OrderType.LIMIT_MAKER, D("39542.00"))

    await desk.feed_all(between(ev, t0, t0 + 3_000))
    # the cancel went out before the protecting order, and the protection is exactly what was bought
    assert desk.venue.calls == [("create", entry), ("cancel", entry), ("create", exit_)]
    canceled = desk.of(entry)[-1]
    trigger = next(
        e for e in ev if e.ts > t0 and e.kind == "t" and e.price is not None and e.price <= D("39534")
    )
    assert (trigger.ts, trigger.price) == (1610064037380, D("39533.96"))
    assert (canceled.status, canceled.filled_qty, canceled.ts) == (
        OrderStatus.CANCELED,
        D("0.166636"),
        trigger.ts,
    )
    protect = desk.of(exit_)[-1]
    assert (protect.side, protect.type, protect.status, protect.filled_qty) == (
        Side.SELL,
        OrderType.MARKET,
        OrderStatus.FILLED,
        D("0.166636"),
    )
    # the 37370 quote's bid (0.031497 BTC at 39533.95), then the rest 5 bps under it
    assert [(f.price, f.qty, f.ts) for f in protect.fills] == [
        (D("39533.95"), D("0.031497"), trigger.ts),
        (D("39514.18"), D("0.135139"), trigger.ts),
    ]
    guard = await desk.router.guards.read("BTCUSDT", "int-g")
    assert (guard["armed"], guard["state"], guard["triggered_at"]) == ("0", "DONE", str(trigger.ts))
    assert guard["exit_client_order_id"] == exit_
    assert desk.venue.exchange.balances(SPOT)["BTC"].total == D("1")  # flat again
    assert [r["kind"] for r in desk.records.rows["strategy_events"]] == ["GUARD_TRIGGERED"]


async def test_a_restarted_router_watches_the_armed_guard_again(
    client: RedisClient, keyspace: Keyspace
) -> None:
    t0 = 1610064036671
    ev = spot_events()
    desk = await make_desk(client, keyspace)
    await desk.feed_all(until(ev, t0))
    await desk.submit(
        intent(intent_id="int-g3", market="SPOT", exec="guard", qty="0.3", sl_price="39534.00", ts=t0)
    )
    await desk.feed_all(between(ev, t0, 1610064037000))  # partly filled, still above the stop
    desk2 = await make_desk(client, keyspace, desk.venue)  # the router restarts; the guard record stays
    assert desk2.router.metrics.counters["guards_resumed"] == 1
    await desk2.feed_all(between(ev, 1610064037000, t0 + 3_000))
    entry, exit_ = coid("int-g3", "g"), coid("int-g3", "x")
    assert [c for c in desk.venue.calls if c[0] != "fetch"] == [
        ("create", entry),
        ("cancel", entry),
        ("create", exit_),
    ]
    assert desk2.of(exit_)[-1].filled_qty == desk2.of(entry)[-1].filled_qty == D("0.166636")
    guard = await desk2.router.guards.read("BTCUSDT", "int-g3")
    assert (guard["state"], guard["triggered_at"]) == ("DONE", "1610064037380")


async def test_guard_on_a_filled_entry_protects_without_a_cancel(redis1: RedisClient, ks1: Keyspace) -> None:
    t0 = 1610064036671
    ev = spot_events()
    desk = await make_desk(redis1, ks1)
    await desk.feed_all(until(ev, t0))
    await desk.submit(
        intent(intent_id="int-g2", market="SPOT", exec="guard", qty="0.3", sl_price="39520.00", ts=t0)
    )
    await desk.feed_all(between(ev, t0, t0 + 3_000))
    entry, exit_ = coid("int-g2", "g"), coid("int-g2", "x")
    assert desk.of(entry)[-1].status is OrderStatus.FILLED
    assert desk.venue.calls == [("create", entry), ("create", exit_)]
    protect = desk.of(exit_)[-1]
    assert (protect.filled_qty, protect.ts) == (D("0.3"), 1610064037850)  # the first print at/below 39520
