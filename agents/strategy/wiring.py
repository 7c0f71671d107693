"""What an S3 worker opens once: Redis (inputs, entry gate), ClickHouse (the bundle store it reads,
the ``signals`` sink), the ``cfg.events`` follower and the active-config holder, from Settings.

The signals sink is synchronous and not thread-safe; every call runs on the event loop's thread.
Rows are written before their input offsets are committed: :meth:`flush` runs when Faust starts a
commit (a sensor; Faust commits every ``broker_commit_interval``, 2.8 s, traffic or not), so a
crash redelivers the events whose rows were not written, and ReplacingMergeTree folds a row written
twice. That commit is the sink's only clock (and a full batch of ``sink_batch_rows``): an age
flush as well would put a second blocking insert on the loop (measured: p99 decision latency
40 ms with a 1 s age flush, 17 ms without). The one gap:
a sensor cannot veto the commit, so when ClickHouse refuses that flush the offsets still commit and
the rows stay queued for the next try; a crash before then loses them (counted, logged as error).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from agents.config.active import ActiveConfig
from agents.config.kafka import ConfigFollower
from agents.config.store import ConfigStore
from agents.strategy.service import EventClock, PredictFor, Strategy
from agents.strategy.signals import TABLE
from chimera.model import LiveClock
from chimera.settings import Settings
from sinks.clickhouse.factory import open_backend, open_sink
from sinks.clickhouse.sink import BatchingSink, SinkBackpressure
from sinks.redis import EntryGate, Keyspace, RedisClient, make_client

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0
NO_AGE_FLUSH_MS = 24 * 3_600_000


@dataclass
class Wiring:
    settings: Settings
    redis: RedisClient
    strategy: Strategy
    store: ConfigStore
    follower: ConfigFollower
    sink: BatchingSink
    flush_failures: int = 0

    @classmethod
    async def open(cls, settings: Settings, predict_for: PredictFor | None = None) -> Wiring:
        redis = make_client(settings, client_name=f"{settings.worker_id}-s3")
        keyspace = Keyspace.from_settings(settings)
        clock = EventClock()
        gate = EntryGate.from_settings(redis, settings, clock)
        await gate.load()
        holder = ActiveConfig()
        store = ConfigStore(open_backend(settings), redis, keyspace, None, LiveClock())
        follower = ConfigFollower.for_worker(settings, holder, store)
        strategy = Strategy(
            holder, redis, keyspace, gate, clock, **({"predict_for": predict_for} if predict_for else {})
        )
        # age flushes off: the commit flushes (see the module docstring)
        sink = open_sink(settings.model_copy(update={"sink_flush_ms": NO_AGE_FLUSH_MS}), LiveClock())
        return cls(settings, redis, strategy, store, follower, sink)

    async def follow(self, started: asyncio.Event) -> None:
        """Run the follower for ever; restart it after a failure (e.g. the topic not there yet)."""
        backoff = 0.2
        while True:
            try:
                await self.follower.run(started)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cfg.events follower stopped (%s); again in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)

    async def record(self, row: dict[str, Any], topic: str, partition: int, offset: int) -> None:
        """Queue a ``signals`` row; while ClickHouse refuses, hold the stream (back-pressure) and retry."""
        while True:
            try:
                self.sink.add(row, table=TABLE, topic=topic, partition=partition, offset=offset)
                break
            except SinkBackpressure as exc:
                log.warning("signals sink full, holding the stream: %s", exc)
                await asyncio.sleep(exc.retry_after_ms / 1000)
                self.flush()
        for bad in self.sink.take_dead_letters():  # our own row not fitting its table is a bug: say so
            log.error("signals row refused by the table: %s (%s)", bad.error, bad.row.get("signal_id"))

    def flush(self) -> None:
        try:
            self.sink.flush()
        except SinkBackpressure as exc:
            self.flush_failures += 1
            log.error("signals not written before a commit, kept for retry: %s", exc)

    async def close(self) -> None:
        self.flush()
        self.strategy.close()
        self.sink.backend.close()
        await self.redis.aclose()
