"""Fixtures of the S6 tests: a Redis client per topology (single node, 3-master Cluster), a
keyspace under a prefix unique to the test (deleted afterwards: the servers are shared), the
entry gate on an event-time clock, and a migrated database on the real clickhouse-server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from positions_kit import T0

from chimera.model import TestClock
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import EntryGate, Keyspace, RedisClient, make_client

TOPOLOGIES = [
    pytest.param("single", marks=pytest.mark.redis),
    pytest.param("cluster", marks=pytest.mark.redis_cluster),
]


@pytest.fixture(params=TOPOLOGIES)
async def client(request: pytest.FixtureRequest, unique_name: str) -> AsyncIterator[RedisClient]:
    if request.param == "single":
        c = make_client(url=request.getfixturevalue("redis_url"), client_name=unique_name)
    else:
        c = make_client(cluster_nodes=request.getfixturevalue("redis_cluster_nodes"), client_name=unique_name)
    yield c
    await c.aclose()


@pytest.fixture
async def keyspace(client: RedisClient, unique_name: str) -> AsyncIterator[Keyspace]:
    ks = Keyspace(f"{unique_name}.")
    yield ks
    async for key in client.scan_iter(match=f"{ks.prefix}*", count=500):
        await client.unlink(key)  # one at a time: on a Cluster the keys span slots


@pytest.fixture
def clock() -> TestClock:
    return TestClock(T0)


@pytest.fixture
async def gate(client: RedisClient, keyspace: Keyspace, clock: TestClock) -> EntryGate:
    g = EntryGate(client, keyspace, clock, tombstone_ms=3_600_000)
    await g.load()
    return g


@pytest.fixture(scope="session")
def ch_server(clickhouse_url: str) -> Iterator[ServerBackend]:
    """A migrated database of this session on clickhouse-server (18.16), dropped at the end."""
    conn = ServerBackend(clickhouse_url, f"t_pos_{uuid.uuid4().hex[:10]}")
    migrate(conn)
    yield conn
    conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
    conn.close()
