"""A worker service's two stores, Redis and ClickHouse: opened when first wanted, closed together.

Services that read bundles or the record (S2's bundle follower and regime job, S10's page) open
them lazily so a store that is away at start costs a retry, not the worker."""

from __future__ import annotations

import asyncio

from chimera.settings import Settings
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.factory import open_backend
from sinks.redis import RedisClient, make_client


class WorkerStores:
    def __init__(self, settings: Settings, client_name: str) -> None:
        self.settings = settings
        self.client_name = client_name  # CLIENT LIST names the service holding the connection
        self._redis: RedisClient | None = None
        self._backend: ClickHouseBackend | None = None

    def redis(self) -> RedisClient:
        if self._redis is None:
            self._redis = make_client(self.settings, client_name=self.client_name)
        return self._redis

    async def backend(self) -> ClickHouseBackend:
        if self._backend is None:  # chdb opens its data dir and the driver connects: off the loop
            self._backend = await asyncio.to_thread(open_backend, self.settings)
        return self._backend

    async def close(self) -> None:
        backend, redis = self._backend, self._redis
        self._backend = self._redis = None
        if backend is not None:
            backend.close()
        if redis is not None:
            await redis.aclose()
