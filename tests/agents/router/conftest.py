"""Fixtures of the S4 tests: a Redis client per topology (single node, 3-master Cluster), a keyspace
under a prefix unique to the test (deleted afterwards: the servers are shared, no FLUSHALL), and
a migrated ClickHouse database on chdb (this process's one store) for the row tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sinks.clickhouse.chdb_backend import ChdbBackend, current_store
from sinks.clickhouse.migrate import migrate
from sinks.redis import Keyspace, RedisClient, make_client


def _client(request: pytest.FixtureRequest, kind: str, name: str) -> RedisClient:
    if kind == "single":
        return make_client(url=request.getfixturevalue("redis_url"), client_name=name)
    return make_client(cluster_nodes=request.getfixturevalue("redis_cluster_nodes"), client_name=name)


@pytest.fixture
async def redis1(request: pytest.FixtureRequest, unique_name: str) -> AsyncIterator[RedisClient]:
    """The single node only (tests where the topology does not matter)."""
    request.applymarker(pytest.mark.redis)
    c = _client(request, "single", unique_name)
    yield c
    await c.aclose()


async def _drop(c: RedisClient, ks: Keyspace) -> None:
    async for key in c.scan_iter(match=f"{ks.prefix}*", count=500):
        await c.unlink(key)  # one at a time: on a Cluster the keys span slots


@pytest.fixture
async def ks1(redis1: RedisClient, unique_name: str) -> AsyncIterator[Keyspace]:
    ks = Keyspace(f"{unique_name}.")
    yield ks
    await _drop(redis1, ks)


@pytest.fixture(scope="session")
def router_chdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbBackend]:
    """A migrated database on this process's chdb store, dropped at the end of the session."""
    store: Path = current_store() or tmp_path_factory.mktemp("chdb")
    conn = ChdbBackend(store, f"t_router_{uuid.uuid4().hex[:10]}")
    migrate(conn)
    yield conn
    conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
    conn.close()
