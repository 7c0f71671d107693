"""Fixtures of the S6 tests: a Redis client per topology (single node, 3-master Cluster), a
keyspace under a prefix unique to the test (deleted afterwards: the servers are shared), the
entry gate on an event-time clock, and a migrated database on the real clickhouse-server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from positions_kit import T0

from chimera.model import TestClock
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import EntryGate, Keyspace, RedisClient


@pytest.fixture
def clock() -> TestClock:
    return TestClock(T0)


@pytest.fixture
async def gate(client: RedisClient, keyspace: Keyspace, clock: TestClock) -> EntryGate:
    g = EntryGate(client, keyspace, clock, tombstone_ms=3_600_000)
    await g.load()
    return g


def _database(clickhouse_url: str) -> Iterator[ServerBackend]:
    conn = ServerBackend(clickhouse_url, f"t_pos_{uuid.uuid4().hex[:10]}")
    migrate(conn)
    yield conn
    conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
    conn.close()


@pytest.fixture(scope="session")
def ch_server(clickhouse_url: str) -> Iterator[ServerBackend]:
    """A migrated database of this session on clickhouse-server (18.16), dropped at the end."""
    yield from _database(clickhouse_url)


@pytest.fixture
def ch_fresh(clickhouse_url: str) -> Iterator[ServerBackend]:
    """A migrated database of this test alone (its rows' ids may be another test's)."""
    yield from _database(clickhouse_url)
