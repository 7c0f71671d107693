"""Fixtures of the config tests: a migrated database (clickhouse-server 18.16 and chdb), a Redis
keyspace and a topic prefix of this test, and the store on them (the sender is real Kafka)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from config_kit import T0

from agents.config.kafka import KafkaEventSender
from agents.config.store import ConfigStore
from chimera.model import TestClock
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.chdb_backend import ChdbBackend, current_store
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import Keyspace, RedisClient, make_client


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return current_store() or tmp_path_factory.mktemp("chdb")


@pytest.fixture(params=[pytest.param("server", marks=pytest.mark.clickhouse), "chdb"])
def backend(request: pytest.FixtureRequest, unique_name: str, chdb_dir: Path) -> Iterator[ClickHouseBackend]:
    db = unique_name[:60]
    conn: ClickHouseBackend
    if request.param == "server":
        conn = ServerBackend(request.getfixturevalue("clickhouse_url"), db)
    else:
        conn = ChdbBackend(chdb_dir, db)
    migrate(conn)
    yield conn
    conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
    conn.close()


@pytest.fixture
async def redis_client(redis_url: str, unique_name: str) -> AsyncIterator[RedisClient]:
    c = make_client(url=redis_url, client_name=unique_name)
    yield c
    async for key in c.scan_iter(match=f"{unique_name}.*", count=500):
        await c.unlink(key)
    await c.aclose()


@pytest.fixture
def prefix(unique_name: str) -> str:
    return f"{unique_name}."


@pytest.fixture
def clock() -> TestClock:
    return TestClock(T0)


@pytest.fixture
def store(
    backend: ClickHouseBackend, redis_client: RedisClient, kafka_bootstrap: str, prefix: str, clock: TestClock
) -> ConfigStore:
    return ConfigStore(
        backend, redis_client, Keyspace(prefix), KafkaEventSender(kafka_bootstrap, prefix), clock
    )
