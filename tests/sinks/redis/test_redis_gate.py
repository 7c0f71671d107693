"""The entry gate on a real redis-server and a real 3-master Cluster: races, exact amounts, leases."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest
from redis.asyncio.cluster import RedisCluster

from chimera.model import TestClock
from sinks.redis import EntryGate, Keyspace, RedisClient, Refusal, ReservationConflict

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"]
HOUR = 3_600_000


async def _race(gate: EntryGate, n: int, budget: str, max_conc: int, margin: str = "1") -> list:
    return await asyncio.gather(
        *(
            gate.reserve(f"int-{i}", SYMBOLS[i % len(SYMBOLS)], margin, budget, max_conc, HOUR)
            for i in range(n)
        )
    )


async def test_fifty_racing_reservations_against_a_budget_for_ten_grant_exactly_ten(
    gate: EntryGate, client: RedisClient, keyspace: Keyspace, unique_name: str
) -> None:
    decisions = await _race(gate, 50, budget="10", max_conc=50)

    granted = [d for d in decisions if d.granted]
    assert len(granted) == 10
    assert {d.reason for d in decisions if not d.granted} == {Refusal.BUDGET}
    usage = await gate.usage(SYMBOLS)
    assert usage.budget_inuse == Decimal(10)
    assert usage.concurrency == dict(Counter(d.symbol for d in granted)) | {
        s: 0 for s in SYMBOLS if s not in {d.symbol for d in granted}
    }
    # the race really ran on several connections at once (on a Cluster: to the gate slot's node)
    if isinstance(client, RedisCluster):
        node = client.get_node_from_key(keyspace.gate_budget_inuse())
        clients = await client.client_list(target_nodes=node)
    else:
        clients = await client.client_list()
    assert sum(1 for c in clients if c["name"] == unique_name) > 1


async def test_per_symbol_concurrency_is_enforced_under_the_same_race(gate: EntryGate) -> None:
    decisions = await _race(gate, 50, budget="1000", max_conc=3)

    granted = Counter(d.symbol for d in decisions if d.granted)
    assert granted == dict.fromkeys(SYMBOLS, 3)
    assert {d.reason for d in decisions if not d.granted} == {Refusal.CONCURRENCY}
    assert (await gate.usage(SYMBOLS)).budget_inuse == Decimal(15)


async def test_budget_and_concurrency_are_taken_together_or_not_at_all(gate: EntryGate) -> None:
    # slots allow 5 x 3 = 15, the budget 10 margins of 1.25: both limits bind in the same race
    decisions = await _race(gate, 50, budget="12.5", max_conc=3, margin="1.25")

    granted = [d for d in decisions if d.granted]
    assert len(granted) == 10
    per_symbol = Counter(d.symbol for d in granted)
    assert max(per_symbol.values()) <= 3
    usage = await gate.usage(SYMBOLS)
    assert usage.budget_inuse == Decimal("12.5")
    assert usage.concurrency == {s: per_symbol.get(s, 0) for s in SYMBOLS}


async def test_release_gives_back_exactly_what_was_reserved_and_usage_returns_to_zero(
    gate: EntryGate,
) -> None:
    amounts = ["123.456789", "0.000001", "9999.999999", "0.1", "0.2", "7"]
    for i, amount in enumerate(amounts):
        d = await gate.reserve(f"int-{i}", SYMBOLS[i % 2], amount, "1000000", 10, HOUR)
        assert d.granted
        assert d.margin_usdt == Decimal(amount)
    usage = await gate.usage(SYMBOLS[:2])
    assert usage.budget_inuse == sum(Decimal(a) for a in amounts)

    released = [await gate.release(f"int-{i}") for i in range(len(amounts))]
    assert [r.margin_usdt for r in released] == [Decimal(a) for a in amounts]
    assert all(r.released for r in released)
    assert [r.symbol for r in released] == [SYMBOLS[i % 2] for i in range(len(amounts))]
    usage = await gate.usage(SYMBOLS[:2])
    assert usage.budget_inuse == Decimal(0)
    assert usage.concurrency == {SYMBOLS[0]: 0, SYMBOLS[1]: 0}


async def test_a_second_release_changes_nothing_even_when_racing(gate: EntryGate) -> None:
    await gate.reserve("int-a", "BTCUSDT", "5", "100", 5, HOUR)
    await gate.reserve("int-b", "BTCUSDT", "3", "100", 5, HOUR)

    both = await asyncio.gather(*(gate.release("int-a") for _ in range(10)))
    assert sum(r.released for r in both) == 1
    assert sum(r.margin_usdt for r in both) == Decimal(5)
    again = await gate.release("int-a")
    assert (again.released, again.margin_usdt) == (False, Decimal(0))
    usage = await gate.usage(["BTCUSDT"])
    assert (usage.budget_inuse, usage.concurrency["BTCUSDT"]) == (Decimal(3), 1)
    unknown = await gate.release("int-never")
    assert (unknown.released, unknown.margin_usdt) == (False, Decimal(0))


async def test_the_same_intent_reserving_again_reserves_once(gate: EntryGate) -> None:
    decisions = await asyncio.gather(
        *(gate.reserve("int-dup", "ETHUSDT", "2.5", "100", 1, HOUR) for _ in range(20))
    )
    assert all(d.granted for d in decisions)
    assert sum(not d.duplicate for d in decisions) == 1
    usage = await gate.usage(["ETHUSDT"])
    assert (usage.budget_inuse, usage.concurrency["ETHUSDT"]) == (Decimal("2.5"), 1)

    with pytest.raises(ReservationConflict, match="int-dup"):
        await gate.reserve("int-dup", "ETHUSDT", "3", "100", 1, HOUR)


async def test_a_released_intent_redelivered_is_not_reserved_again(
    gate: EntryGate, client: RedisClient, keyspace: Keyspace
) -> None:
    await gate.reserve("int-r", "BTCUSDT", "4", "100", 5, HOUR)
    await gate.release("int-r")

    d = await gate.reserve("int-r", "BTCUSDT", "4", "100", 5, HOUR)
    assert (d.granted, d.reason) == (False, Refusal.RELEASED)
    assert (await gate.usage(["BTCUSDT"])).budget_inuse == Decimal(0)
    # the tombstone that remembers it expires
    assert 0 < await client.pttl(keyspace.gate_reservation("int-r")) <= HOUR


async def test_an_unrenewed_lease_expires_and_its_budget_comes_back(
    gate: EntryGate, clock: TestClock
) -> None:
    assert (await gate.reserve("int-old", "BTCUSDT", "8", "10", 1, 1_000)).granted
    assert (await gate.reserve("int-kept", "ETHUSDT", "2", "10", 1, 1_000)).granted
    clock.advance(900)
    assert await gate.renew("int-kept", 1_000)
    refused = await gate.reserve("int-new", "BTCUSDT", "8", "10", 1, 1_000)
    assert refused.reason == Refusal.BUDGET

    clock.advance(200)  # int-old's lease ran out at +1000; int-kept's runs to +1900
    d = await gate.reserve("int-new2", "BTCUSDT", "8", "10", 1, 1_000)
    assert d.granted
    assert (await gate.release("int-old")).released is False
    assert (await gate.reserve("int-old", "BTCUSDT", "8", "10", 1, 1_000)).reason == Refusal.EXPIRED
    assert not await gate.renew("int-old", 1_000)
    usage = await gate.usage(["BTCUSDT", "ETHUSDT"])
    assert (usage.budget_inuse, usage.concurrency) == (Decimal(10), {"BTCUSDT": 1, "ETHUSDT": 1})

    clock.advance(5_000)
    assert sorted(await gate.reclaim_expired()) == ["int-kept", "int-new2"]
    assert (await gate.usage(["BTCUSDT"])).budget_inuse == Decimal(0)


@pytest.mark.parametrize(
    ("margin", "limit", "conc", "ttl", "message"),
    [
        ("1.0000001", "10", 1, 1, "more than 6 decimals"),
        ("-1", "10", 1, 1, "out of range"),
        ("0", "10", 1, 1, "positive"),
        ("1", "abc", 1, 1, "not a number"),
        ("1", "10", -1, 1, "max_concurrency"),
        ("1", "10", 1, 0, "ttl_ms"),
        ("1e12", "1e13", 1, 1, "out of range"),
    ],
)
async def test_bad_amounts_and_limits_are_refused_by_name(
    gate: EntryGate, margin: str, limit: str, conc: int, ttl: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await gate.reserve("int-bad", "BTCUSDT", margin, limit, conc, ttl)


async def test_gate_keys_share_one_slot_on_the_real_cluster(
    redis_cluster_nodes: list[tuple[str, int]], unique_name: str
) -> None:
    from sinks.redis import make_client

    client = make_client(cluster_nodes=redis_cluster_nodes)
    assert isinstance(client, RedisCluster)
    try:
        ks = Keyspace(f"{unique_name}.")
        keys = [
            ks.gate_budget_inuse(),
            ks.gate_leases(),
            *(ks.gate_concurrency(s) for s in SYMBOLS),
            *(ks.gate_reservation(f"int-{i}") for i in range(5)),
        ]
        node = client.get_node(host=redis_cluster_nodes[0][0], port=redis_cluster_nodes[0][1])
        slots = {await client.execute_command("CLUSTER KEYSLOT", k, target_nodes=node) for k in keys}
        assert len(slots) == 1
        spec = [
            await client.execute_command("CLUSTER KEYSLOT", k, target_nodes=node)
            for k in ("risk:{budget}:fut_margin:inuse", "risk:{concurrency}:BTCUSDT")
        ]
        assert spec[0] != spec[1]
    finally:
        await client.aclose()
