"""S2's parameters from the active config bundle (``Bundle.feature_config()``: the bundle's
``features`` with ``config_rev`` = its rev, part of every ``signal_id``), as the in-process engine
takes them.

Until this, the agent ran on ``FeatureConfig()`` — ``config_rev`` "local" and the default bar
interval — whatever bundle was active: every signal_id differed from the engine's on the same
input (found by the Kafka-path vs in-process demo test), and a bundle with other feature
parameters (``agents/demo/btc_xrp_5m_bundle.json``: 5-minute bars) was decided on 1-minute
features.

Read before the app's consumer starts (a dependency of the app, as S3 and S4 open their wiring),
then followed: a newly activated bundle is picked up within ``POLL_S`` and the agent switches
between windows (``agents.features.agent``). No bundle active: ``None``, and the agent keeps its
built-in default.
"""

from __future__ import annotations

import asyncio
import logging

from mode import Service

from agents.app import app
from agents.config.bundle import Bundle
from agents.config.store import ConfigStore
from agents.features.config import FeatureConfig
from chimera.model import LiveClock
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.factory import open_backend
from sinks.redis import Keyspace, RedisClient, make_client

log = logging.getLogger(__name__)
POLL_S = 1.0


class ActiveFeatures(Service):
    config: FeatureConfig | None = None
    bundle: Bundle | None = None  # the whole active bundle (the regime job takes its first symbol)
    _rev: str | None = None
    _store: ConfigStore | None = None
    _redis: RedisClient | None = None
    _backend: ClickHouseBackend | None = None
    _failing = False

    async def on_start(self) -> None:
        await self._refresh()
        self.add_future(self._follow())

    async def _open(self) -> ConfigStore:
        if self._store is None:
            settings = app.settings
            self._redis = make_client(settings, client_name=f"{settings.worker_id}-s2")
            self._backend = await asyncio.to_thread(open_backend, settings)
            self._store = ConfigStore(
                self._backend, self._redis, Keyspace.from_settings(settings), None, LiveClock()
            )
        return self._store

    async def _refresh(self) -> None:
        """Read the active bundle; a Redis or ClickHouse that cannot be read (a features-only
        worker without them, a hiccup) keeps the current parameters, said once, and is retried."""
        try:
            store = await self._open()
            ref = await store.active()
            if ref is not None and ref.rev != self._rev:
                bundle = await store.fetch(ref.bundle_id, ref.rev)
                self.config, self._rev, self.bundle = bundle.feature_config(), ref.rev, bundle
                log.info(
                    "S2 runs bundle %s rev %s (bars of %d ms)",
                    ref.bundle_id,
                    ref.rev,
                    self.config.interval_ms,
                )
            self._failing = False
        except Exception as exc:
            if not self._failing:
                log.warning(
                    "S2 cannot read the active bundle (keeps %s): %s", self._rev or "its default", exc
                )
            self._failing = True

    async def _follow(self) -> None:
        while not self.should_stop:
            await asyncio.sleep(POLL_S)
            await self._refresh()

    async def on_stop(self) -> None:
        if self._backend is not None:
            self._backend.close()
        if self._redis is not None:
            await self._redis.aclose()


active_features = ActiveFeatures()
app.add_dependency(active_features)
