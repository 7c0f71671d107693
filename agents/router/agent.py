"""S4's Faust agent: ``ord.intents`` and the market topics in; every ``OrderResult`` out on
``ord.results``; ``orders`` / ``fills`` / ``strategy_events`` (and the paper venue's
``funding_records``) rows through the ClickHouse sink.

Paper mode (``Settings.venue == "sim"``): each partition has its own desk — a SimVenue and a
:class:`~agents.router.service.RouterService` on it — because the venue must see the market in event
time and the market is co-partitioned with the orders (DESIGN §1.4). Per market tick, as the
in-process engine does it: the router's own deadlines due before the tick fire first (maker waits,
TWAP slices from ``prod:{exec}:twap:queue``, at their own event time, the venue moved there), then
the tick moves the venue, the venue's order updates go to the router, then the router sees the tick.
After the batch's last tick the venue moves on to the time S1 closed the batch (``close_ts``), where
the engine's batch timer puts its venue before the batch goes on: what the batch sets off comes back
to the desk at that time.
The desk's image (venue + router state) is the table ``router`` (:mod:`agents.router.tables`: why
and how a ``kill -9`` loses nothing the venue acknowledged).

Per event, in order: skip it if its offset is already folded into the image; run it; write the
image (and flush, when anything will be told: venue truth before anyone hears of it); send the
results to the input's partition; queue the rows. Rows are written when Faust starts an offset
commit (a sensor) and on a timer; until written they ride in the image.

The replay barrier: :class:`Progress` counts what this worker produced and what its agents have
finished per topic-partition; ``GET /router/progress/`` shows it. A paced replay (the crash and
redelivery tests, ``bench/tick_to_order.py``) publishes the next market batch only once everything
the worker produced has been consumed, so each batch's consequences (features, decisions, orders,
fills, stops) are complete before the next batch moves the paper venue: the same input then gives
the same orders. An unpaced replay still runs, but the venue then moves as fast as the market topic
is read, ahead of the decisions made on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import aiokafka
import faust
from aiokafka.errors import KafkaError
from faust.types import TP, ConsumerT, StreamT
from faust.web import Request, Response, View
from mode import Service
from mode.types.signals import BaseSignalT
from pydantic import BaseModel
from redis.exceptions import RedisError

from agents.app import app
from agents.config.store import ConfigStore
from agents.connectors.port import OcoRequest, OrderNotFound, OrderRequest, OrderState, VenueError
from agents.connectors.recordings.recorded import batch_events
from agents.connectors.service.funding_records import TABLE as FUNDING_TABLE
from agents.connectors.service.funding_records import payment_row
from agents.connectors.simvenue import (
    FundingPayment,
    InstrumentSpec,
    SimEvent,
    SimExchange,
    SimVenue,
    SimVenueConfig,
)
from agents.connectors.simvenue.feed import apply
from agents.router.core import RouterState
from agents.router.execution import cid, slice_names
from agents.router.service import RouterService
from agents.router.styles.maker_taker import MAKING, REPRICING
from agents.router.tables import Cursor, DeskImage, Row, VenueCall, base_of, load, store_cursor, store_image
from agents.shell import Delivery, RowQueue, Source
from agents.strategy.config import StrategyConfig
from chimera.model import ClientOrderId, LiveClock, Market, Symbol
from chimera.settings import Settings
from sinks.clickhouse.factory import open_backend
from sinks.clickhouse.sink import BatchingSink
from sinks.redis import Keyspace, RedisClient, make_client
from topics.codec import encode
from topics.market import FundingEvent, MarketBatch
from topics.trading import CancelIntent, IntentMessage, OrderIntent, OrderResult

log = logging.getLogger(__name__)

PAPER_USDT = Decimal(10_000)  # each paper wallet that trades (FUT, and SPOT when the bundle has spot)
FUNDING_GRACE_MS = 60_000  # a settlement waits this long (event time) for the rate of its own time
QUOTES = ("USDT", "USDC", "BUSD")
BUNDLE_POLL_S = 0.5
CATCH_UP_TIMEOUT_S = 30.0
RETRY_FIRST_S, RETRY_MAX_S = 0.2, 5.0
MAX_REPRICES = 50  # the most RouterParams allows: every maker slice name an intent may have used
TRANSIENT = (RedisError, KafkaError, OSError)  # OSError: ConnectionError, TimeoutError


# ---- inputs --------------------------------------------------------------------------------------
def to_input(msg: BaseModel) -> OrderIntent | CancelIntent | MarketBatch | FundingEvent:
    if isinstance(msg, IntentMessage):  # the codec unwraps the root already; kept for safety
        return msg.root
    assert isinstance(msg, OrderIntent | CancelIntent | MarketBatch | FundingEvent), type(msg)
    return msg


MARKET_INPUTS = ("mkt.perp", "mkt.spot", "mkt.funding")
source = Source(app, ("ord.intents", *MARKET_INPUTS), convert=to_input, service="router")
ord_results = app.output_topic("ord.results")


# ---- the paper venue -----------------------------------------------------------------------------
def _base_quote(symbol: str) -> tuple[str, str]:
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(f"{symbol}: cannot tell base and quote (expected a symbol ending in {QUOTES})")


def paper_venue_config(strategy: StrategyConfig) -> SimVenueConfig:
    """SimVenue with the bundle's instruments (its filters, Binance's default fees), the strategy's
    leverage, ``PAPER_USDT`` in each wallet that trades, funding at each settlement's own rate."""
    instruments = []
    for symbol, spec in strategy.instruments.items():
        base, quote = _base_quote(symbol)
        instruments.append(
            {
                "symbol": symbol,
                "market": spec.market,
                "base": base,
                "quote": quote,
                "tick_size": spec.tick_size,
                "lot_size": spec.lot_size,
                "min_qty": spec.min_qty,
                "min_notional": spec.min_notional,
            }
        )
    markets = sorted({spec.market for spec in strategy.instruments.values()})
    return SimVenueConfig(
        instruments=tuple(InstrumentSpec.model_validate(i) for i in instruments),
        default_leverage=strategy.leverage,
        initial_balances={m: {"USDT": PAPER_USDT} for m in markets},
        funding_rate_grace_ms=FUNDING_GRACE_MS,
    )


