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
events of other symbols and spot results pass by. The policy is the active bundle's ``positions``
section, or derived from its strategy as the in-process engine derives it (the two must agree for
backtest/live parity). It is hot-reloaded: a ``cfg.events`` follower swaps the active bundle
whole (read-copy-update, :mod:`agents.config.active`), and each event reads it once and runs
on the :class:`~agents.positions.policy.Policy` of that rev from start to end.

Auto-treasury (:mod:`agents.positions.auto_treasury`): a timer checks the venue's free balances
every ``TREASURY_CHECK_S`` at the newest event time and queues a PENDING ``treasury_transfers``
row when the futures wallet is under the policy's ``min_free_fut``. Live only: a paper worker
has no wallet of its own to read (the paper wallets are S4's desks).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.types import ConsumerT, StreamT
from faust.web import Request, Response, View
from mode import Service
from pydantic import BaseModel
from redis.exceptions import RedisError

from agents.app import app
from agents.config.active import ActiveConfig
from agents.config.kafka import ConfigFollower
from agents.config.store import ConfigStore
from agents.connectors.port import Venue, VenueError
from agents.positions.auto_treasury import AutoTreasury, VenueWallets
from agents.positions.events import Event
from agents.positions.inputs import atr_of, plan_of, tick_of
from agents.positions.policy import Policy
from agents.positions.records import SNAPSHOT_TABLE
from agents.positions.service import PositionService
from agents.positions.tables import load, store
from agents.shell import Delivery, RowQueue, Source
from agents.strategy.service import EventClock
from chimera.model import LiveClock, Market
from chimera.settings import Settings
from sinks.clickhouse.factory import open_backend
from sinks.clickhouse.sink import BatchingSink
from sinks.redis import EntryGate, Keyspace, LockBusy, RedisClient, make_client
from topics.codec import encode
from topics.market import FundingEvent, MarketBatch
from topics.trading import Decision, FeatureEvent, OrderResult

log = logging.getLogger(__name__)

FOLLOWER_START_S = 30.0
TREASURY_CHECK_S = 60.0
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
        self.holder = ActiveConfig()  # the active bundle, swapped whole by the follower
        self.follower = ConfigFollower.for_worker(settings, self.holder, store)
        self._service: PositionService | None = None
        self._policy: Policy | None = None
        self.venue: Venue | None = None  # where the auto-treasury reads the free balances
        self.treasury: AutoTreasury | None = None
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
        return cls(settings, redis, store, EventClock(), sink)  # leases age in event time, as S3's

    async def ready(self) -> PositionService:
        """The service, once a bundle is active (trading on a config nobody activated is worse
        than waiting; the events keep on the broker)."""
        if self._service is None:
            if self.holder.peek() is None:
                log.warning("S6 waits for an active config bundle (`chimera config activate BUNDLE_ID`)")
            first = Policy.of(await self.holder.wait())
            gate = EntryGate.from_settings(self.redis, self.settings, self.clock)
            service = PositionService(
                first.cfg,
                {s: c.instrument for s, c in first.ctxs.items()},
                self.redis,
                Keyspace.from_settings(self.settings),
                gate,
                token=f"{self.settings.worker_id}-s6-{uuid.uuid4().hex[:8]}",
            )
            await service.load()
            service.use(first)
            self._service, self._policy = service, first
            self.venue = wallet_venue(self.settings)
            if self.venue is not None:
                self.treasury = AutoTreasury(service, VenueWallets(self.venue), self.rows)
        return self._service

    @property
    def started(self) -> bool:
        return self._service is not None

    @property
    def service(self) -> PositionService:
        assert self._service is not None, "Wiring.ready() first"
        return self._service

    def policy(self) -> Policy:
        """The active bundle's policy, read once per event: built once per rev, beside the one in
        use, then swapped in whole (an event never sees half of a reload)."""
        snap = self.holder.current()
        if self._policy is None or self._policy.rev != snap.rev:
            self._policy = Policy.of(snap, self._policy)
            self.service.use(self._policy)
            log.info("S6 runs bundle %s rev %s (%s)", snap.bundle_id, snap.rev, self._policy.cfg.rev)
        return self._policy

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
        if self.venue is not None:
            await self.venue.close()


def wallet_venue(settings: Settings) -> Venue | None:
    """The venue whose wallets the auto-treasury watches: the exchange when trading live. A paper
    worker has none of its own: the paper wallets are S4's desks (one per partition, in S4's
    worker), so there the check is off, and said so once."""
    if settings.venue == "binance":
        from agents.connectors.binance.venue import BinanceVenue

        return BinanceVenue(settings)
    log.info("S6 auto-treasury off: venue %r has no wallet S6 can read (paper wallets are S4's)",
             settings.venue)  # fmt: skip
    return None


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
        started = asyncio.Event()
        self.add_future(shared.wiring.follower.run_forever(started))
        try:  # the active bundle in place before the first event, in the normal case
            await asyncio.wait_for(started.wait(), FOLLOWER_START_S)
        except TimeoutError:
            log.warning("cfg.events follower not started after %.0f s; S6 waits for it", FOLLOWER_START_S)
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


@app.timer(interval=TREASURY_CHECK_S)
async def s6_auto_treasury() -> None:
    """The scheduled top-up check, at the newest event time seen (the bucket names the transfer)."""
    wiring = shared.wiring
    if wiring is None or wiring.treasury is None or wiring.clock.now_ms() <= 0:
        return
    try:
        await wiring.treasury.check(wiring.clock.now_ms(), wiring.policy())
    except (*TRANSIENT, VenueError) as exc:  # the next check asks again
        log.warning("S6 auto-treasury check failed (%r); again in %.0f s", exc, TREASURY_CHECK_S)


@app.page("/s6/policy/")
async def policy_view(web: View, request: Request) -> Response:
    """The policy this worker's next event runs by: the bundle rev and S6's config (404 before a
    bundle is active)."""
    wiring = shared.wiring
    if wiring is None or wiring.holder.peek() is None or not wiring.started:
        raise web.NotFound("no active config bundle on this worker yet")
    policy = wiring.policy()
    cfg = policy.cfg
    body = {"rev": policy.rev, "config_rev": cfg.rev, "config": cfg.model_dump(mode="json")}
    return web.json({**body, "symbols": sorted(policy.ctxs)})


@app.page("/positions/{symbol}/")
async def book_view(web: View, request: Request, symbol: str) -> Response:
    """This worker's book for a symbol (404 when it holds none: another worker may own it)."""
    value = load(symbol).book
    if value is None:
        raise web.NotFound(f"no position book for {symbol} on this worker")
    return web.json(value)


# ---- the agent -----------------------------------------------------------------------------------
async def handle(wiring: Wiring, d: Delivery[Event | None], event: Event, policy: Policy) -> None:
    symbol = d.key
    entry = load(symbol)
    if symbol not in wiring.restored:
        wiring.restored.add(symbol)
        # rows stored before a restart and maybe never written: again (the table folds them)
        await wiring.queue_rows(symbol, entry.rows, "restored", d.partition, 0)
    wiring.clock.observe(event.ts)
    for attempt in range(LOCK_RETRIES):
        try:
            book, out = await wiring.service.handle(entry.book, event, policy)
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
    await wiring.ready()
    async for d in source.deliveries(stream):
        event = d.value
        if event is None:
            continue
        policy = wiring.policy()  # the active bundle, read once for this event
        if not policy.manages(d.key):
            continue
        backoff = RETRY_FIRST_S
        while True:  # Faust acks the record an agent raised on: a Redis or Kafka failure is retried
            try:
                await handle(wiring, d, event, policy)
                break
            except TRANSIENT as exc:
                log.warning("S6 %s@%d failed (%r); again in %.1f s", d.topic, d.offset, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(RETRY_MAX_S, 2 * backoff)
