"""S6's Faust agent: ``ord.results`` (fills and order states), ``mkt.perp`` (management ticks),
``feat.events`` (the ATR), ``sig.events`` (open decisions: the entry's plan, ``max_adds_override``)
and ``mkt.funding`` in; its ``OrderIntent`` / ``CancelIntent`` out on ``ord.intents``, its
``PositionEvent``\\ s on ``pos.events``, ``positions_snapshots`` rows through the ClickHouse sink.

Per event: the symbol's book from the table, :meth:`PositionService.handle` (the core, then the
Redis part: mirror keys, the entry gate's lease renewed, released at EXIT, under
``lock:{pos}:<pos_id>``), the intents and events sent to the input's partition (same count and key,
DESIGN §1.4) and awaited, then the book stored (``table[k] = new_state``, see
:mod:`agents.positions.tables` for why in that order) and the rows queued.

Only the bundle's FUT instruments are managed (spot orders are protected by S4's OCO / guard);
events of other symbols and spot results pass by. The policy (:func:`policy_for`) is derived from
the active bundle as the in-process engine derives it (the two must agree for backtest/live
parity); the bundle is read once when the worker starts.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from decimal import Decimal
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.types import ConsumerT, StreamT
from faust.web import Request, Response, View
from mode import Service
from pydantic import BaseModel
from redis.exceptions import RedisError

from agents.app import app
from agents.config.store import ConfigStore
from agents.connectors.port import Instrument
from agents.connectors.simvenue.config import DEFAULT_FEES
from agents.positions.config import PositionConfig, Stagnation, TpRung, TrailStep
from agents.positions.events import Event
from agents.positions.inputs import atr_of, plan_of, tick_of
from agents.positions.records import SNAPSHOT_TABLE
from agents.positions.service import PositionService
from agents.positions.tables import load, store
from agents.shell import Delivery, RowQueue, Source
from agents.strategy.config import StrategyConfig
from agents.strategy.service import EventClock
from chimera.model import LiveClock, Market, Symbol
from chimera.settings import Settings
from sinks.clickhouse.factory import open_backend
from sinks.clickhouse.sink import BatchingSink
from sinks.redis import EntryGate, Keyspace, LockBusy, RedisClient, make_client
from topics.codec import encode
from topics.market import FundingEvent, MarketBatch
from topics.trading import Decision, FeatureEvent, OrderResult

log = logging.getLogger(__name__)

BUNDLE_POLL_S = 0.5
LOCK_RETRY_S = 0.05
LOCK_RETRIES = 200  # 10 s: a lock is held for one position's Redis writes, milliseconds
RETRY_FIRST_S, RETRY_MAX_S = 0.2, 5.0
# the event is run again from the stored book: the core's ids make a second run send the same
TRANSIENT = (RedisError, KafkaError, OSError)


# ---- inputs --------------------------------------------------------------------------------------
def to_event(msg: BaseModel) -> Event | None:
    """The core's input for a record, or None when the record says nothing to S6. A value the core
    would refuse (a non-positive price or ATR) raises ValueError: the shell dead-letters it."""
    if isinstance(msg, OrderResult):
        return msg if msg.market is Market.FUT else None
    if isinstance(msg, MarketBatch):
        return tick_of(msg)
    if isinstance(msg, FeatureEvent):
        return atr_of(msg)
    if isinstance(msg, Decision):
        return plan_of(msg)
    assert isinstance(msg, FundingEvent)
    return msg


source = Source(
    app,
    ("ord.results", "mkt.perp", "feat.events", "sig.events", "mkt.funding"),
    convert=to_event,
    service="positions",
)
ord_intents = app.output_topic("ord.intents")
pos_events = app.output_topic("pos.events")


# ---- the policy ----------------------------------------------------------------------------------
def policy_for(strategy: StrategyConfig) -> PositionConfig:
    """S6's policy for a bundle, as the in-process engine derives it until bundles carry one: the
    strategy's leverage and lease (the gate reserved qty·price/leverage), the first stop at the
    bundle's ``sl_atr``, the final take-profit at its ``tp_atr``, the stop to break-even 1.5 ATR in
    profit, a position that has not moved 2% ROE in 12 h closed. Unlike the engine, a closed
    position is kept S6's default 24 h: over Kafka its results can come again after a restart, as
    late as the group's last commit, and a position forgotten by then would be opened again by its
    entry's fill (a test compares the two policies)."""
    return PositionConfig(
        leverage=strategy.leverage,
        unit="atr",
        initial_sl_atr=Decimal(repr(strategy.stops.sl_atr)),
        trail=(TrailStep(trigger=Decimal("1.5"), lock=Decimal(0)),),
        tp=(TpRung(trigger=Decimal(repr(strategy.stops.tp_atr)), fraction=Decimal(1)),),
        stagnation=Stagnation(),
        gate_lease_ttl_ms=strategy.gate_lease_ttl_ms,
        gate_renew_every_ms=min(3_600_000, strategy.gate_lease_ttl_ms // 2),
    )


def fut_instruments(strategy: StrategyConfig) -> dict[str, Instrument]:
    """The bundle's FUT instruments, with the fees the paper venue charges (S6 rounds to their grid)."""
    maker, taker = DEFAULT_FEES[Market.FUT]
    out = {}
    for symbol, spec in strategy.instruments.items():
        if spec.market is not Market.FUT:
            continue
        out[symbol] = Instrument(
            symbol=Symbol(symbol),
            market=Market.FUT,
            base=symbol.removesuffix("USDT"),
            quote="USDT",
            tick_size=spec.tick_size,
            lot_size=spec.lot_size,
            min_qty=spec.min_qty,
            min_notional=spec.min_notional,
            maker_fee=maker,
            taker_fee=taker,
        )
    return out


# ---- what the worker opens once ------------------------------------------------------------------
class Wiring:
    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        store: ConfigStore,
        clock: EventClock,
        sink: BatchingSink,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.store = store
        self.clock = clock
        self.sink = sink
        self._service: PositionService | None = None
        self.unwritten: dict[str, list[dict[str, Any]]] = {}  # symbol -> rows queued, not yet written
        # all in ClickHouse: the next stored entries carry none
        self.rows = RowQueue(sink, "positions_snapshots rows", on_empty=self.unwritten.clear)
        self.restored: set[str] = set()  # symbols whose stored rows were queued again by this process

    @classmethod
    async def open(cls, settings: Settings) -> Wiring:
        redis = make_client(settings, client_name=f"{settings.worker_id}-s6")
        backend = open_backend(settings)
        store = ConfigStore(backend, redis, Keyspace.from_settings(settings), None, LiveClock())
        # the wall clock ages batches; the salt keeps a restarted worker's batches distinct
        sink = BatchingSink(
            backend,
            LiveClock(),
            batch_rows=settings.sink_batch_rows,
            flush_ms=settings.sink_flush_ms,
            token_salt=f"s6-{uuid.uuid4().hex[:8]}:",
        )
        wiring = cls(settings, redis, store, EventClock(), sink)  # leases age in event time, as S3's
        await wiring.ready(wait=False)
        return wiring

    async def ready(self, wait: bool) -> PositionService | None:
        """The service for the active bundle's policy and instruments (built once); None while no
        bundle is active and not ``wait``."""
        while self._service is None:
            active = await self.store.active_bundle()
            if active is None:
                if not wait:
                    return None
                log.warning("S6 waits for an active config bundle (`chimera config activate BUNDLE_ID`)")
                await asyncio.sleep(BUNDLE_POLL_S)
                continue
            gate = EntryGate.from_settings(self.redis, self.settings, self.clock)
            service = PositionService(
                policy_for(active.strategy),
                fut_instruments(active.strategy),
                self.redis,
                Keyspace.from_settings(self.settings),
                gate,
                token=f"{self.settings.worker_id}-s6-{uuid.uuid4().hex[:8]}",
            )
            await service.load()
            self._service = service
        return self._service

    @property
    def service(self) -> PositionService:
        assert self._service is not None, "Wiring.ready() first"
        return self._service

    def manages(self, symbol: str) -> bool:
        try:
            self.service.ctx(symbol)
        except ValueError:
            return False
        return True

    async def queue_rows(
        self, symbol: str, rows: list[dict[str, Any]], topic: str, partition: int, offset: int
    ) -> None:
        """Queue rows; while ClickHouse refuses, hold the stream (back-pressure) and retry."""
        await self.rows.add(((SNAPSHOT_TABLE, row) for row in rows), topic, partition, offset)
        if rows:
            self.unwritten.setdefault(symbol, []).extend(rows)

    def flush(self, force: bool) -> None:
        self.rows.flush(force)

    async def close(self) -> None:
        self.flush(force=True)
        self.sink.backend.close()
        await self.redis.aclose()


class _Shared:
    def __init__(self) -> None:
        self.wiring: Wiring | None = None
        self.ready = asyncio.Event()


shared = _Shared()


class _FlushAtCommit(faust.Sensor):
    """Write queued rows when Faust starts an offset commit (rows before offsets)."""

    def on_commit_initiated(self, consumer: ConsumerT) -> Any:
        if shared.wiring is not None:
            shared.wiring.flush(force=True)


app.sensors.add(_FlushAtCommit())


class Runtime(Service):
    """The worker's S6 wiring, opened before the app's consumer and agents start (a dependency of
    the app) and closed after they stopped: Faust 0.15.3 can drop records it fetches while it
    seeks to the committed offsets after a rebalance, and setup awaited inside the first event makes
    that window longer (measured by S3)."""

    async def on_start(self) -> None:
        shared.wiring = await Wiring.open(app.settings)
        shared.ready.set()

    async def on_stop(self) -> None:
        if shared.wiring is not None:
            await shared.wiring.close()
            shared.wiring = None


app.add_dependency(Runtime())


@app.timer(interval=app.settings.sink_flush_ms / 1000)
async def s6_flush_rows() -> None:
    if shared.wiring is not None:
        shared.wiring.flush(force=False)


@app.page("/positions/{symbol}/")
async def book_view(web: View, request: Request, symbol: str) -> Response:
    """This worker's book for a symbol (404 when it holds none: another worker may own it)."""
    value = load(symbol).book
    if value is None:
        raise web.NotFound(f"no position book for {symbol} on this worker")
    return web.json(value)


# ---- the agent -----------------------------------------------------------------------------------
async def handle(wiring: Wiring, d: Delivery[Event | None], event: Event) -> None:
    symbol = d.key
    entry = load(symbol)
    if symbol not in wiring.restored:
        wiring.restored.add(symbol)
        # rows stored before a restart and maybe never written: again (the table folds them)
        await wiring.queue_rows(symbol, entry.rows, "restored", d.partition, 0)
    wiring.clock.observe(event.ts)
    for attempt in range(LOCK_RETRIES):
        try:
            book, out = await wiring.service.handle(entry.book, event)
            break
        except LockBusy:
            if attempt + 1 == LOCK_RETRIES:
                raise
            await asyncio.sleep(LOCK_RETRY_S)
    key = symbol.encode()
    sent = [
        await ord_intents.send(key=key, value=encode(i, "ord.intents"), partition=d.partition)
        for i in out.intents
    ]
    sent += [
        await pos_events.send(key=key, value=encode(e, "pos.events"), partition=d.partition)
        for e in out.events
    ]
    await asyncio.gather(*sent)  # on the broker before the book that made them is stored
    for reservation in out.lapsed:
        log.warning(
            "S6 %s: the entry gate lease of %s had lapsed (its budget was reclaimed)", symbol, reservation
        )
    await wiring.queue_rows(symbol, out.snapshots, app.settings.topic(d.topic), d.partition, d.offset)
    store(symbol, type(entry)(book, list(wiring.unwritten.get(symbol, []))))


@app.agent(source.channel)
async def positions(stream: StreamT) -> None:
    await shared.ready.wait()
    wiring = shared.wiring
    assert wiring is not None
    await wiring.ready(wait=True)
    async for d in source.deliveries(stream):
        event = d.value
        if event is None or not wiring.manages(d.key):
            continue
        backoff = RETRY_FIRST_S
        while True:  # Faust acks the record an agent raised on: a Redis or Kafka failure is retried
            try:
                await handle(wiring, d, event)
                break
            except TRANSIENT as exc:
                log.warning("S6 %s@%d failed (%r); again in %.1f s", d.topic, d.offset, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(RETRY_MAX_S, 2 * backoff)