class JournaledVenue:
    """The Venue port over one SimVenue; every mutating call is journaled (and the journal flushed)
    before the venue sees it (see agents.router.tables)."""

    name = "sim"

    def __init__(self, sim: SimVenue, journal: Callable[[VenueCall], Awaitable[None]]) -> None:
        self.sim = sim
        self._journal = journal

    def __getattr__(self, name: str) -> Any:  # reads: load_markets, balances, fetch_order, ...
        return getattr(self.sim, name)

    def now_ms(self) -> int:
        return self.sim.now_ms()

    async def create_order(self, req: OrderRequest) -> OrderState:
        await self._journal(VenueCall("create", request=req))
        return await self.sim.create_order(req)

    async def create_oco(self, req: OcoRequest) -> list[OrderState]:
        await self._journal(VenueCall("oco", request=req))
        return await self.sim.create_oco(req)

    async def cancel_order(
        self, market: Market, symbol: Symbol, client_order_id: ClientOrderId
    ) -> OrderState:
        await self._journal(
            VenueCall("cancel", market=market, symbol=symbol, client_order_id=client_order_id)
        )
        return await self.sim.cancel_order(market, symbol, client_order_id)

    async def transfer(
        self, asset: str, amount: Decimal, from_wallet: Market, to_wallet: Market, transfer_id: str
    ) -> Any:
        await self._journal(
            VenueCall("transfer", transfer=(asset, amount, from_wallet, to_wallet, transfer_id))
        )
        return await self.sim.transfer(asset, amount, from_wallet, to_wallet, transfer_id)


