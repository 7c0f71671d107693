"""The config service (S10, minimal) in a worker: ``GET /active`` on the worker's web server.

There is no stream to consume: bundles are loaded and activated by ``chimera config`` (the store
writes ``config_active``, ``cfg:{active}`` and ``cfg.events``). The worker opens a reading store
(Redis + ClickHouse, no ``cfg.events`` sender: it never activates) before the app's consumer
starts and serves :mod:`agents.config.http` from it; until then the page answers 503.
"""

from __future__ import annotations

from mode import Service

from agents.app import app
from agents.config.http import create_app
from agents.config.store import ConfigStore
from agents.stores import WorkerStores
from agents.web import ASGIApp, mount
from chimera.model import LiveClock
from sinks.redis import Keyspace


class ConfigRuntime(Service):
    api: ASGIApp | None = None
    _stores: WorkerStores | None = None

    async def on_start(self) -> None:
        settings = app.settings
        self._stores = stores = WorkerStores(settings, f"{settings.worker_id}-s10")
        keyspace = Keyspace.from_settings(settings)
        store = ConfigStore(await stores.backend(), stores.redis(), keyspace, None, LiveClock())
        self.api = create_app(store)

    async def on_stop(self) -> None:
        self.api = None
        if self._stores is not None:
            await self._stores.close()


runtime = ConfigRuntime()
app.add_dependency(runtime)
mount(app, ["/active"], lambda: runtime.api, "the config service is starting: its store is not open yet")
