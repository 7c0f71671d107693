"""S2's parameters from the active config bundle (``Bundle.feature_config()``: the bundle's
``features`` with ``config_rev`` = its rev, part of every ``signal_id``), as the in-process engine
takes them.

Until this, the agent ran on ``FeatureConfig()`` — ``config_rev`` "local" and the default bar
interval — whatever bundle was active: every signal_id differed from the engine's on the same
input (found by the Kafka-path vs in-process demo test), and a bundle with other feature
parameters (``agents/demo/btc_xrp_5m_bundle.json``: 5-minute bars) was decided on 1-minute
features.

How: as S3 does (``agents.strategy.wiring``), read-copy-update through
:class:`agents.config.active.ActiveConfig`: a :class:`agents.config.kafka.ConfigFollower` installs
``cfg:{active}`` before the app's consumer starts (this service is an app dependency; start waits
up to ``FOLLOWER_START_S``), then applies every ``cfg.events`` activation. A bundle is validated
whole when it is fetched (``parse_bundle``: an invalid ``features`` section is refused naming the
field) and swapped in as one reference; the agent reads it once per window. A bundle that does not
validate is logged and skipped: S2 keeps the one it has. No bundle active, or Redis / ClickHouse /
the topic not reachable (a features-only worker without them): ``config`` is ``None`` and the agent
runs on its built-in default; the follower is retried with a backoff.
"""

from __future__ import annotations

import asyncio
import logging

from mode import Service

from agents.app import app
from agents.config.active import ActiveBundle, ActiveConfig
from agents.config.kafka import TOPIC as CFG_TOPIC
from agents.config.kafka import ConfigFollower
from agents.config.store import ConfigStore
from agents.features.config import FeatureConfig
from agents.stores import WorkerStores
from chimera.model import LiveClock
from sinks.redis import Keyspace

log = logging.getLogger(__name__)
FOLLOWER_START_S = 20.0
MAX_BACKOFF_S = 5.0
app.inputs.add(CFG_TOPIC)  # provisioned with the rest; followed by a broadcast consumer, not an agent


class ActiveFeatures(Service):
    """The worker's S2 view of the active bundle: ``holder`` (RCU), ``config`` its features."""

    def __init__(self) -> None:
        super().__init__()
        self.holder = ActiveConfig()
        self.follower: ConfigFollower | None = None
        self._stores: WorkerStores | None = None
        self._bundle_read = asyncio.Event()

    @property
    def config(self) -> FeatureConfig | None:
        snap = self.holder.peek()  # one read: the whole bundle or the previous one, never a mix
        return None if snap is None else snap.features

    @property
    def bundle(self) -> ActiveBundle | None:
        return self.holder.peek()

    async def on_start(self) -> None:
        self.add_future(self._follow())
        try:  # the active bundle in place before the first batch, in the normal case
            await asyncio.wait_for(self._bundle_read.wait(), FOLLOWER_START_S)
        except TimeoutError:
            log.warning("S2 starts on its default features: no bundle read in %.0f s", FOLLOWER_START_S)

    async def _open(self) -> ConfigFollower:
        if self.follower is None:
            settings = app.settings
            self._stores = stores = WorkerStores(settings, f"{settings.worker_id}-s2")
            keyspace = Keyspace.from_settings(settings)
            store = ConfigStore(await stores.backend(), stores.redis(), keyspace, None, LiveClock())
            self.follower = ConfigFollower.for_worker(settings, self.holder, store)
        return self.follower

    async def _follow(self) -> None:
        """Run the follower for ever; after a failure (a store away, the topic not there yet) the
        current bundle stays and the follower starts again."""
        backoff, failing = 0.2, False
        while not self.should_stop:
            try:
                follower = await self._open()
                await follower.run(self._bundle_read)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    snap = self.holder.peek()
                    keeps = "its default" if snap is None else f"{snap.bundle_id} rev {snap.rev}"
                    log.warning("S2 cannot follow the active bundle (keeps %s): %s", keeps, exc)
                failing = True
                self._bundle_read.set()  # start on what we have; the follower keeps trying
                await self._close_stores()
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)

    async def _close_stores(self) -> None:
        self.follower = None
        if self._stores is not None:
            await self._stores.close()

    async def on_stop(self) -> None:
        await self._close_stores()


active_features = ActiveFeatures()
app.add_dependency(active_features)
