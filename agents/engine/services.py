"""The services of one run, built as their Faust workers build them, on one event-time clock.

One SimVenue is the venue and the clock (its time is the last market event's): the entry gate's
leases, the router's idempotency records and S6's lease renewals all age in event time. Every
Redis key lives under the run's prefix (``bt.<run_id>.``), so runs never meet.

Adapted at this side (the services are used as they are):
- S3's model is called through an async wrapper: ``ModelRunner`` runs a sync model on a thread
  pool under a wall-clock timeout, so on a loaded machine a replay could fall back where another
  did not; a coroutine that never suspends always completes before its deadline is looked at.
- S6 runs as ``core.step`` + ``PositionService.carry_out`` on the book object:
  ``PositionService.handle`` is those two plus a JSON round trip that only a Faust table needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agents.config.active import ActiveBundle, ActiveConfig
from agents.config.bundle import Bundle
from agents.connectors.port import Instrument
from agents.connectors.simvenue import SimVenue
from agents.engine.config import EngineConfig, positions_for, venue_config
from agents.engine.records import Recorder
from agents.engine.regime import RegimeClock
from agents.positions.service import PositionService
from agents.router.service import RouterService, ServiceConfig
from agents.strategy.model import LogisticModel, ModelParams
from agents.strategy.model_runner import Features, Predict
from agents.strategy.service import EventClock, Strategy
from chimera.model import Market
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.redis import EntryGate, Keyspace, RedisClient

TOMBSTONE_MS = 7 * 24 * 3_600_000


def predict_now(params: ModelParams) -> Predict:
    model = LogisticModel(params)

    async def predict(features: Features) -> float:
        return model.predict(features)

    return predict


@dataclass
class Services:
    venue: SimVenue
    keyspace: Keyspace
    gate: EntryGate
    strategy: Strategy
    router: RouterService
    positions: PositionService
    recorder: Recorder
    regime: RegimeClock
    fut: Mapping[str, Instrument]  # what S6 manages, by symbol

    @classmethod
    async def open(
        cls, bundle: Bundle, redis: RedisClient, backend: ClickHouseBackend, cfg: EngineConfig
    ) -> Services:
        venue = SimVenue(venue_config(bundle, cfg))
        keyspace = Keyspace(cfg.key_prefix)
        gate = EntryGate(redis, keyspace, venue, tombstone_ms=TOMBSTONE_MS)
        holder = ActiveConfig(ActiveBundle.of(bundle))
        strategy = Strategy(holder, redis, keyspace, gate, EventClock(), predict_for=predict_now)
        recorder = Recorder(backend, cfg.sink_batch_rows, cfg.sink_flush_ms, salt=f"{cfg.run_id}:")
        router_cfg = ServiceConfig(
            ctx_refresh_ms=cfg.router_ctx_refresh_ms, queue_refresh_ms=cfg.router_queue_refresh_ms
        )
        router = RouterService(venue, redis, keyspace, venue, records=recorder.router, config=router_cfg)
        markets = await venue.load_markets()
        fut = {str(s): inst for (m, s), inst in markets.items() if m is Market.FUT}
        pos_cfg = cfg.positions or positions_for(bundle)
        positions = PositionService(pos_cfg, fut, redis, keyspace, gate, token=f"engine-{cfg.run_id}")
        first = next(iter(bundle.strategy.instruments))
        regime = RegimeClock(redis, keyspace, cfg.regime_symbol or first, cfg.regime_config)
        await router.start()  # loads the gate-free scripts and the instruments
        await positions.load()  # the gate's, lock and idempotency scripts
        if cfg.health is not None:
            await redis.set(keyspace.health_system_state(), cfg.health.value)
        if cfg.regime is not None:
            await regime.pin(cfg.regime)
        return cls(venue, keyspace, gate, strategy, router, positions, recorder, regime, fut)

    def close(self) -> None:
        self.strategy.close()
