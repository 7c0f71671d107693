"""The real stack for S3's agent tests: a migrated ClickHouse database on clickhouse-server, a Redis key
prefix, a topic prefix, the config store that loads and activates bundles (ClickHouse + Redis +
``cfg.events``), and readers of the agent's outputs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis
from confluent_kafka import Consumer, TopicPartition

from agents.config.bundle import Bundle
from agents.config.kafka import KafkaEventSender
from agents.config.store import ConfigStore
from agents.features.core import FeatureEvent
from chimera.model import LiveClock
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import EntryGate, Keyspace, make_client
from tests.agents.worker_kit import Reader, Worker, WorkerFactory, publish, wait_for
from topics.trading import Decision, IntentMessage, OrderIntent
from topics.trading import FeatureEvent as FeatureMessage

FUT = {"market": "FUT", "tick_size": "0.01", "lot_size": "0.001", "min_qty": "0.001", "min_notional": "5"}


def bundle_doc(bundle_id: str, symbols: Iterable[str] = ("BTCUSDT",), **strategy: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "instruments": dict.fromkeys(symbols, FUT),
        "margin_per_position_usdt": "100",
        "margin_budget_usdt": "1000",
        "leverage": 5,
    }
    doc.update(strategy)
    return {"bundle_id": bundle_id, "strategy": doc}


@dataclass
class Rig:
    bootstrap: str
    prefix: str  # topics
    keyspace: Keyspace  # Redis
    redis_url: str
    clickhouse_url: str
    database: str
    readers: list[Reader] = field(default_factory=list)

    def topic(self, name: str) -> str:
        return self.prefix + name

    def worker_env(self) -> dict[str, str]:
        return {
            "CHIMERA_TOPIC_PREFIX": self.prefix,
            "CHIMERA_REDIS_URL": self.redis_url,
            "CHIMERA_REDIS_KEY_PREFIX": self.keyspace.prefix,
            "CHIMERA_CLICKHOUSE_BACKEND": "server",
            "CHIMERA_CLICKHOUSE_URL": self.clickhouse_url,
            "CHIMERA_CLICKHOUSE_DATABASE": self.database,
            "CHIMERA_SINK_FLUSH_MS": "200",
        }

    def worker(self, make_worker: WorkerFactory, **env: str) -> Worker:
        return make_worker(self.bootstrap, **(self.worker_env() | env))

    # config: the real store, as `chimera config load` / `activate` use it

    async def _with_store(self, fn: str, *args: Any) -> Any:
        client = make_client(url=self.redis_url)
        backend = ServerBackend(self.clickhouse_url, self.database)
        sender = KafkaEventSender(self.bootstrap, self.prefix)
        try:
            store = ConfigStore(backend, client, self.keyspace, sender, LiveClock())
            return await getattr(store, fn)(*args)
        finally:
            backend.close()
            await client.aclose()

    def load(self, doc: dict[str, Any]) -> Bundle:
        return asyncio.run(self._with_store("load", json.dumps(doc))).bundle

    def activate(self, bundle: Bundle) -> None:
        asyncio.run(self._with_store("activate", bundle.bundle_id, bundle.rev))

    # inputs S3 reads from Redis

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, decode_responses=True)

    def set_inputs(self, regime: str = "NORMAL", expires_at: int = 2**62, health: str = "GREEN") -> None:
        with self.redis() as r:
            r.set(
                self.keyspace.regime_market_state(), json.dumps({"regime": regime, "expires_at": expires_at})
            )
            r.set(self.keyspace.health_system_state(), health)

    def set_kill_switch(self, value: str) -> None:
        with self.redis() as r:
            r.set(self.keyspace.kill_switch(), value)

    def budget_in_use(self, symbols: list[str]) -> tuple[Decimal, int]:
        """The entry gate's margin in use and open slots over ``symbols``."""

        async def read() -> tuple[Decimal, int]:
            client = make_client(url=self.redis_url)
            try:
                usage = await EntryGate(client, self.keyspace, LiveClock()).usage(symbols)
                return usage.budget_inuse, sum(usage.concurrency.values())
            finally:
                await client.aclose()

        return asyncio.run(read())

    # input and outputs

    def send_features(self, events: Iterable[FeatureEvent]) -> int:
        wire = [(e["symbol"].encode(), FeatureMessage.model_validate(e).encode()) for e in events]
        return publish(self.bootstrap, self.topic("feat.events"), wire)

    def reader(self, name: str) -> Reader:
        r = Reader(self.bootstrap, self.topic(name))
        self.readers.append(r)
        return r

    def signals(self) -> list[dict[str, Any]]:
        backend = ServerBackend(self.clickhouse_url, self.database)
        try:
            res = backend.query(
                "SELECT signal_id, symbol, t0, config_rev, config_bundle_id, decision, reason, side, "
                "size_mult, model_p, regime, feature_names, feature_values "
                "FROM signals FINAL ORDER BY t0, signal_id"
            )
        finally:
            backend.close()
        return [dict(zip(res.columns, row, strict=True)) for row in res.rows]

    def wait_signals(self, n: int, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """The ``signals`` rows once there are ``n`` (the sink flushes on a timer)."""
        got: list[dict[str, Any]] = []

        def check() -> bool:
            nonlocal got
            got = self.signals()
            return len(got) >= n

        wait_for(f"{n} signals rows", check, timeout_s)
        return got

    def close(self) -> None:
        for r in self.readers:
            r.close()


RigFactory = Callable[[str], Rig]  # make_rig(name) in conftest.py


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ends-{uuid.uuid4().hex[:8]}"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def read_to_end(reader: Reader, timeout_s: float = 30.0) -> None:
    """Read ``reader``'s topic up to the end offsets it has now."""
    want = sum(end_offsets(reader.bootstrap, reader.topic).values())
    wait_for(
        f"the end of {reader.topic}", lambda: reader.poll() >= 0 and len(reader.records) >= want, timeout_s
    )


def decisions(reader: Reader) -> list[Decision]:
    return [Decision.decode(v) for v in reader.values()]


def intents(reader: Reader) -> list[OrderIntent]:
    out = []
    for v in reader.values():
        msg = IntentMessage.model_validate_json(v).root
        assert isinstance(msg, OrderIntent)
        out.append(msg)
    return out
