"""Idempotency records on a real redis-server and a real Cluster; every lock and record has a TTL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from sinks.redis import Idempotency, Keyspace, Locks, RedisClient

ScanKeys = Callable[[], Awaitable[list[str]]]


async def test_fifty_racing_claims_one_winner_and_all_see_its_value(
    idem: Idempotency, client: RedisClient, keyspace: Keyspace
) -> None:
    claims = await asyncio.gather(*(idem.claim("intent", "int-7", 60_000, f"coid-{i}") for i in range(50)))
    winners = [c for c in claims if c.first]
    assert len(winners) == 1
    assert {c.value for c in claims} == {winners[0].value}
    assert await idem.get("intent", "int-7") == winners[0].value
    assert 0 < await client.pttl(keyspace.idem("intent", "int-7")) <= 60_000
    assert await idem.get("intent", "int-8") is None


async def test_a_record_expires_and_can_be_claimed_again(idem: Idempotency) -> None:
    assert (await idem.claim("transfer", "tr-1", 50, "a")).first
    await asyncio.sleep(0.12)
    again = await idem.claim("transfer", "tr-1", 10_000, "b")
    assert (again.first, again.value) == (True, "b")


async def test_every_lock_and_idempotency_key_has_a_ttl(
    idem: Idempotency, locks: Locks, client: RedisClient, keyspace: Keyspace, scan_keys: ScanKeys
) -> None:
    for kind in ("intent", "client_order", "signal", "transfer", "trade"):
        await idem.claim(kind, "k-1", 120_000, "v")
    await locks.acquire(keyspace.lock_pos("p-1"), "a", 5_000)
    await locks.acquire(keyspace.lock_treasury("SPOT", "FUT"), "a", 5_000)
    await locks.acquire(keyspace.lock_router_param_update(), "a", 5_000)
    await locks.extend(keyspace.lock_pos("p-1"), "a", 9_000)

    keys = await scan_keys()
    assert len(keys) == 8
    ttls = {k: await client.pttl(k) for k in keys}
    assert all(0 < t <= 120_000 for t in ttls.values()), ttls


@pytest.mark.parametrize(
    ("kind", "ttl", "value", "error"),
    [
        ("", 1_000, "v", ValueError),
        ("intent", 0, "v", ValueError),
        ("intent", 1_000, 5, TypeError),
    ],
)
async def test_bad_claims_are_refused(
    idem: Idempotency, kind: str, ttl: int, value: object, error: type
) -> None:
    with pytest.raises(error):
        await idem.claim(kind, "k", ttl, value)  # type: ignore[arg-type]
