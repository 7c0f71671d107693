"""Factories for the Redis tests: one client per topology (single node, 3-master Cluster) and a
keyspace under a prefix unique to the test, deleted afterwards (the servers are shared: no FLUSHALL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from chimera.model import TestClock
from sinks.redis import EntryGate, Idempotency, Keyspace, Locks, RedisClient, make_client

TOPOLOGIES = [
    pytest.param("single", marks=pytest.mark.redis),
    pytest.param("cluster", marks=pytest.mark.redis_cluster),
]

ScanKeys = Callable[[], Awaitable[list[str]]]


@pytest.fixture(params=TOPOLOGIES)
async def client(request: pytest.FixtureRequest, unique_name: str) -> AsyncIterator[RedisClient]:
    """A client from the factory, for the single node and for the Cluster."""
    if request.param == "single":
        c = make_client(url=request.getfixturevalue("redis_url"), client_name=unique_name)
    else:
        nodes = request.getfixturevalue("redis_cluster_nodes")
        c = make_client(cluster_nodes=nodes, client_name=unique_name)
    yield c
    await c.aclose()


@pytest.fixture
async def keyspace(client: RedisClient, unique_name: str) -> AsyncIterator[Keyspace]:
    ks = Keyspace(f"{unique_name}.")
    yield ks
    # scan_iter visits every primary on a Cluster; delete one key at a time (keys span slots)
    async for key in client.scan_iter(match=f"{ks.prefix}*", count=500):
        await client.unlink(key)


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
