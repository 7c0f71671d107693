"""Redis fixtures shared by the test folders that need them (import them into a conftest):
a client per topology (single node, 3-master Cluster) and a keyspace under a prefix unique to the
test, deleted afterwards (the servers are shared: no FLUSHALL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sinks.redis import Keyspace, RedisClient, make_client

TOPOLOGIES = [
    pytest.param("single", marks=pytest.mark.redis),
    pytest.param("cluster", marks=pytest.mark.redis_cluster),
]


@pytest.fixture(params=TOPOLOGIES)
async def client(request: pytest.FixtureRequest, unique_name: str) -> AsyncIterator[RedisClient]:
    """A client from the factory, for the single node and for the Cluster."""
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
    # scan_iter visits every primary on a Cluster; delete one key at a time (keys span slots)
    async for key in client.scan_iter(match=f"{ks.prefix}*", count=500):
        await client.unlink(key)
