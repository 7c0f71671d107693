"""RouterService: the shell that feeds S4's core and carries out its effects on a venue and Redis.

Guards against an order being sent twice:

1. the intent's idempotency record ``idem:{intent}:<intent_id>`` (the intent and how intake
   answered it): a redelivered intent sends nothing; it is answered with its orders' current
   state, from memory, or — after a restart — from the venue, found through
2. each order's record ``idem:{order}:<client_order_id>``, claimed before the create is sent (with
   the mid and book at send, so fills found later are measured against the same mid). A send whose
   record already exists is never repeated: the order is looked up at the venue by its id;
3. a create whose outcome is unknown (OutcomeUnknown, a timeout) is resolved by ``fetch_order``
   by client_order_id, never by a second create. An order the venue still does not know after
   ``unknown_after_ms`` is reported REJECTED ``NOT_PLACED`` (the strategy decides what next).

Events are handled one at a time (a lock), in event time: the market feed and timers drive the
maker deadlines, the guard watcher and the TWAP scheduler. Venue order updates arrive through
``on_order`` (the venue's stream; SimVenue's event outbox in paper and tests) or ``poll``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from agents.connectors.marketdata import MarketEvent
from agents.connectors.port import (
    DuplicateClientOrderId,
    OcoRequest,
    OrderNotFound,
    OrderRequest,
    OrderState,
    OutcomeUnknown,
    Venue,
    VenueError,
)
from agents.router.config import DEFAULT_PARAMS
from agents.router.core import RouterState, step
from agents.router.execution import cid, slice_names
from agents.router.guards import GuardRecords
from agents.router.inputs import Inputs, read_inputs
from agents.router.messages import (
    Adopt,
    CancelIn,
    CancelOrder,
    Count,
    Ctx,
    Effect,
    Emit,
    Event,
    Guard,
    Intake,
    IntentIn,
    OrderUpdate,
    Place,
    PlaceOco,
    Record,
    Schedule,
    SendFailed,
    SendUnknown,
    Sent,
    SliceDue,
    Tick,
    Timer,
    Unschedule,
)
from agents.router.metrics import RouterMetrics
from agents.router.records import RecordSink, event_row, fill_rows, order_row
from agents.router.twap_queue import TwapQueue
from chimera.model import ClientOrderId, Clock, Market, Symbol, client_order_id_for
from sinks.redis import Idempotency, Keyspace, RedisClient
from topics.trading import CancelIntent, OrderIntent, OrderResult

Publish = Callable[[OrderResult], Awaitable[None]]
DAY_MS = 86_400_000
NOT_PLACED = "NOT_PLACED: the send's outcome was unknown and the venue never knew the order"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    intent_ttl_ms: int = 7 * DAY_MS  # idempotency records: longer than any redelivery horizon
    order_ttl_ms: int = 7 * DAY_MS
    guard_ttl_ms: int = 7 * DAY_MS
    resolve_attempts: int = 3  # fetches of an unknown send before calling it unknown for now
    ctx_refresh_ms: int = 250  # event time between re-reads of kill switch / health / params on ticks
    queue_refresh_ms: int = 5_000  # event time between re-reads of the TWAP queue's next due time


class RouterService:
    def __init__(
        self,
        venue: Venue,
        redis: RedisClient,
        keyspace: Keyspace,
        clock: Clock,
        *,
        records: RecordSink | None = None,
        publish: Publish | None = None,
        owns: Callable[[str], bool] | None = None,
        config: ServiceConfig | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.venue = venue
        self.redis = redis
        self.keyspace = keyspace
        self.clock = clock  # wall time of idempotency records (live), event time (replay, tests)
        self.records = records
        self.publish = publish
        self.owns = owns or (lambda _symbol: True)
        self.config = config or ServiceConfig()
        self.timer = timer
        self.metrics = RouterMetrics()
        self.state = RouterState()
        self.idem = Idempotency(redis, keyspace)
        self.queue = TwapQueue(redis, keyspace)
        self.guards = GuardRecords(redis, keyspace, self.config.guard_ttl_ms)
        self._instruments: dict[tuple[Market, Symbol], Any] = {}
        self._inputs = Inputs(False, None, DEFAULT_PARAMS)
        self._inputs_ts: int | None = None
        self._next_due: int | None = None
        self._queue_ts: int | None = None
        self._lock = asyncio.Lock()
        self._emitted: list[OrderResult] = []
        self._ack_from: dict[str, float] = {}  # intent_id -> timer value at intake, until its first ack

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load scripts and instruments, read the inputs and where the TWAP queue stands."""
        await self.idem.load()
        self._instruments = dict(await self.venue.load_markets())
        ctx = await self._refresh_inputs(None)
        self._next_due = await self.queue.next_due()
        await self._resume_guards(ctx)

    async def _resume_guards(self, ctx: Ctx) -> None:
        """Watch again the guards a previous process armed (their records outlive it)."""
        pattern = self.keyspace.guard_stop("SYM", "ID").replace("SYM:ID", "*")
        async for key in self.redis.scan_iter(match=pattern, count=500):
            fields = await self.guards.read_key(str(key))
            if fields.get("state") not in ("ARMED", "TRIGGERED"):
                continue
            raw = await self.idem.get("intent", fields.get("intent_id", ""))
            if raw is None:
                continue
            intent = OrderIntent.model_validate(json.loads(raw)["intent"])
            if not self.owns(intent.symbol) or intent.intent_id in self.state.execs:
                continue
            found = await self._found(intent.market, intent.symbol, [cid(intent, "g"), cid(intent, "x")])
            await self._feed(Adopt(intent, tuple(found), guard=fields["state"]), ctx)
            self.metrics.count("guards_resumed")

    # ---- inputs: intents, market data, venue updates, time ----------------------------------------
    async def submit(self, msg: OrderIntent | CancelIntent) -> list[OrderResult]:
        """Handle one ``ord.intents`` message; return the results it produced (or re-produced)."""
        async with self._lock:
            self._emitted = []
            ctx = await self._refresh_inputs(msg.ts)
            if isinstance(msg, CancelIntent):
                await self._cancel(msg, ctx)
            else:
                await self._intent(msg, ctx)
            await self._drain_due(self.state.now, force=isinstance(msg, OrderIntent) and msg.exec == "twap")
            self._ack_from.pop(msg.intent_id, None)  # refused, or nothing due yet: no ack to time
            return self._emitted

    async def on_market(self, ev: MarketEvent) -> list[OrderResult]:
        """A market event (``mkt.spot`` / ``mkt.perp``): moves the book and event time."""
        tick = _tick(ev)
        async with self._lock:
            self._emitted = []
            if tick is not None:
                await self._feed(tick, await self._ctx_at(ev.ts))
            await self._drain_due(ev.ts)
            await self._resolve_unknown(ev.ts)
            return self._emitted

    async def on_order(self, state: OrderState) -> list[OrderResult]:
        """A venue order update (stream, or SimVenue's outbox)."""
        async with self._lock:
            self._emitted = []
            if state.client_order_id in self.state.tracks:
                await self._feed(OrderUpdate(state), await self._ctx_at(None))
            return self._emitted

    async def on_time(self, ts: int) -> list[OrderResult]:
        """A timer at event time ``ts``: deadlines, due TWAP slices, unknown sends."""
        async with self._lock:
            self._emitted = []
            await self._feed(Timer(ts), await self._ctx_at(ts))
            await self._drain_due(ts, force=True)
            await self._resolve_unknown(ts)
            return self._emitted

    async def poll(self) -> list[OrderResult]:
        """Ask the venue for every open order (for a venue without an order stream)."""
        async with self._lock:
            self._emitted = []
            ctx = await self._ctx_at(None)
            for track in self.state.open_orders():
                try:
                    state = await self.venue.fetch_order(track.intent.market, track.intent.symbol, track.cid)
                except VenueError:
                    continue
                await self._feed(OrderUpdate(state), ctx)
            return self._emitted

    # ---- intake ----------------------------------------------------------------------------------
    async def _intent(self, intent: OrderIntent, ctx: Ctx) -> None:
        self._ack_from[intent.intent_id] = self.timer()
        new, effects = step(self.state, IntentIn(intent), ctx)
        intake = next((e for e in effects if isinstance(e, Intake)), None)
        if intake is None:  # still working here: the core re-emitted where its orders are
            self._ack_from.pop(intent.intent_id, None)
            self.state = new
            await self._run(effects, ctx)
            return
        record = json.dumps({"intent": intent.model_dump(mode="json"), "refused": intake.refused})
        claim = await self.idem.claim("intent", intent.intent_id, self.config.intent_ttl_ms, record)
        if not claim.first:
            self._ack_from.pop(intent.intent_id, None)
            self.metrics.count("intent_redelivered")
            await self._answer_redelivery(intent, json.loads(claim.value).get("refused"), ctx)
            return
        self.state = new
        await self._run(effects, ctx)

    async def _cancel(self, c: CancelIntent, ctx: Ctx) -> None:
        if c.target_intent_id not in self.state.execs:
            await self._adopt_from_records(c.target_intent_id, ctx)
        new, effects = step(self.state, CancelIn(c), ctx)
        if any(isinstance(e, Intake) for e in effects):
            record = json.dumps({"cancel": c.model_dump(mode="json")})
            claim = await self.idem.claim("intent", c.intent_id, self.config.intent_ttl_ms, record)
            if not claim.first:
                self.metrics.count("intent_redelivered")
                # the cancel ran before; its flatten order, if any, is the venue's to tell
                flat = await self._found(c.market, c.symbol, [client_order_id_for(c.intent_id, "flat")])
                if flat:
                    await self._feed(Adopt(_flatten_stub(c, flat[0][0]), tuple(flat)), ctx)
                return
        self.state = new
        await self._run(effects, ctx)

    async def _answer_redelivery(self, intent: OrderIntent, refused: str | None, ctx: Ctx) -> None:
        """An intent seen before, not working in this process: answer from the venue."""
        names = slice_names(intent, ctx.params.max_reprices)
        found = await self._found(intent.market, intent.symbol, [cid(intent, n) for n in names])
        await self._feed(Adopt(intent, tuple(found), refused), ctx)

    async def _adopt_from_records(self, intent_id: str, ctx: Ctx) -> None:
        """A cancel for an intent this process does not know (a restart): look its orders up."""
        raw = await self.idem.get("intent", intent_id)
        if raw is None:
            return
        doc = json.loads(raw)
        if "intent" not in doc or doc.get("refused"):
            return
        intent = OrderIntent.model_validate(doc["intent"])
        names = slice_names(intent, ctx.params.max_reprices)
        found = await self._found(intent.market, intent.symbol, [cid(intent, n) for n in names])
        open_ = [(s, sent) for s, sent in found if not s.status.is_final]
        if open_:
            await self._feed(Adopt(intent, tuple(found)), ctx)

    async def _found(
        self, market: Market, symbol: Symbol, cids: list[ClientOrderId]
    ) -> list[tuple[OrderState, Sent | None]]:
        """The orders among ``cids`` that were sent (have a record) and that the venue knows."""
        out: list[tuple[OrderState, Sent | None]] = []
        for c in cids:
            raw = await self.idem.get("order", c)
            if raw is None:
                continue
            try:
                state = await self.venue.fetch_order(market, symbol, c)
            except VenueError:
                continue
            out.append((state, Sent.from_json(json.loads(raw))))
        return out

    # ---- the effect loop -------------------------------------------------------------------------
    async def _feed(self, event: Event, ctx: Ctx) -> None:
        self.state, effects = step(self.state, event, ctx)
        await self._run(effects, ctx)

    async def _run(self, effects: Iterable[Effect], ctx: Ctx) -> None:
        """Carry out effects in order; venue answers become the next events (breadth first)."""
        pending: deque[Event] = deque()
        for e in effects:
            pending.extend(await self._do(e))
        while pending:
            self.state, more = step(self.state, pending.popleft(), ctx)
            for e in more:
                pending.extend(await self._do(e))

    async def _do(self, e: Effect) -> list[Event]:
        if isinstance(e, Emit):
            await self._emit(e.result)
        elif isinstance(e, Place):
            return await self._place(e)
        elif isinstance(e, PlaceOco):
            return await self._place_oco(e.req, e.intent)
        elif isinstance(e, CancelOrder):
            return await self._cancel_order(e)
        elif isinstance(e, Schedule):
            await self.queue.add([e.slice])
            self._next_due = e.slice.due_ts if self._next_due is None else min(self._next_due, e.slice.due_ts)
        elif isinstance(e, Unschedule):
            if e.slice is not None:
                await self.queue.remove(e.slice)
            else:
                await self.queue.remove_intent(e.intent_id)
        elif isinstance(e, Guard):
            await self.guards.write(e.symbol, e.intent_id, e.fields)
        elif isinstance(e, Record):
            if self.records is not None:
                self.records.add("strategy_events", event_row(e))
        elif isinstance(e, Count):
            self.metrics.count(e.name, e.n)
        return []

    async def _emit(self, r: OrderResult) -> None:
        self._emitted.append(r)
        if self.records is not None:
            self.records.add("orders", order_row(r))
            for row in fill_rows(r):
                self.records.add("fills", row)
        if self.publish is not None:
            await self.publish(r)

    # ---- venue calls -----------------------------------------------------------------------------
    def _sent(self, c: ClientOrderId) -> Sent:
        t = self.state.tracks[c]
        return Sent(t.role, t.sent_ts, t.mid_at_send, t.book_at_send, t.time_in_force)

    async def _claim_order(self, c: ClientOrderId) -> tuple[bool, dict[str, Any]]:
        doc = {**self._sent(c).to_json(), "at": self.clock.now_ms()}
        claim = await self.idem.claim("order", c, self.config.order_ttl_ms, json.dumps(doc))
        return claim.first, json.loads(claim.value)

    async def _place(self, e: Place) -> list[Event]:
        req = e.req
        first, doc = await self._claim_order(req.client_order_id)
        if first:
            events = await self._create(req, e.intent.intent_id)
        else:  # sent before (a restart, a duplicate delivery): ask the venue, never send again
            self.metrics.count("send_already_claimed")
            events = await self._lookup(req.market, req.symbol, req.client_order_id, doc)
        if e.slice is not None:
            await self.queue.remove(e.slice)
        return events

    async def _create(self, req: OrderRequest, intent_id: str) -> list[Event]:
        try:
            state = await self.venue.create_order(req)
        except DuplicateClientOrderId:
            return await self._resolve(req.market, req.symbol, req.client_order_id)
        except (OutcomeUnknown, TimeoutError):
            self.metrics.count("send_outcome_unknown")
            return await self._resolve(req.market, req.symbol, req.client_order_id)
        except VenueError as exc:
            self._acked(intent_id)
            return [SendFailed(req.client_order_id, _reason(exc), self.state.now)]
        self._acked(intent_id)
        return [OrderUpdate(state)]

    async def _place_oco(self, req: OcoRequest, intent: OrderIntent) -> list[Event]:
        legs = (req.limit_client_order_id, req.stop_client_order_id)
        first, doc = await self._claim_order(req.limit_client_order_id)
        await self._claim_order(req.stop_client_order_id)
        if not first:
            self.metrics.count("send_already_claimed")
            return [ev for c in legs for ev in await self._lookup(Market.SPOT, req.symbol, c, doc)]
        try:
            states = await self.venue.create_oco(req)
        except (OutcomeUnknown, TimeoutError, DuplicateClientOrderId):
            self.metrics.count("send_outcome_unknown")
            return [ev for c in legs for ev in await self._resolve(Market.SPOT, req.symbol, c)]
        except VenueError as exc:
            self._acked(intent.intent_id)
            return [SendFailed(c, _reason(exc), self.state.now) for c in legs]
        self._acked(intent.intent_id)
        return [OrderUpdate(s) for s in states]

    async def _resolve(self, market: Market, symbol: Symbol, c: ClientOrderId) -> list[Event]:
        """The create may or may not have reached the venue: ask it by client_order_id."""
        for _ in range(self.config.resolve_attempts):
            try:
                state = await self.venue.fetch_order(market, symbol, c)
            except OrderNotFound:
                break  # not there (yet): retried from the timer until unknown_after_ms
            except VenueError:
                continue
            self.metrics.count("send_resolved_by_fetch")
            track = self.state.tracks.get(c)
            if track is not None:
                self._acked(track.intent.intent_id)
            return [OrderUpdate(state)]
        return [SendUnknown(c, self.state.now)]

    async def _lookup(
        self, market: Market, symbol: Symbol, c: ClientOrderId, doc: dict[str, Any]
    ) -> list[Event]:
        sent = Sent.from_json(doc)
        try:
            state = await self.venue.fetch_order(market, symbol, c)
        except OrderNotFound:
            if self.clock.now_ms() - int(doc.get("at", 0)) > self._inputs.params.unknown_after_ms:
                return [SendFailed(c, NOT_PLACED, self.state.now)]
            return [SendUnknown(c, self.state.now)]
        except VenueError:
            return [SendUnknown(c, self.state.now)]
        return [OrderUpdate(state, sent)]

    async def _cancel_order(self, e: CancelOrder) -> list[Event]:
        try:
            state = await self.venue.cancel_order(e.market, e.symbol, e.client_order_id)
        except VenueError:
            # already over (filled, expired) or the answer was lost: the venue's state decides
            try:
                state = await self.venue.fetch_order(e.market, e.symbol, e.client_order_id)
            except VenueError:
                self.metrics.count("cancel_unresolved")
                return []
        return [OrderUpdate(state)]

    async def _resolve_unknown(self, now: int) -> None:
        """Ask again about sends still unknown; past ``unknown_after_ms`` they were never placed."""
        unknown = [t for t in self.state.open_orders() if t.unknown_since is not None]
        if not unknown:
            return
        ctx = await self._ctx_at(None)
        limit = ctx.params.unknown_after_ms
        for t in unknown:
            events: list[Event]
            try:
                events = [OrderUpdate(await self.venue.fetch_order(t.intent.market, t.intent.symbol, t.cid))]
            except VenueError:
                assert t.unknown_since is not None
                if now - t.unknown_since <= limit:
                    continue
                events = [SendFailed(t.cid, NOT_PLACED, now)]
            for ev in events:
                await self._feed(ev, ctx)

    def _acked(self, intent_id: str) -> None:
        t0 = self._ack_from.pop(intent_id, None)
        if t0 is not None:
            self.metrics.ack_ms.add((self.timer() - t0) * 1000)

    # ---- TWAP scheduler --------------------------------------------------------------------------
    async def _drain_due(self, now: int, force: bool = False) -> None:
        stale = self._queue_ts is None or now - self._queue_ts >= self.config.queue_refresh_ms
        if stale:
            self._next_due, self._queue_ts = await self.queue.next_due(), now
        if not force and (self._next_due is None or self._next_due > now):
            return
        due = await self.queue.due(now, self.owns)
        if due:
            ctx = await self._refresh_inputs(now)  # a slice is an order: the switch is read fresh
            for s in due:
                await self._feed(SliceDue(s, now), ctx)
        self._next_due, self._queue_ts = await self.queue.next_due(), now

    # ---- inputs ----------------------------------------------------------------------------------
    async def _refresh_inputs(self, ts: int | None) -> Ctx:
        self._inputs = await read_inputs(self.redis, self.keyspace, self._inputs.params)
        if self._inputs.params_error:
            self.metrics.count("params_unreadable")
        self._inputs_ts = ts
        return self._ctx()

    async def _ctx_at(self, ts: int | None) -> Ctx:
        if ts is not None and (self._inputs_ts is None or ts - self._inputs_ts >= self.config.ctx_refresh_ms):
            return await self._refresh_inputs(ts)
        return self._ctx()

    def _ctx(self) -> Ctx:
        i = self._inputs
        return Ctx(self._instruments, i.kill_switch, i.health, i.params)


