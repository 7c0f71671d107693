"""TWAP on SimVenue with real BTC perpetual 1-minute bars (2021-12-31 23:00 UTC on), on real Redis
(single node and Cluster): slices sent at the first market event at or after their due time, the
plan kept in ``prod:{exec}:twap:queue``, and a router that dies mid-send resumed by a new one
with no slice sent twice."""

from __future__ import annotations

import json

import pytest
from router_kit import FUT, Crash, D, RecordingVenue, coid, fut_bar_ticks, intent, make_desk, sim_config

from agents.router.messages import Slice
from chimera.model import OrderStatus, round_to_step
from sinks.redis import Keyspace, RedisClient

T0 = 1640991600000  # the first bar's open tick: 46319.0
INTERVAL = 45_000


def taker_buy(last: str) -> D:
    """SimVenue fills a market order with no book at the last trade + 5 bps, up to the tick."""
    return round_to_step(D(last) * D("1.0005"), D("0.1"), "up")


async def test_twap_slices_fill_at_their_due_events_and_resume_after_a_crash(
    client: RedisClient, keyspace: Keyspace
) -> None:
    ticks = fut_bar_ticks(4)
    venue = RecordingVenue(sim_config())
    s = [coid("int-twap", k) for k in range(4)]
    venue.crash_after = {s[2]}  # slice 2 reaches the venue, then the router process dies
    desk = await make_desk(client, keyspace, venue)
    await desk.feed(ticks[0])
    it = intent(
        intent_id="int-twap", qty="0.02", exec="twap", twap_slices=4, twap_interval_ms=INTERVAL, ts=T0
    )
    await desk.submit(it)

    queued = [(json.loads(m)["k"], due) for m, due in await desk.router.queue.members()]
    assert queued == [(1, T0 + 45_000), (2, T0 + 90_000), (3, T0 + 135_000)]  # slice 0 went at once

    crashed_at = None
    for i, tick in enumerate(ticks[1:], start=1):
        try:
            await desk.feed(tick)
        except Crash:
            crashed_at = i
            break
    assert crashed_at is not None and ticks[crashed_at].ts == T0 + 90_000
    # the slice reached the venue but never left the queue: the dead router did not hear back
    assert [json.loads(m)["k"] for m, _ in await desk.router.queue.members()] == [2, 3]

    # a new router on the same Redis and venue: start() finds the queue, the next tick drains it
    desk2 = await make_desk(client, keyspace, venue)
    await desk2.feed_all(ticks[crashed_at + 1 :])

    assert venue.creates() == s  # each slice created exactly once
    assert ("fetch", s[2]) in venue.calls  # the resumed router asked the venue instead
    assert venue.venue_orders(FUT) == sorted(s)
    fills = {}
    for k, c in enumerate(s):
        results = desk.of(c) + desk2.of(c)
        assert results[-1].status is OrderStatus.FILLED
        (fill,) = results[-1].fills
        fills[k] = (fill.ts, fill.price, fill.qty)
    # due at T0, +45 s, +90 s, +135 s -> the bar ticks at 23:00:00, 23:00:59.999, 23:01:30, 23:02:15
    assert fills == {
        0: (T0, taker_buy("46319.0"), D("0.005")),
        1: (T0 + 59_999, taker_buy("46377.0"), D("0.005")),
        2: (T0 + 90_000, taker_buy("46411.0"), D("0.005")),
        3: (T0 + 135_000, taker_buy("46411.0"), D("0.005")),
    }
    assert fills[0][1] == D("46342.2")
    # the resumed slice is measured against the mid its (dead) sender recorded
    (resumed,) = [r for r in desk2.of(s[2]) if r.fills]
    assert resumed.mid_at_send == D("46411.0")
    assert await desk2.router.queue.members() == []
    assert sum(p.qty for p in await venue.positions()) == D("0.02")


