"""Factories for the Redis tests: one client per topology (single node, 3-master Cluster) and a
keyspace under a prefix unique to the test, deleted afterwards (the servers are shared: no FLUSHALL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from chimera.model import TestClock
from sinks.redis import EntryGate, Idempotency, Keyspace, Locks, RedisClient

ScanKeys = Callable[[], Awaitable[list[str]]]


@pytest.fixture
def clock() -> TestClock:
    return TestClock(1_700_000_000_000)


@pytest.fixture
async def gate(client: RedisClient, keyspace: Keyspace, clock: TestClock) -> EntryGate:
    g = EntryGate(client, keyspace, clock, tombstone_ms=3_600_000)
    await g.load()
    return g


@pytest.fixture
async def locks(client: RedisClient) -> Locks:
    lk = Locks(client)
    await lk.load()
    return lk


@pytest.fixture
async def idem(client: RedisClient, keyspace: Keyspace) -> Idempotency:
    i = Idempotency(client, keyspace)
    await i.load()
    return i


@pytest.fixture
def scan_keys(client: RedisClient, keyspace: Keyspace) -> ScanKeys:
    """Every key this test wrote (on a Cluster, from every primary)."""

    async def scan() -> list[str]:
        return sorted([k async for k in client.scan_iter(match=f"{keyspace.prefix}*", count=500)])

    return scan
