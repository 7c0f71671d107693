"""Run a backtest: records in, a :class:`BacktestResult` out, the record in ClickHouse.

The caller owns the connections: a Redis client (single node or Cluster) and a *migrated*
ClickHouse database for this run (a run's ids are deterministic, so two runs with other inputs in
one database would fold into each other's rows: give each run its own database).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from agents.config.bundle import Bundle
from agents.connectors.recordings import Record
from agents.engine.config import EngineConfig
from agents.engine.ends import DataEnds
from agents.engine.engine import Engine
from agents.engine.result import BacktestResult
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.redis import Keyspace, RedisClient

Progress = Callable[[int], None]  # called with how many records were fed since the last call


async def run_backtest(
    records: Iterable[Record],
    bundle: Bundle,
    redis: RedisClient,
    backend: ClickHouseBackend,
    cfg: EngineConfig | None = None,
    progress: Progress | None = None,
    every: int = 2_000,
    ends: DataEnds | None = None,
) -> BacktestResult:
    """``ends``: close each perpetual's positions when its own data ends (records trimmed by it)."""
    cfg = cfg or EngineConfig()
    engine = await Engine.open(bundle, redis, backend, cfg, ends)
    began = time.perf_counter()
    n = 0
    for rec in records:
        await engine.feed(rec)
        n += 1
        if progress is not None and n == every:
            progress(n)
            n = 0
    result = await engine.finish()
    result.wall_s = time.perf_counter() - began
    if progress is not None and n:
        progress(n)
    return result


async def drop_keys(redis: RedisClient, prefix: str) -> int:
    """Delete a run's keys (its whole ``bt.<run_id>.`` keyspace); return how many."""
    Keyspace(prefix)  # refuses a prefix with braces or an empty one below
    if not prefix:
        raise ValueError("refusing to delete every key: a run's prefix is never empty")
    n = 0
    async for key in redis.scan_iter(match=f"{prefix}*", count=500):
        await redis.unlink(key)  # one at a time: on a Cluster the keys span slots
        n += 1
    return n