def replay_call(ex: SimExchange, call: VenueCall) -> None:
    """Make a journaled call again on a restored exchange; a refusal is the venue's answer, as the
    first time (the router learns it by asking the venue)."""
    try:
        if call.op == "create" and isinstance(call.request, OrderRequest):
            ex.submit(call.request)
        elif call.op == "oco" and isinstance(call.request, OcoRequest):
            ex.submit_oco(call.request)
        elif call.op == "cancel" and call.market and call.symbol and call.client_order_id:
            ex.cancel(call.market, call.symbol, call.client_order_id)
        elif call.op == "transfer":
            ex.transfer(*call.transfer)
    except (VenueError, ValueError) as exc:
        log.info("journaled %s refused again on restore: %s", call.op, exc)


async def read_range(
    settings: Settings, topic: str, partition: int, first: int, last: int | None
) -> list[tuple[int, bytes]]:
    """Records ``first..last`` (inclusive; None: to the partition's end now) of a logical topic's
    partition, read with a consumer of no group (the worker's own group position is Faust's)."""
    tp = aiokafka.TopicPartition(settings.topic(topic), partition)
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        enable_auto_commit=False,
        fetch_max_wait_ms=max(settings.fetch_wait_ms, 5),
    )
    await consumer.start()
    out: list[tuple[int, bytes]] = []
    try:
        consumer.assign([tp])
        if last is None:
            # on Tansu the answer can fall short of the true end (agents/transport.py): what this
            # misses the stream delivers as new records, which is what they then are for the venue
            last = (await consumer.end_offsets([tp]))[tp] - 1
            if last < first:
                return []
        consumer.seek(tp, first)
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while (not out or out[-1][0] < last) and time.monotonic() < deadline:
            got = await consumer.getmany(tp, timeout_ms=200)
            out += [(m.offset, m.value or b"") for m in got.get(tp, []) if m.offset <= last]
    finally:
        await consumer.stop()
    if not out or out[-1][0] < last:
        log.error("S4 could not read %s[%d] %d..%d back in time: the paper venue misses those prices",
                  tp.topic, partition, first, last)  # fmt: skip
    return out


