"""The config service (S10, minimal) in a worker: ``GET /active`` on the worker's web server.

There is no stream to consume: bundles are loaded and activated by ``chimera config`` (the store
writes ``config_active``, ``cfg:{active}`` and ``cfg.events``). The worker opens a reading store
(Redis + ClickHouse, no ``cfg.events`` sender: it never activates) before the app's consumer
starts and serves :mod:`agents.config.http` from it; until then the page answers 503.
"""

from __future__ import annotations

import asyncio

from mode import Service

from agents.app import app
from agents.config.http import create_app
from agents.config.store import ConfigStore
from agents.web import ASGIApp, mount
from chimera.model import LiveClock
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.factory import open_backend
from sinks.redis import Keyspace, RedisClient, make_client


class ConfigRuntime(Service):
    api: ASGIApp | None = None
    _redis: RedisClient | None = None
    _backend: ClickHouseBackend | None = None

    async def on_start(self) -> None:
        settings = app.settings
        self._redis = make_client(settings, client_name=f"{settings.worker_id}-s10")
        self._backend = await asyncio.to_thread(open_backend, settings)
        store = ConfigStore(self._backend, self._redis, Keyspace.from_settings(settings), None, LiveClock())
        self.api = create_app(store)

    async def on_stop(self) -> None:
        self.api = None
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


runtime = ConfigRuntime()
app.add_dependency(runtime)
mount(app, ["/active"], lambda: runtime.api, "the config service is starting: its store is not open yet")