async def test_a_new_router_sends_the_rest_of_a_twap_at_the_due_times(
    client: RedisClient, keyspace: Keyspace
) -> None:
    ticks = fut_bar_ticks(3)
    venue = RecordingVenue(sim_config())
    desk = await make_desk(client, keyspace, venue)
    await desk.feed(ticks[0])
    await desk.submit(
        intent(intent_id="int-t2", qty="0.003", exec="twap", twap_slices=3, twap_interval_ms=60_000, ts=T0)
    )
    await desk.feed_all(ticks[1:4])  # up to 23:00:59.999: slice 1 is not due yet
    assert venue.creates() == [coid("int-t2", 0)]
    desk2 = await make_desk(client, keyspace, venue)  # a clean restart between slices
    await desk2.feed_all(ticks[4:])
    assert venue.creates() == [coid("int-t2", k) for k in range(3)]
    sent_at = [r.ts for k in (1, 2) for r in desk2.of(coid("int-t2", k)) if r.status is OrderStatus.FILLED]
    assert sent_at == [T0 + 60_000, T0 + 120_000]


async def test_a_twap_redelivered_after_a_restart_keeps_its_schedule(
    client: RedisClient, keyspace: Keyspace
) -> None:
    ticks = fut_bar_ticks(3)
    venue = RecordingVenue(sim_config())
    desk = await make_desk(client, keyspace, venue)
    await desk.feed(ticks[0])
    it = intent(intent_id="int-t5", qty="0.003", exec="twap", twap_slices=3, twap_interval_ms=60_000, ts=T0)
    first = await desk.submit(it)
    desk2 = await make_desk(client, keyspace, venue)
    assert await desk2.submit(it) == first  # answered from the venue: slice 0, nothing sent
    await desk2.feed_all(ticks[1:])
    assert venue.creates() == [coid("int-t5", k) for k in range(3)]  # the rest still at their times
    assert desk2.router.state.execs == {}  # and forgotten once the last slice is done


async def test_cancel_drops_the_queued_slices(client: RedisClient, keyspace: Keyspace) -> None:
    from router_kit import cancel

    ticks = fut_bar_ticks(3)
    desk = await make_desk(client, keyspace)
    await desk.feed(ticks[0])
    await desk.submit(
        intent(intent_id="int-t3", qty="0.003", exec="twap", twap_slices=3, twap_interval_ms=60_000, ts=T0)
    )
    await desk.submit(cancel(intent_id="cxl-t3", target_intent_id="int-t3", ts=T0 + 1))
    assert await desk.router.queue.members() == []
    await desk.feed_all(ticks[1:])
    assert desk.venue.creates() == [coid("int-t3", 0)]


@pytest.mark.parametrize("kill", ["1"])
async def test_kill_switch_refuses_the_later_slices_of_an_entry(
    client: RedisClient, keyspace: Keyspace, kill: str
) -> None:
    ticks = fut_bar_ticks(3)
    desk = await make_desk(client, keyspace)
    await desk.feed(ticks[0])
    await desk.submit(
        intent(intent_id="int-t4", qty="0.003", exec="twap", twap_slices=3, twap_interval_ms=60_000, ts=T0)
    )
    await client.set(keyspace.kill_switch(), kill)
    await desk.feed_all(ticks[1:])
    assert desk.venue.creates() == [coid("int-t4", 0)]
    refused = [desk.of(coid("int-t4", k))[-1] for k in (1, 2)]
    assert [(r.status, r.reason, r.order_id) for r in refused] == [
        (OrderStatus.REJECTED, "KILL_SWITCH", None)
    ] * 2
    assert await desk.router.queue.members() == []


def test_a_slice_survives_the_queue_round_trip() -> None:
    it = intent(intent_id="int-rt", qty="0.003", exec="twap", twap_slices=3, twap_interval_ms=60_000, ts=T0)
    s = Slice(it, 1, 3, D("0.001"), T0 + 60_000)
    assert Slice.from_member(s.member(), s.due_ts) == s
