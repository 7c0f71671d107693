"""Fixtures of the engine tests: the real Redis (single node; the Cluster where a test asks), a
migrated database per run on this process's chdb store, and ``run`` — one backtest whose Redis
keys and database are dropped after the test (the servers are shared: no FLUSHALL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agents.config.bundle import Bundle
from agents.connectors.recordings import Record
from agents.engine import BacktestResult, EngineConfig, drop_keys, run_backtest
from agents.engine.ends import DataEnds
from sinks.clickhouse.chdb_backend import ChdbBackend, current_store
from sinks.clickhouse.migrate import migrate
from sinks.redis import RedisClient, make_client


@pytest.fixture(scope="session")
def chdb_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This process's one chdb store (chdb opens one data dir per process): the open one, if any."""
    return current_store() or tmp_path_factory.mktemp("chdb")


@pytest.fixture
async def redis(redis_url: str, unique_name: str) -> AsyncIterator[RedisClient]:
    c = make_client(url=redis_url, client_name=unique_name)
    yield c
    await c.aclose()


@pytest.fixture
async def cluster(redis_cluster_nodes: list[tuple[str, int]], unique_name: str) -> AsyncIterator[RedisClient]:
    c = make_client(cluster_nodes=redis_cluster_nodes, client_name=unique_name)
    yield c
    await c.aclose()


@dataclass
class Run:
    result: BacktestResult
    db: ChdbBackend
    redis: RedisClient
    cfg: EngineConfig
    ends: DataEnds | None = None


RunFactory = Callable[..., Awaitable[Run]]


@pytest.fixture
async def run(chdb_store: Path, redis: RedisClient) -> AsyncIterator[RunFactory]:
    """``await run(records, bundle, redis=None, data_ends=False, **engine_config)``: a backtest on
    its own database and keyspace, kept for the test to read, dropped afterwards; ``data_ends``:
    trimmed and closed where each perpetual's data ends, as ``chimera demo`` runs it."""
    done: list[Run] = []

    async def make(
        records: list[Record],
        bundle: Bundle,
        client: RedisClient | None = None,
        data_ends: bool = False,
        **cfg: Any,
    ) -> Run:
        config = EngineConfig(**cfg)
        ends = DataEnds(records, config.batch_window_ms) if data_ends else None
        records = ends.trim(records) if ends is not None else records
        db = ChdbBackend(chdb_store, f"t_engine_{uuid.uuid4().hex[:10]}")
        migrate(db)
        c = client or redis
        result = await run_backtest(records, bundle, c, db, config, ends=ends)
        out = Run(result, db, c, config, ends)
        done.append(out)
        return out

    yield make
    for r in done:
        await drop_keys(r.redis, r.cfg.key_prefix)
        r.db.execute(f"DROP DATABASE IF EXISTS {r.db.database}")
        r.db.close()


@pytest.fixture(autouse=True)
def _needs_redis(request: pytest.FixtureRequest) -> Iterator[None]:
    request.applymarker(pytest.mark.redis)
    yield
