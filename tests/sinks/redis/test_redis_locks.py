"""Locks on a real redis-server and a real Cluster: holder tokens, TTLs, races."""

from __future__ import annotations

import asyncio

import pytest

from sinks.redis import Keyspace, LockBusy, Locks, RedisClient


async def test_a_lock_is_never_released_or_extended_by_a_non_holder(
    locks: Locks, client: RedisClient, keyspace: Keyspace
) -> None:
    key = keyspace.lock_pos("p-1")
    assert await locks.acquire(key, "worker-a", 10_000)
    assert not await locks.acquire(key, "worker-b", 10_000)
    assert not await locks.release(key, "worker-b")
    assert not await locks.extend(key, "worker-b", 60_000)
    assert await client.get(key) == "worker-a"
    assert 0 < await client.pttl(key) <= 10_000

    assert await locks.extend(key, "worker-a", 60_000)
    assert 10_000 < await client.pttl(key) <= 60_000
    assert await locks.release(key, "worker-a")
    assert await client.exists(key) == 0
    assert not await locks.release(key, "worker-a")


async def test_the_holder_taking_its_lock_again_refreshes_it(
    locks: Locks, client: RedisClient, keyspace: Keyspace
) -> None:
    key = keyspace.lock_treasury("SPOT", "FUT")
    assert await locks.acquire(key, "t1", 1_000)
    assert await locks.acquire(key, "t1", 30_000)
    assert 1_000 < await client.pttl(key) <= 30_000


async def test_fifty_racing_holders_one_wins(locks: Locks, client: RedisClient, keyspace: Keyspace) -> None:
    key = keyspace.lock_router_param_update()
    won = await asyncio.gather(*(locks.acquire(key, f"w{i}", 10_000) for i in range(50)))
    assert sum(won) == 1
    assert await client.get(key) == f"w{won.index(True)}"


async def test_an_abandoned_lock_expires_by_itself(locks: Locks, keyspace: Keyspace) -> None:
    key = keyspace.lock_pos("p-dead")
    assert await locks.acquire(key, "crashed", 50)
    await asyncio.sleep(0.12)
    assert await locks.acquire(key, "next", 10_000)


async def test_held_releases_after_the_block_and_refuses_when_busy(
    locks: Locks, client: RedisClient, keyspace: Keyspace
) -> None:
    key = keyspace.lock_pos("p-2")
    async with locks.held(key, "a", 10_000):
        assert await client.get(key) == "a"
        with pytest.raises(LockBusy, match="p-2"):
            async with locks.held(key, "b", 10_000):
                pass
        assert await client.get(key) == "a"
    assert await client.exists(key) == 0


@pytest.mark.parametrize(("token", "ttl"), [("", 1_000), ("t", 0), ("t", -5)])
async def test_bad_tokens_and_ttls_are_refused(
    locks: Locks, keyspace: Keyspace, token: str, ttl: int
) -> None:
    with pytest.raises(ValueError, match=r"token|ttl_ms"):
        await locks.acquire(keyspace.lock_pos("p-3"), token, ttl)
