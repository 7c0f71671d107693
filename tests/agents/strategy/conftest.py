"""Fixtures of the S3 tests: a Redis client per topology (single node, 3-master Cluster), a keyspace
under a prefix unique to the test (deleted afterwards: the servers are shared, no FLUSHALL), and
an entry gate on an event-time clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agent_kit import Rig, RigFactory
from strategy_kit import T0

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


@pytest.fixture
def make_rig(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, unique_name: str
) -> Iterator[RigFactory]:
    """``make_rig(name)``: the S3 agent's real stack under names of this test and ``name`` (a topic
    prefix, a Redis key prefix, a migrated clickhouse-server database); all dropped afterwards."""
    made: list[tuple[Rig, ServerBackend]] = []

    def make(name: str = "") -> Rig:
        base = f"{unique_name[:50]}{name}"
        backend = ServerBackend(clickhouse_url, base)
        migrate(backend)
        r = Rig(
            kafka_bootstrap, f"{base}.", Keyspace(f"{base}."), redis_url, clickhouse_url, backend.database
        )
        made.append((r, backend))
        return r

    yield make
    for r, backend in made:
        r.close()
        backend.execute(f"DROP DATABASE IF EXISTS {backend.database}")
        backend.close()
        with r.redis() as client:
            for key in client.scan_iter(match=f"{r.keyspace.prefix}*", count=500):
                client.unlink(key)


@pytest.fixture
def rig(make_rig: RigFactory) -> Rig:
    return make_rig("")
