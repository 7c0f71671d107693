"""At-least-once delivery and lost answers, on real Redis (single node and Cluster) and SimVenue:
an intent delivered twice and a send whose answer is lost each give exactly one order at the venue."""

from __future__ import annotations

from router_kit import FUT, D, RecordingVenue, coid, fut_bar_ticks, intent, make_desk, sim_config

from agents.connectors.port import OrderRequest, OrderState, OutcomeUnknown
from agents.router.service import NOT_PLACED
from chimera.model import OrderStatus
from sinks.redis import Keyspace, RedisClient

T0 = 1640991600000


async def test_a_redelivered_intent_places_nothing_and_gets_the_same_results(
    client: RedisClient, keyspace: Keyspace
) -> None:
    ticks = fut_bar_ticks(1)
    desk = await make_desk(client, keyspace)
    await desk.feed(ticks[0])
    it = intent(intent_id="int-dup", qty="0.01", ts=T0)
    first = await desk.submit(it)
    again = await desk.submit(it)  # the consumer crashed before committing: the same record again
    assert desk.venue.creates() == [coid("int-dup", 0)]
    assert [r.status for r in first] == [OrderStatus.FILLED]
    assert again == first  # the recorded result, re-emitted (same version: consumers collapse it)
    assert desk.router.metrics.counters["intent_redelivered"] == 1

    # after a restart nothing is in memory: the records and the venue answer
    desk2 = await make_desk(client, keyspace, desk.venue)
    third = await desk2.submit(it)
    assert desk.venue.creates() == [coid("int-dup", 0)]
    assert third == first  # mid_at_send and book come back from the order's idempotency record
    assert desk.venue.venue_orders(FUT) == [coid("int-dup", 0)]


async def test_a_redelivery_while_the_intent_still_works(client: RedisClient, keyspace: Keyspace) -> None:
    ticks = fut_bar_ticks(2)
    desk = await make_desk(client, keyspace)
    await desk.feed(ticks[0])
    it = intent(intent_id="int-rest", exec="maker_taker", qty="0.01", maker_wait_ms=60_000, ts=T0)
    first = await desk.submit(it)
    assert [r.status for r in first] == [OrderStatus.NEW]
    assert await desk.submit(it) == first
    desk2 = await make_desk(client, keyspace, desk.venue)
    assert await desk2.submit(it) == first  # found through the records, reported, not sent again
    assert desk.venue.creates() == [coid("int-rest", "m0")]


async def test_a_lost_answer_is_resolved_by_fetching_never_by_sending_again(
    client: RedisClient, keyspace: Keyspace
) -> None:
    ticks = fut_bar_ticks(1)
    venue = RecordingVenue(sim_config())
    venue.lose_answer = {coid("int-lost", 0)}  # the venue takes the order; its answer never arrives
    desk = await make_desk(client, keyspace, venue)
    await desk.feed(ticks[0])
    it = intent(intent_id="int-lost", qty="0.01", ts=T0)
    results = await desk.submit(it)
    assert venue.calls == [("create", coid("int-lost", 0)), ("fetch", coid("int-lost", 0))]
    assert [(r.status, r.filled_qty) for r in results] == [(OrderStatus.FILLED, D("0.01"))]
    assert desk.router.metrics.counters["send_outcome_unknown"] == 1
    assert desk.router.metrics.counters["send_resolved_by_fetch"] == 1
    # and the intent redelivered on top of it: still the one order
    await desk.submit(it)
    assert venue.creates() == [coid("int-lost", 0)]
    assert venue.venue_orders(FUT) == [coid("int-lost", 0)]
    assert await desk.venue.positions() and (await desk.venue.positions())[0].qty == D("0.01")


class LostRequestVenue(RecordingVenue):
    """The request itself is lost: the venue never sees it, the caller hears OutcomeUnknown."""

    async def create_order(self, req: OrderRequest) -> OrderState:
        self.calls.append(("create", req.client_order_id))
        raise OutcomeUnknown("connection reset before the request was written", "reset")


async def test_a_lost_request_is_never_resent_and_ends_not_placed(
    client: RedisClient, keyspace: Keyspace
) -> None:
    ticks = fut_bar_ticks(1)
    venue = LostRequestVenue(sim_config())
    desk = await make_desk(client, keyspace, venue)
    await desk.feed(ticks[0])
    results = await desk.submit(intent(intent_id="int-gone", qty="0.01", ts=T0))
    assert results == []  # nothing known yet
    c = coid("int-gone", 0)
    await desk.router.on_time(T0 + 5_000)
    assert desk.of(c) == []  # still unknown: the venue may yet show it
    late = await desk.router.on_time(T0 + 11_001)  # past unknown_after_ms (recvWindow + skew)
    assert [(r.status, r.reason) for r in late] == [(OrderStatus.REJECTED, NOT_PLACED)]
    assert venue.creates() == [c]  # one attempt, never a second create
    assert [k for k, _ in venue.calls].count("fetch") >= 2