def _tick(ev: MarketEvent) -> Tick | None:
    symbol = Symbol(ev.symbol)
    if ev.kind in ("t", "k"):
        return Tick(ev.market, symbol, ev.ts, price=ev.price)
    if ev.kind == "m":
        return None
    if ev.bids or ev.asks:
        return Tick(ev.market, symbol, ev.ts, bids=ev.bids, asks=ev.asks)
    bids = ((ev.bid, ev.bid_qty),) if ev.bid is not None and ev.bid_qty is not None else ()
    asks = ((ev.ask, ev.ask_qty),) if ev.ask is not None and ev.ask_qty is not None else ()
    return Tick(ev.market, symbol, ev.ts, bids=bids, asks=asks)


def _flatten_stub(c: CancelIntent, state: OrderState) -> OrderIntent:
    """The flatten order's intent, rebuilt from the venue's state (to report it again)."""
    return OrderIntent(
        intent_id=c.intent_id,
        symbol=c.symbol,
        market=c.market,
        side=state.side,
        qty=state.qty or state.filled_qty,
        exec="market",
        reduce_only=state.reduce_only,
        ts=c.ts,
        source=c.source,
        reason=c.reason or "FLATTEN",
    )


def _reason(exc: VenueError) -> str:
    return f"{exc.code}: {exc}" if exc.code is not None else str(exc)