# ---- what the worker opens once ------------------------------------------------------------------
class Wiring:
    def __init__(
        self, settings: Settings, redis: RedisClient, sink: BatchingSink, store: ConfigStore
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keyspace = Keyspace.from_settings(settings)
        self.sink = sink
        self.store = store
        self.venue_config: SimVenueConfig | None = None
        self.rows = RowQueue(sink, "router rows")

    async def venue(self, wait: bool) -> SimVenueConfig | None:
        """The paper venue for the active bundle's instruments (read once); None while no bundle is
        active and not ``wait``."""
        while self.venue_config is None:
            active = await self.store.active_bundle()
            if active is not None:
                self.venue_config = paper_venue_config(active.strategy)
            elif not wait:
                return None
            else:
                log.warning("S4 waits for an active config bundle (`chimera config activate BUNDLE_ID`)")
                await asyncio.sleep(BUNDLE_POLL_S)
        return self.venue_config

    @classmethod
    async def open(cls, settings: Settings) -> Wiring:
        if settings.venue != "sim":
            raise RuntimeError("the router agent runs the paper venue (CHIMERA_VENUE=sim) only so far")
        redis = make_client(settings, client_name=f"{settings.worker_id}-s4")
        backend = open_backend(settings)
        store = ConfigStore(backend, redis, Keyspace.from_settings(settings), None, LiveClock())
        # the wall clock ages batches (event time would call a fast replay's rows old); the salt
        # keeps a restarted worker's batch numbering from matching an earlier run's insert tokens
        sink = BatchingSink(
            backend,
            LiveClock(),
            batch_rows=settings.sink_batch_rows,
            flush_ms=settings.sink_flush_ms,
            token_salt=f"s4-{uuid.uuid4().hex[:8]}:",
        )
        wiring = cls(settings, redis, sink, store)
        await wiring.venue(wait=False)
        return wiring

    async def add_rows(self, rows: Iterable[Row], topic: str, partition: int, offset: int) -> None:
        """Queue rows; while ClickHouse refuses, hold the stream (back-pressure) and retry."""
        await self.rows.add(rows, topic, partition, offset)

    def flush(self, force: bool) -> bool:
        """Write queued rows; True when nothing is left queued."""
        return self.rows.flush(force)

    async def close(self) -> None:
        self.flush(force=True)
        self.sink.backend.close()
        await self.redis.aclose()


# ---- one partition's desk ------------------------------------------------------------------------
class Desk:
    def __init__(self, partition: int, wiring: Wiring, sim: SimVenue, image: DeskImage) -> None:
        self.partition = partition
        self.wiring = wiring
        self.sim = sim
        self.ex = sim.exchange
        self.applied = dict(image.applied)
        self.outbox = list(image.outbox)
        self.rows = list(image.rows)
        self.symbols = set(image.symbols)
        self._journal: list[VenueCall] = []
        self._new_rows: list[Row] = []
        self._carried: list[OrderResult] = []  # made by the catch-up at restore, not yet told
        self._carried_rows: list[Row] = []
        self._last_timer = self.ex.now_ms()  # deadlines up to the venue's time fired before
        self.service = RouterService(
            JournaledVenue(sim, self._journal_call),
            wiring.redis,
            wiring.keyspace,
            sim,  # event time: the venue's clock ages the idempotency records
            records=self,
            owns=lambda symbol: symbol in self.symbols,
        )

    @classmethod
    async def open(cls, partition: int, wiring: Wiring) -> tuple[Desk, DeskImage | None]:
        """The partition's desk: fresh, or the image + the market read again up to the cursor + the
        journaled calls of the event the crash interrupted + the market since, to its end."""
        image, cursor = load(partition)
        config = await wiring.venue(wait=True)
        assert config is not None
        sim = SimVenue(config)
        state = RouterState()
        if image is not None:
            sim.exchange, state = image.state()
        desk = cls(partition, wiring, sim, image or DeskImage(b""))
        desk.service.state = state
        if cursor is not None and image is not None and cursor.behind(image):
            cursor = None  # written before the image; the newer one was lost with the crash
        await desk.service.start()
        if cursor is not None:
            await desk._catch_up(cursor.applied)
            for call in cursor.journal:
                replay_call(desk.ex, call)
            desk.ex.drain()  # the router learns of these orders by asking the venue (claims in Redis)
        if image is not None or cursor is not None:
            await desk._catch_up(None)
            log.info(
                "S4 desk %d restored: image at %s, cursor at %s, %d journaled call(s), %d result(s) "
                "and %d row(s) sent again; market read on to %s (%d result(s) to tell)",
                partition, image and image.applied, cursor and cursor.applied,
                len(cursor.journal) if cursor else 0, len(desk.outbox), len(desk.rows), desk.applied,
                len(desk._carried),
            )  # fmt: skip
        return desk, image

    async def _catch_up(self, upto: Mapping[str, int] | None) -> None:
        """Fold in the market records after the desk's offsets: up to the cursor (``upto``), those
        the crashed worker folded in without telling anyone (else the image would be newer) — only
        prices and time; then (``upto`` None) those to the end of the topics, which it never saw:
        the market moved on while the worker was down, as a real exchange's does, and the intents
        redelivered next meet the venue where the market now is. What these make happen (a stop
        the market crossed meanwhile) is carried to the next event, which tells it."""
        records: list[tuple[int, str, int, MarketBatch | FundingEvent]] = []
        ends: dict[str, int] = {}
        for topic in MARKET_INPUTS:
            start = self.applied.get(topic, -1) + 1
            end = None if upto is None else upto.get(topic, -1)
            if end is not None and end < start:
                continue
            for offset, raw in await read_range(self.wiring.settings, topic, self.partition, start, end):
                ends[topic] = offset
                try:
                    value = FundingEvent.decode(raw) if topic == "mkt.funding" else MarketBatch.decode(raw)
                except ValueError:
                    continue  # dead-lettered the first time
                ts = value.ts if isinstance(value, FundingEvent) else value.first_ts
                records.append((ts, topic, offset, value))
        self._new_rows = []
        for _, topic, offset, value in sorted(records, key=lambda r: (r[0], r[1], r[2])):
            results = await (self._funding(value) if isinstance(value, FundingEvent) else self._batch(value))
            if results and upto is not None:  # cannot happen for a deterministic venue: said loudly
                log.error(
                    "S4 desk %d: catching up %s@%d made %d result(s)",
                    self.partition,
                    topic,
                    offset,
                    len(results),
                )
            self._carried += results
            self.applied[topic] = offset
        self._carried_rows += self._new_rows
        self._new_rows = []
        for topic, offset in {**ends, **(upto or {})}.items():
            self.applied[topic] = max(self.applied.get(topic, -1), offset)

    async def release_carried(self) -> tuple[list[OrderResult], list[Row]]:
        """What the catch-up made happen, told now (in an event, so the desk can be stored first)."""
        if not (self._carried or self._carried_rows):
            return [], []
        results, rows = self._carried, self._carried_rows
        self._carried, self._carried_rows = [], []
        self.outbox += results
        self.rows += rows
        store_image(self.partition, self._image())
        store_cursor(self.partition, Cursor(dict(self.applied)))
        await app.producer.flush()  # venue truth on the broker before anyone hears of it
        self.outbox = list(results)
        return results, rows

    def _image(self) -> DeskImage:
        return DeskImage(
            base_of(self.ex, self.service.state),
            dict(self.applied),
            list(self.outbox),
            list(self.rows),
            tuple(sorted(self.symbols)),
        )

    # RecordSink: rows made while an event runs
    def add(self, table: str, row: Mapping[str, Any]) -> None:
        self._new_rows.append((table, row))

    def seen(self, topic: str, offset: int) -> bool:
        return offset <= self.applied.get(topic, -1)

    async def _forget_unsent(self, intent: OrderIntent) -> None:
        """Claims a crash left behind for sends the paper venue never received: RouterService would
        take the intent for a redelivery and, finding none of its orders at the venue, answer it
        with nothing — the intent would be lost. Here the venue is our own: every call is journaled
        (and flushed) before the venue sees it, so a claimed order the restored venue does not know
        was never received, and sending it now is its first send. Its ``idem:{order}`` claim is
        dropped, and the intent's record too when none of its orders reached the venue; the intent
        then runs as new. Paper only: a real exchange is asked by id and never sent to twice.
        (Found by the kill -9 test; belongs in RouterService's redelivery path.)"""
        if intent.intent_id in self.service.state.execs:
            return  # known to the restored state: a true redelivery
        raw = await self.service.idem.get("intent", intent.intent_id)
        if raw is None or json.loads(raw).get("refused"):
            return  # new, or refused at intake (the record holds the answer)
        reached = False
        unsent: list[str] = []
        for name in slice_names(intent, MAX_REPRICES):
            c = cid(intent, name)
            if await self.service.idem.get("order", c) is None:
                continue
            try:
                self.ex.order(intent.market, intent.symbol, c)
                reached = True
            except OrderNotFound:
                unsent.append(c)
        keys = [self.wiring.keyspace.idem("order", c) for c in unsent]
        if not reached:
            keys.append(self.wiring.keyspace.idem("intent", intent.intent_id))
        if keys:
            log.warning(
                "S4 %s: claimed, never at the venue (a crash between): sent as new %s",
                intent.intent_id,
                unsent,
            )
            for key in keys:  # one at a time: on a Cluster the keys span slots
                await self.wiring.redis.delete(key)

    async def _journal_call(self, call: VenueCall) -> None:
        self._journal.append(call)
        store_cursor(self.partition, Cursor(dict(self.applied), list(self._journal)))
        await app.producer.flush()

    # ---- one event -------------------------------------------------------------------------------
    async def run(self, d: Delivery[Any]) -> tuple[list[OrderResult], list[Row]]:
        """Fold one event in; return what to send and to record (the desk is stored and, when
        either is non-empty, on the broker already)."""
        self._journal, self._new_rows = [], []
        value = d.value
        if isinstance(value, OrderIntent | CancelIntent):
            self.symbols.add(value.symbol)
            if isinstance(value, OrderIntent):
                await self._forget_unsent(value)
            results = await self.service.submit(value)
            results += await self._venue(self.ex.drain())
        elif isinstance(value, MarketBatch):
            results = await self._batch(value)
        else:
            results = await self._funding(value)
        rows = self._new_rows
        self.applied[d.topic] = d.offset
        material = bool(results or rows or self._journal)
        if material:
            self.outbox += results
            self.rows += rows
            store_image(self.partition, self._image())
        store_cursor(self.partition, Cursor(dict(self.applied)))
        if material:
            await app.producer.flush()  # venue truth on the broker before anyone hears of it
            self.outbox = list(results)  # what was sent before this flush is on the broker too
        return results, rows

    async def _batch(self, batch: MarketBatch) -> list[OrderResult]:
        if (batch.market, Symbol(batch.symbol)) not in self.ex.instruments:
            return []  # not a paper instrument (S2 and S3 still see it)
        self.symbols.add(batch.symbol)
        out: list[OrderResult] = []
        for ev in batch_events(batch):
            if ev.ts < self.ex.now_ms():
                # a tick of another symbol's batch that S1 closed after the venue moved on to an
                # earlier-closed batch's close (or, live, an exchange stamp behind S1's clock): the
                # venue's time never goes back, the tick happens now
                ev = replace(ev, ts=self.ex.now_ms())
            out += await self._timers(ev.ts)
            out += await self._venue(apply(self.ex, ev))
            out += await self.service.on_market(ev)
            out += await self._venue(self.ex.drain())
        # then to the time S1 closed it (v1: its last tick), the deadlines before it fired first:
        # what the batch sets off downstream (an entry, its stop) happens there, as in the engine
        out += await self._timers(batch.close_ts)
        if batch.close_ts > self.ex.now_ms():
            out += await self._venue(self.ex.advance(batch.close_ts))
        return out

    async def _funding(self, ev: FundingEvent) -> list[OrderResult]:
        if (Market.FUT, Symbol(ev.symbol)) not in self.ex.instruments:
            return []
        if ev.ts < self.ex.now_ms():  # as a late tick: the rate is known from now on
            ev = ev.model_copy(update={"ts": self.ex.now_ms()})
        out = await self._timers(ev.ts)
        return out + await self._venue(apply(self.ex, ev))

    async def _timers(self, before: int) -> list[OrderResult]:
        """Fire the router's deadlines due before ``before``, each at its own event time."""
        out: list[OrderResult] = []
        while (at := await self._router_due(before)) is not None:
            self._last_timer = at
            if at > self.ex.now_ms():
                out += await self._venue(self.ex.advance(at))
            out += await self.service.on_time(at)
            out += await self._venue(self.ex.drain())
        return out

    async def _router_due(self, before: int) -> int | None:
        times: list[int] = []
        twap = False
        for x in self.service.state.execs.values():
            if x.phase in (MAKING, REPRICING) and x.deadline is not None:
                times.append(x.deadline)
            twap = twap or (x.intent.exec == "twap" and not x.done)
        if twap:
            nxt = await self.service.queue.next_due()
            if nxt is not None:
                times.append(nxt)
        times = [t for t in times if self._last_timer < t < before]
        return min(times) if times else None

    async def _venue(self, events: Iterable[SimEvent]) -> list[OrderResult]:
        out: list[OrderResult] = []
        for e in events:
            if isinstance(e, OrderState):
                out += await self.service.on_order(e)
            elif isinstance(e, FundingPayment):
                self._new_rows.append((FUNDING_TABLE, payment_row(e)))
        return out

    def view(self) -> dict[str, Any]:
        """The paper venue as the desk sees it (tests, operators)."""
        ex = self.ex
        return {
            "partition": self.partition,
            "now": ex.now_ms(),
            "applied": self.applied,
            "symbols": sorted(self.symbols),
            "balances": {
                m.value: {a: {"free": str(b.free), "total": str(b.total)} for a, b in ex.balances(m).items()}
                for m in (Market.FUT, Market.SPOT)
            },
            "positions": [
                {"symbol": p.symbol, "qty": str(p.qty), "entry_price": str(p.entry_price)}
                for p in ex.positions()
            ],
            "open_orders": [
                {
                    "client_order_id": o.client_order_id,
                    "symbol": o.symbol,
                    "side": o.side.value,
                    "type": o.type.value,
                    "qty": None if o.qty is None else str(o.qty),
                    "stop_price": None if o.stop_price is None else str(o.stop_price),
                    "reduce_only": o.reduce_only,
                }
                for m in (Market.FUT, Market.SPOT)
                for o in ex.open_orders(m)
            ],
            "open_tracks": len(self.service.state.open_orders()),
            "orders": len(ex.orders),
            "fills": [
                {
                    "trade_id": f.trade_id,
                    "client_order_id": f.client_order_id,
                    "side": f.side.value,
                    "price": str(f.price),
                    "qty": str(f.qty),
                    "fee": str(f.fee),
                    "ts": f.ts,
                }
                for o in ex.orders.values()
                for f in o.state().fills
            ],
            "funding": [  # settlements the venue booked (amount > 0 received)
                {"symbol": p.symbol, "funding_time": p.funding_time, "amount": str(p.amount)}
                for p in ex.funding_payments()
            ],
        }


# ---- the worker's desks --------------------------------------------------------------------------
class _Shared:
    def __init__(self) -> None:
        self.wiring: Wiring | None = None
        self.ready = asyncio.Event()
        self.desks: dict[int, Desk] = {}


shared = _Shared()


async def desk_for(partition: int) -> Desk:
    desk = shared.desks.get(partition)
    if desk is not None:
        return desk
    assert shared.wiring is not None
    desk, image = await Desk.open(partition, shared.wiring)
    shared.desks[partition] = desk
    if image is not None:
        # told before the crash, maybe not heard: again (S6 folds a fill once, ReplacingMergeTree a row)
        await _send(partition, image.outbox)
        await shared.wiring.add_rows(image.rows, "ord.results", partition, 0)
    return desk


async def _send(partition: int, results: Iterable[OrderResult]) -> None:
    for r in results:
        await ord_results.send(key=r.symbol.encode(), value=encode(r, "ord.results"), partition=partition)


@app.on_partitions_revoked.connect
def drop_desks(sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
    """A partition that moves away takes its desk along (its image is in the changelog)."""
    revoked: set[TP] = set(args[0]) if args else set()
    inputs = {app.settings.topic(n) for n in ("ord.intents", *MARKET_INPUTS)}
    for tp in revoked:
        if tp.topic in inputs:
            shared.desks.pop(tp.partition, None)


class _FlushAtCommit(faust.Sensor):
    """Write queued rows when Faust starts an offset commit (rows before offsets)."""

    def on_commit_initiated(self, consumer: ConsumerT) -> Any:
        _flush_rows(force=True)


def _flush_rows(force: bool) -> None:
    if shared.wiring is not None and shared.wiring.flush(force):
        for desk in shared.desks.values():
            desk.rows.clear()  # all in ClickHouse: the next image carries none


app.sensors.add(_FlushAtCommit())


# ---- the replay barrier --------------------------------------------------------------------------
class Progress(faust.Sensor):
    """Per topic-partition: the last offset this worker produced, and the last offset every one of
    its agents has finished; plus how many sends are not acknowledged yet."""

    def __init__(self) -> None:
        super().__init__()
        self.produced: dict[tuple[str, int], int] = {}
        self.done: dict[tuple[str, int], int] = {}
        self.in_flight = 0

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> Any:
        self.in_flight += 1
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        self.in_flight -= 1
        tp = (metadata.topic, metadata.partition)
        self.produced[tp] = max(self.produced.get(tp, -1), metadata.offset)

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self.in_flight -= 1

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        key = (tp.topic, tp.partition)
        self.done[key] = max(self.done.get(key, -1), offset)

    def pending(self) -> dict[str, int]:
        """Topic-partitions this worker consumes whose produced records are not all finished yet."""
        consumed = app.topics.acking_topics
        assigned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
        return {
            f"{t}:{p}": off - self.done.get((t, p), -1)
            for (t, p), off in self.produced.items()
            if t in consumed and (t, p) in assigned and self.done.get((t, p), -1) < off
        }


progress = Progress()
app.sensors.add(progress)


@app.page("/router/progress/")
async def progress_view(web: View, request: Request) -> Response:
    """``done``: per ``topic:partition``, the last offset every agent here has finished; ``quiet``:
    nothing in flight and everything produced here to a topic consumed here is finished."""
    pending = progress.pending()
    return web.json(
        {
            "done": {f"{t}:{p}": off for (t, p), off in progress.done.items()},
            "in_flight": progress.in_flight,
            "pending": pending,
            "quiet": progress.in_flight == 0 and not pending,
        }
    )


@app.page("/router/desk/{partition}/")
async def desk_view(web: View, request: Request, partition: str) -> Response:
    desk = shared.desks.get(int(partition))
    if desk is None:
        raise web.NotFound(f"no router desk for partition {partition} on this worker")
    return web.json(desk.view())


# ---- lifecycle -----------------------------------------------------------------------------------
class Runtime(Service):
    """The worker's S4 wiring, opened before the app's consumer and agents start (a dependency of
    the app) and closed after they stopped. Faust 0.15.3 can drop records it fetches while it seeks
    to the committed offsets after a rebalance; setup awaited inside the first event makes that
    window longer (measured by S3), so nothing slow waits there."""

    async def on_start(self) -> None:
        shared.wiring = await Wiring.open(app.settings)
        shared.ready.set()

    async def on_stop(self) -> None:
        if shared.wiring is not None:
            await shared.wiring.close()
            shared.wiring = None


app.add_dependency(Runtime())


@app.on_rebalance_complete.connect
async def restore_desks(sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
    """Rebuild the assigned partitions' desks from their table records as soon as the tables are
    recovered, before the streams are sought and resumed (not in their first event, see Runtime).
    A failure here is only logged: the first event builds the desk then."""
    wiring = shared.wiring
    if wiring is None or await wiring.venue(wait=False) is None:
        return
    topic = app.settings.topic("ord.intents")
    for tp in app.consumer.assignment():
        if tp.topic == topic and tp.partition not in shared.desks:
            try:
                await desk_for(tp.partition)
            except Exception:
                log.exception(
                    "S4 desk %d not restored before the streams; its first event will", tp.partition
                )


@app.timer(interval=app.settings.sink_flush_ms / 1000)
async def s4_flush_rows() -> None:
    _flush_rows(force=False)


async def handle(d: Delivery[Any]) -> None:
    """One event; a Redis or Kafka failure midway drops the desk, which is then rebuilt from its
    table records (the state the venue acknowledged), and the event is run again (not acked: Faust
    acks the record an agent raised on)."""
    backoff = RETRY_FIRST_S
    while True:
        try:
            desk = await desk_for(d.partition)
            told, told_rows = await desk.release_carried()
            await _send(d.partition, told)
            assert shared.wiring is not None
            await shared.wiring.add_rows(told_rows, "ord.results", d.partition, 0)
            if desk.seen(d.topic, d.offset):
                return  # redelivered after a crash: folded in, its results resent at restore
            results, rows = await desk.run(d)
            await _send(d.partition, results)
            break
        except TRANSIENT as exc:
            shared.desks.pop(d.partition, None)
            log.warning(
                "S4 %s@%d failed (%r); desk rebuilt, again in %.1f s", d.topic, d.offset, exc, backoff
            )
            await asyncio.sleep(backoff)
            backoff = min(RETRY_MAX_S, 2 * backoff)
    assert shared.wiring is not None
    await shared.wiring.add_rows(rows, app.settings.topic(d.topic), d.partition, d.offset)


@app.agent(source.channel)
async def router(stream: StreamT) -> None:
    await shared.ready.wait()
    async for d in source.deliveries(stream):
        await handle(d)
