"""The market regime of a Kafka demo run: pinned, or S2's daily job run by the driver as the engine
runs it (``agents.engine.regime``: the record of a UTC day written the first time a decision
falls in it, from the regime symbol's closes of the days before, read here from ``feat.events``).

The driver cannot step in between two decisions of one batch, so it writes a day's record just
before the first batch that reaches past the day's midnight (``last_ts - 1`` in the new day, the
engine's rule for a decision at ``t0``); the paced replay has every feature event of the batches
before on ``feat.events`` by then. A batch whose ticks straddle midnight by more than its first
tick (two bars closing, one on each side) would see the new record one decision early; S1's
100 ms window over 1-minute or 5-minute bars makes none.
"""

from __future__ import annotations

import json

from agents.config.bundle import Bundle
from agents.demo.kafka_totals import TopicTail
from agents.engine.config import EngineConfig
from agents.engine.regime import RegimeClock
from agents.features.regime import DAY_MS
from sinks.redis import Keyspace, RedisClient


class DriverRegime:
    def __init__(self, clock: RegimeClock, tail: TopicTail) -> None:
        self.clock = clock
        self.tail = tail
        self._as_of = -1

    @classmethod
    async def open(
        cls, redis: RedisClient, prefix: str, bundle: Bundle, pinned: str | None, bootstrap: str
    ) -> DriverRegime | None:
        """None when ``pinned``: the label is written once, with no expiry, and stays."""
        symbol = next(iter(bundle.strategy.instruments))
        clock = RegimeClock(redis, Keyspace(prefix), symbol, EngineConfig().regime_config)
        if pinned is not None:
            await clock.pin(pinned)
            return None
        return cls(clock, TopicTail(bootstrap, f"{prefix}feat.events"))

    async def before(self, last_ts: int) -> None:
        """Called before publishing a batch whose last tick is at ``last_ts``."""
        as_of = (last_ts - 1) // DAY_MS * DAY_MS
        if as_of <= self._as_of:
            return
        self._as_of = as_of
        for raw in self.tail.read_new(quiet_s=0.05):
            doc = json.loads(raw)
            self.clock.observe(doc["symbol"], int(doc["t0"]), doc["features"].get("close"))
        await self.clock.before_decision(last_ts)

    @property
    def published(self) -> list[dict[str, object]]:
        return self.clock.published

    def close(self) -> None:
        self.tail.close()
