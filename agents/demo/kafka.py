"""``chimera demo --kafka``: the same run through the Faust workers over Kafka (DESIGN §7 replay).

On the broker the settings name (the embedded Tansu, which ``agents.demo.stack`` starts for
``--kafka``, or a real Kafka), under the run's own names (topics and Redis keys ``bt.<run_id>.``,
ClickHouse database ``ctx.database``):

1. every topic of the trading path provisioned; the bundle loaded and activated (``cfg.events``),
   health GREEN, the regime pinned or, unpinned, S2's daily job run here as the engine runs it;
2. one ``chimera worker`` running S2, S3, S4 and S6 (:mod:`agents.demo.kafka_worker`);
3. the records published as S1 publishes them (:mod:`agents.demo.kafka_feed`: the live batch
   window, as the engine's), **paced**: each message only once the worker has finished it and
   everything it produced since (``/router/progress/``). Why paced: the router desk reads the market
   and the intents from different topics; unpaced, the paper venue moves on as fast as the market
   topic is read, ahead of the decisions made on it, and fills land at other prices than in the
   engine (or in any other run). Paced, a batch's consequences — features, decision, entry, fill,
   stop — are complete before the next batch moves the venue, the order the engine keeps;
4. where a perpetual's own data ends (``agents.engine.ends``), its open positions closed at market
   by reduce-only ``END_OF_DATA`` intents; at the end, every position still open closed by an
   ``END_OF_RUN`` one, as the engine does both (same ids, same places in the stream);
5. once ClickHouse holds everything announced, :class:`Totals` from ``sig.events``,
   ``ord.results``, ``pos.events`` and the desks' paper venues; the worker stopped, the run's
   topics and Redis keys deleted (its record stays in ClickHouse).
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.config.bundle import Bundle
from agents.config.kafka import KafkaEventSender
from agents.config.store import ConfigStore
from agents.connectors.marketdata import MicroBatcher
from agents.connectors.recordings import Record
from agents.demo.kafka_feed import FeedCounts, Message, messages
from agents.demo.kafka_regime import DriverRegime
from agents.demo.kafka_settle import settle
from agents.demo.kafka_totals import Consumed, totals_of
from agents.demo.kafka_worker import WorkerFailed, WorkerProcess, run_settings
from agents.demo.runner import RunContext, RunOutcome
from agents.engine import drop_keys
from agents.engine.ends import END_OF_DATA, END_OF_RUN, DataEnds, close_intent
from chimera.model import LiveClock
from sinks.clickhouse.factory import open_backend
from sinks.redis import EntryGate, Keyspace, RedisClient, make_client
from topics.admin import broker_topics, delete_topics, ensure_topics
from topics.producer import make_producer

READY = True
NOT_READY = ""
PAPER_USDT = Decimal(10_000)  # the router agent's paper wallets (agents.router.agent.PAPER_USDT)
STEP_TIMEOUT_S = 120.0  # one message's consequences on a loaded machine
APP_ID = "demo"


class Publisher:
    """One message at a time, acknowledged, murmur2-keyed as the agents' own sends (a symbol's
    market and intents land on one partition, where its desk is)."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = make_producer(bootstrap, acks="all", **{"linger.ms": 0})

    def send(self, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
        got: list[tuple[int, int]] = []
        errors: list[str] = []

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                got.append((msg.partition(), msg.offset()))

        self._producer.produce(topic, value, key, on_delivery=delivered)
        self._producer.flush(30)
        if errors or not got:
            raise RuntimeError(f"publishing to {topic} failed: {errors or 'no delivery report'}")
        return got[0]


async def prepare(
    settings_bootstrap: str, prefix: str, bundle: Bundle, redis: RedisClient, database_backend: Any
) -> None:
    """Load and activate the bundle on the run's topic set and keyspace; health GREEN (no S11 runs
    in a replay: trading the bundle as configured means GREEN, as the engine sets it)."""
    keyspace = Keyspace(prefix)
    store = ConfigStore(
        database_backend, redis, keyspace, KafkaEventSender(settings_bootstrap, prefix), LiveClock()
    )
    loaded = await store.load(bundle.document())
    await store.activate(loaded.bundle.bundle_id, loaded.bundle.rev)
    await redis.set(keyspace.health_system_state(), "GREEN")


class KafkaRun:
    def __init__(self, records: list[Record], bundle: Bundle, ctx: RunContext) -> None:
        settings = ctx.settings
        self.ends = DataEnds(records, settings.mkt_batch_window_ms)
        self.records, self.bundle, self.ctx = self.ends.trim(records), bundle, ctx
        self.prefix = f"bt.{ctx.run_id}."
        self.bootstrap = settings.kafka_bootstrap
        self.worker_settings = run_settings(settings, self.prefix, ctx.database, APP_ID)
        log = settings.data_dir / "demo" / ctx.run_id / "worker.log"
        self.worker = WorkerProcess(self.worker_settings, Path(log))
        self.counts = FeedCounts()
        self.waited_s = 0.0
        self.flattened = 0
        self.started_s = 0.0  # the worker's start, until ready (not in the run's wall time)
        self.notes: list[str] = self.ends.notes()

    def topic(self, logical: str) -> str:
        return self.prefix + logical

    async def replay(self, redis: RedisClient, regime: DriverRegime | None) -> None:
        s = self.ctx.settings
        keyspace = Keyspace(self.prefix)
        batcher = MicroBatcher(s.mkt_batch_window_ms, s.mkt_batch_max_ticks, s.mkt_book_levels)
        pub = Publisher(self.bootstrap)
        told = 0
        for msg in messages(self.records, batcher, self.counts, self.ends):
            if msg.ended is not None:
                self.flattened += self._flatten(pub, {msg.ended}, END_OF_DATA)
                continue
            await self._before(msg, redis, keyspace, regime)
            partition, offset = pub.send(self.topic(msg.topic), msg.key, msg.value)
            if msg.malformed is None:  # dead letters are nobody's input
                self.waited_s += self.worker.wait_done(
                    self.topic(msg.topic), partition, offset, STEP_TIMEOUT_S
                )
            if self.ctx.progress is not None and msg.records > told:
                self.ctx.progress(msg.records - told)
                told = msg.records
        self.flattened += self._flatten(pub, None, END_OF_RUN)
        if self.ctx.progress is not None:
            self.ctx.progress(sum(self.ends.dropped.values()))

    async def _before(
        self, msg: Message, redis: RedisClient, keyspace: Keyspace, regime: DriverRegime | None
    ) -> None:
        if msg.funding is not None:  # S1's duty: the latest rate is S3's next funding
            ev = msg.funding
            doc = {"rate": str(ev.rate), "funding_time": ev.funding_time}
            await redis.set(keyspace.funding_next(ev.symbol), json.dumps(doc))
        if msg.batch is not None and regime is not None:
            await regime.before(msg.batch.last_ts)

    def _flatten(self, pub: Publisher, symbols: set[str] | None, reason: str) -> int:
        """Close the positions open on ``symbols`` (None: all) as the engine does, in its order."""
        consumed = Consumed.read(self.bootstrap, self.prefix)
        open_ = sorted(
            (p for p in consumed.open_positions() if symbols is None or p.symbol in symbols),
            key=lambda e: (e.symbol, e.opened_ts, e.pos_id),
        )
        for pos in open_:
            desk = self._desk_of(pos.symbol)
            intent = close_intent(pos, int(desk["now"]), reason)
            partition, offset = pub.send(self.topic("ord.intents"), pos.symbol.encode(), intent.encode())
            topic = self.topic("ord.intents")
            self.waited_s += self.worker.wait_done(topic, partition, offset, STEP_TIMEOUT_S)
        return len(open_)

    def desks(self) -> list[dict[str, Any]]:
        out = []
        for p in range(self.ctx.settings.topic_partitions):
            desk = self.worker.desk(p)
            if desk is not None:
                out.append(desk)
        return out

    def _desk_of(self, symbol: str) -> dict[str, Any]:
        for desk in self.desks():
            if symbol in desk["symbols"]:
                return desk
        raise WorkerFailed(f"no router desk holds {symbol}; desks: {[d['symbols'] for d in self.desks()]}")

    def cleanup_topics(self) -> None:
        names = [t for t in broker_topics(self.bootstrap) if t.startswith(self.prefix)]
        delete_topics(self.bootstrap, names)


async def run(records: list[Record], bundle: Bundle, ctx: RunContext) -> RunOutcome:
    outcome, _ = await run_with_stats(records, bundle, ctx)
    return outcome


async def run_with_stats(
    records: list[Record], bundle: Bundle, ctx: RunContext
) -> tuple[RunOutcome, KafkaRun]:
    """:func:`run`, and the run itself for its figures (batches, seconds at the barrier; bench)."""
    if ctx.initial_usdt != PAPER_USDT:
        raise ValueError(
            f"--kafka: the router agent's paper wallets start at {PAPER_USDT} USDT "
            f"(agents.router.agent.PAPER_USDT), not {ctx.initial_usdt}; --initial-usdt is for "
            "the in-process engine"
        )
    settings = ctx.settings
    r = KafkaRun(records, bundle, ctx)
    ensure_topics(r.bootstrap, r.prefix, settings.topic_partitions, settings.topic_replication)
    redis = make_client(settings, client_name=f"demo-{ctx.run_id}")
    backend = open_backend(settings, database=ctx.database)
    try:
        await prepare(r.bootstrap, r.prefix, bundle, redis, backend)
        regime = await DriverRegime.open(redis, r.prefix, bundle, ctx.regime, r.bootstrap)
        began = time.perf_counter()
        r.worker.start()
        started_s = time.perf_counter() - began
        began = time.perf_counter()
        try:
            await r.replay(redis, regime)
            consumed = Consumed.read(r.bootstrap, r.prefix)
            desks = r.desks()
            settle(backend, consumed, desks)
        finally:
            if regime is not None:
                regime.close()
        wall_s = time.perf_counter() - began
        symbols = sorted(bundle.strategy.instruments)
        usage = await EntryGate(redis, Keyspace(r.prefix), LiveClock()).usage(symbols)
        funding = sum((Decimal(f["amount"]) for d in desks for f in d.get("funding", [])), Decimal(0))
        refused = r.worker.refused_rows()
        crashes = r.worker.crashes()
        totals = totals_of(
            consumed,
            desks,
            PAPER_USDT,
            funding,
            (usage.budget_inuse, sum(usage.concurrency.values())),
            r.flattened,
            len(refused) + len(crashes),
            r.counts.malformed,
        )
        r.notes += [f"row refused: {x}" for x in refused[:5]] + [f"agent crashed: {x}" for x in crashes[:5]]
        r.notes.append(
            f"worker ready in {started_s:.1f} s; paced replay of {r.counts.batches:,} batches and "
            f"{r.counts.funding:,} funding events, {r.waited_s:.1f} s of it waiting on the barrier; "
            f"worker log {r.worker.log}"
        )
    finally:
        r.worker.stop()
        try:
            await drop_keys(redis, r.prefix)
            r.cleanup_topics()
        finally:
            backend.close()
            await redis.aclose()
    outcome = RunOutcome(
        run_id=ctx.run_id,
        database=ctx.database,
        key_prefix=r.prefix,
        records=r.counts.records,
        ticks=r.counts.ticks,
        wall_s=wall_s,
        totals=totals,
        notes=r.notes,
    )
    r.started_s = started_s
    return outcome, r
