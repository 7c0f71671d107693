"""The in-process replay engine: recorded events in event time through S1 → S2 → S3 → S4 → S6 on
SimVenue, with no broker (DESIGN §1.1: the same cores and shells as the Faust workers).

Per record, in this order (what a paper deployment would see, one hop at a time):

1. **Timers.** Event time jumps to the record's ``ts``. First every live timer due on the way
   fires at its own time: S1's batch timer (a window closes ``window_ms`` after its first tick)
   and S4's maker deadlines and TWAP slices; the venue's clock is moved to the timer first.
2. **Venue.** The record moves SimVenue (trades, books, marks, funding); what happened to our
   orders goes to S4 (``on_order``), whose results S6 hears with the batch (step 4).
3. **S4 market view.** The tick goes to S4 (``on_market``): book, deadlines, guards, due slices.
4. **S1 → S2 → S3.** The tick joins its micro-batch. A closed batch first moves the venue to the
   time S1 closed it (``MarketBatch.close_ts``); then it goes to S6 (a management tick), then S6
   hears what S4 did on the market since the last batch (steps 1-3: fills of resting orders, maker
   and TWAP timers) — S4's paper desk answers a whole batch at once, after S6 has read the batch,
   so S6 reacts at the batch's close in both runners — and the batch goes to S2 (once per bar,
   ``coalesce.py``); each feature event (checked against the
   ``feat.events`` contract, as S2's agent does) gives S6 its ATR and S3 its decision. An open
   decision tells S6 the entry's plan (one hop on Kafka) before its intent reaches S4 (whose
   results reach S6 two hops later).
5. **S6 ↔ S4.** S6's intents go to S4 and S4's results back to S6 until nothing is left.

End of a perpetual's own data (``ends.py``, given): once S1 has closed its last batch, before the
next record, every position still open on it is closed at market (``END_OF_DATA``).

End of input: the open batches close; with ``flatten_at_end`` every open position is closed at
market by a reduce-only order naming it (as S5 de-risks), so S6 books the exit and the gate
reservation comes back.

Funding: a recorded rate is S1's ``funding:{next}`` for S3 and the venue's rate; what the venue
settles is recorded (``funding_records``) and charged to S6's position, so S6's books agree with
the wallet. Only the bundle's instruments reach the venue, S4 and S6; S2 and S3 see every symbol
(S3 skips the others, UNKNOWN_SYMBOL once its earlier checks pass), so the record shows what was
left out and why.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal

from agents.config.bundle import Bundle
from agents.connectors.marketdata import Malformed, MicroBatcher
from agents.connectors.port import OrderState
from agents.connectors.recordings import Record
from agents.connectors.simvenue import FundingPayment, SimEvent
from agents.connectors.simvenue.feed import apply
from agents.engine.coalesce import emits_nothing, merge
from agents.engine.config import EngineConfig
from agents.engine.ends import END_OF_DATA, END_OF_RUN, DataEnds, close_intent
from agents.engine.result import BacktestResult, FinalState
from agents.engine.services import Services
from agents.features.core import FeatureEvent, step, step_reference
from agents.features.state import FeatureState
from agents.features.ticks import ticks_from_batch
from agents.positions import core as s6
from agents.positions.events import Event as S6Event
from agents.positions.events import Tick
from agents.positions.inputs import atr_of, plan_of, tick_of
from agents.positions.state import SymbolBook
from agents.router.styles.maker_taker import MAKING, REPRICING
from agents.strategy.entry import SymbolState
from agents.strategy.records import PublishDecision, SendIntent
from agents.strategy.signals import signals_row
from chimera.model import Market, Symbol
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.redis import RedisClient
from topics.market import FundingEvent, MarketBatch
from topics.trading import CancelIntent, OrderIntent, OrderResult
from topics.trading import FeatureEvent as FeatureMessage

Intent = OrderIntent | CancelIntent
__all__ = ["END_OF_DATA", "END_OF_RUN", "Engine", "wallet_total"]


class Engine:
    def __init__(
        self,
        bundle: Bundle,
        redis: RedisClient,
        services: Services,
        cfg: EngineConfig,
        ends: DataEnds | None = None,
    ) -> None:
        self.bundle = bundle
        self.ends = ends
        self.redis = redis
        self.s = services
        self.cfg = cfg
        self.ex = services.venue.exchange
        self.features_cfg = bundle.feature_config()
        self.batcher = MicroBatcher(cfg.batch_window_ms, cfg.batch_max_ticks, cfg.book_levels)
        self.s2: dict[str, FeatureState] = {}
        self.s3: dict[str, SymbolState] = {}
        self.s6: dict[str, SymbolBook] = {}
        self.tradable = set(self.ex.instruments)
        self._last_timer = -1
        self._now = 0  # the last record's event time
        self._held: dict[str, Tick] = {}  # S6's latest tick per flat symbol, not applied yet
        self._told: list[S6Event] = []  # S4's results on the market, for S6 after the next batch
        self._s2_held: dict[str, list[MarketBatch]] = {}  # batches S2 gets with the next (coalesce.py)
        self.result = BacktestResult(
            run_id=cfg.run_id,
            bundle_id=bundle.bundle_id,
            bundle_rev=bundle.rev,
            database=services.recorder.sink.backend.database,
            key_prefix=cfg.key_prefix,
            initial_usdt=cfg.initial_usdt,
        )

    @classmethod
    async def open(
        cls,
        bundle: Bundle,
        redis: RedisClient,
        backend: ClickHouseBackend,
        cfg: EngineConfig,
        ends: DataEnds | None = None,
    ) -> Engine:
        return cls(bundle, redis, await Services.open(bundle, redis, backend, cfg), cfg, ends)

    # ---- one record --------------------------------------------------------------------------
    async def feed(self, rec: Record) -> None:
        counts = self.result.counts
        counts.records += 1
        if isinstance(rec, Malformed):
            self.result.malformed.append(rec)  # a loader's dead letter: kept, reported, not traded
            return
        if rec.ts < self._now:
            raise ValueError(
                f"records out of event-time order: {rec} at {rec.ts} after {self._now} "
                "(load_files merges files in time order; a file's own order is the loader's)"
            )
        self._now = rec.ts
        await self._timers(rec.ts)
        if self.ends is not None:
            ended = self.ends.due(rec.ts)
            if ended:
                await self._tell_s6()
                await self._flatten(set(ended), END_OF_DATA)
        if isinstance(rec, FundingEvent):
            counts.funding_events += 1
            # S1 publishes the perpetual's open batch first (agents.demo.kafka_feed does so too)
            await self._batches(self.batcher.close_symbol(Market.FUT, rec.symbol, rec.ts))
            await self._funding_rate(rec)
            return
        counts.ticks += 1
        if (rec.market, Symbol(rec.symbol)) in self.tradable:
            self._told += await self._venue(apply(self.ex, rec))
            self._told += self._published(await self.s.router.on_market(rec))
            self._told += await self._venue(self.ex.drain())
        await self._batches(self.batcher.add(rec))

    async def finish(self) -> BacktestResult:
        """End of input: the open batches; with ``flatten_at_end`` every open position closed at
        market; then the record written and the end state read."""
        await self._batches(self.batcher.flush())
        await self._tell_s6()  # a timer's results after the last batch (no batch follows)
        if self.cfg.flatten_at_end:
            await self._flatten(set(self.s6), END_OF_RUN)
        self.s.recorder.flush()
        r = self.result
        r.dead_letters = list(self.s.recorder.dead_letters)
        r.regimes = list(self.s.regime.published)
        symbols = sorted({str(s) for _, s in self.tradable})
        r.final = FinalState(
            balances={m.value: self.ex.balances(m) for m in (Market.FUT, Market.SPOT)},
            positions=self.ex.positions(),
            open_orders=[o for m in (Market.FUT, Market.SPOT) for o in self.ex.open_orders(m)],
            gate=await self.s.gate.usage(symbols),
            now_ms=self.ex.now_ms(),
        )
        self.s.close()
        return r

    # ---- 1. timers between records -----------------------------------------------------------
    async def _timers(self, ts: int) -> None:
        due = sorted(self.batcher.close_due(ts), key=lambda b: b.close_ts)
        while True:
            router_at = await self._router_due(ts)
            batch_at = due[0].close_ts if due else None  # the window's end: S1's timer
            if batch_at is None and router_at is None:
                return
            self.result.counts.timers += 1
            if batch_at is not None and (router_at is None or batch_at <= router_at):
                await self._batches([due.pop(0)])
            else:
                assert router_at is not None
                self._last_timer = router_at
                await self._advance(router_at)
                self._told += self._published(await self.s.router.on_time(router_at))
                self._told += await self._venue(self.ex.drain())

    async def _router_due(self, before: int) -> int | None:
        """The router's next deadline strictly before ``before`` (a tick at ``before`` itself
        reaches the router in step 3), and after the last timer fired (each fires once)."""
        times = []
        twap = False
        for x in self.s.router.state.execs.values():
            if x.phase in (MAKING, REPRICING) and x.deadline is not None:
                times.append(x.deadline)
            twap = twap or (x.intent.exec == "twap" and not x.done)
        if twap:
            nxt = await self.s.router.queue.next_due()
            if nxt is not None:
                times.append(nxt)
        times = [t for t in times if self._last_timer < t < before]
        return min(times) if times else None

    async def _advance(self, ts: int) -> None:
        if ts > self.ex.now_ms() or self.ex.now is None:
            self._told += await self._venue(self.ex.advance(ts))

    # ---- 2./3. the venue and S4 ----------------------------------------------------------------
    async def _venue(self, events: Sequence[SimEvent]) -> list[S6Event]:
        """Hand the venue's outbox on: order states to S4, settlements to the record and S6."""
        out: list[S6Event] = []
        for e in events:
            if isinstance(e, OrderState):
                out += self._published(await self.s.router.on_order(e))
            elif isinstance(e, FundingPayment):
                self.result.funding.append(e)
                self.s.recorder.funding(e)
                out.append(
                    FundingEvent(
                        symbol=e.symbol,
                        funding_time=e.funding_time,
                        rate=e.rate,
                        mark_price=e.mark_price,
                        ts=self.ex.now_ms(),
                    )
                )
        return out

    def _published(self, results: list[OrderResult]) -> list[S6Event]:
        self.result.orders.extend(results)  # S4 already queued their orders/fills rows
        return list(results)

    async def _submit(self, intent: Intent) -> list[S6Event]:
        self.result.intents.append(intent)
        out = self._published(await self.s.router.submit(intent))
        return out + await self._venue(self.ex.drain())

    async def _funding_rate(self, ev: FundingEvent) -> None:
        # S1's duty: the latest rate is what S3's rules read as the symbol's next funding
        doc = {"rate": str(ev.rate), "funding_time": ev.funding_time}
        await self.redis.set(self.s.keyspace.funding_next(ev.symbol), json.dumps(doc))
        if (Market.FUT, Symbol(ev.symbol)) in self.tradable:
            await self._pump(await self._venue(apply(self.ex, ev)))

    # ---- 4. batches: S6 ticks, S2, S3 ----------------------------------------------------------
    async def _batches(self, batches: Iterable[MarketBatch]) -> None:
        for batch in batches:
            self.result.counts.batches += 1
            # the venue at the time S1 closed the batch before anyone reads it, as S4's paper desk
            # moves it (a full batch closes at its last tick, the end of input at the last record)
            await self._advance(batch.close_ts)
            sym = batch.symbol
            if batch.market is Market.FUT and sym in self.s.fut:
                tick = tick_of(batch)
                if tick is not None:
                    await self._pump([tick])
            await self._tell_s6()
            state = self.s2.get(sym) or FeatureState(symbol=sym)
            if batch.market is Market.FUT:
                held = self._s2_held.setdefault(sym, [])
                held.append(batch)
                if self.cfg.coalesce_s2 and emits_nothing(state, batch, self.features_cfg.interval_ms):
                    continue  # S2 could not close a bar on it: handed over with the next batch
                ticks = ticks_from_batch(merge(held), self.features_cfg.depth_levels)
                held.clear()
                state, events = step(state, ticks, self.features_cfg)
            else:  # a spot series is the reference rho is measured against, as in S2's agent
                ticks = ticks_from_batch(batch, self.features_cfg.depth_levels)
                state, events = step_reference(state, ticks, self.features_cfg), []
            self.s2[sym] = state
            for ev in events:
                await self._feature(ev)

    async def _tell_s6(self) -> None:
        told, self._told = self._told, []
        await self._pump(told)

    async def _feature(self, ev: FeatureEvent) -> None:
        self.result.counts.features += 1
        try:
            msg = FeatureMessage.model_validate(ev)
        except ValueError as exc:  # S2's agent would dead-letter it; S3 never sees it
            self.result.rejected_features.append(f"{ev['signal_id']}: {exc}")
            return
        sym = ev["symbol"]
        atr = atr_of(msg) if sym in self.s.fut else None
        if atr is not None:
            await self._pump([atr])
        regime = self.s.regime
        regime.observe(sym, ev["t0"], ev["features"].get("close"))
        await regime.before_decision(ev["t0"])
        snap, out = await self.s.strategy.decide(self.s3.get(sym, {}), ev)
        self.s3[sym] = out.state
        self.result.decisions.append(out.decision)
        self.s.recorder.signal(signals_row(ev, out.decision, snap.bundle_id))
        plan = plan_of(out.decision) if sym in self.s.fut else None
        if plan is not None:
            await self._pump([plan])
        for effect in out.effects:
            if isinstance(effect, SendIntent):
                await self._pump(await self._submit(effect.intent))
            elif not isinstance(effect, PublishDecision):
                raise TypeError(f"unknown S3 effect {effect!r}")

    async def _flatten(self, symbols: set[str], reason: str) -> None:
        """Close what is open on ``symbols`` as S5 de-risks (``ends.close_intent``)."""
        for sym, book in sorted(self.s6.items()):
            if sym not in symbols:
                continue
            for pos in book.positions.values():
                if pos.is_open:
                    await self._pump(await self._submit(close_intent(pos, self.ex.now_ms(), reason)))

    # ---- 5. S6 and its intents -----------------------------------------------------------------
    async def _pump(self, events: Iterable[S6Event]) -> None:
        """S6's inbox, first in first out; each intent it sends goes to S4 and its results join."""
        queue = deque(events)
        while queue:
            ev = queue.popleft()
            for intent in await self._s6(ev):
                queue.extend(await self._submit(intent))

    async def _s6(self, ev: S6Event) -> list[Intent]:
        sym = ev.symbol
        if sym not in self.s.fut or (isinstance(ev, OrderResult) and ev.market is not Market.FUT):
            return []  # spot orders are protected by S4 (OCO / guard), not by S6
        book = self.s6.get(sym) or s6.empty(sym)
        ctx = self.s.positions.ctx(sym)
        if isinstance(ev, Tick) and not book.positions and not book.plans:
            # a flat book only notes the last price and mark of a tick: keep the latest and apply
            # it when something else arrives (the book ends the same, and no effect is skipped)
            held = self._held.get(sym)
            self._held[sym] = ev if held is None or ev.mark is not None else replace(ev, mark=held.mark)
            return []
        held = self._held.pop(sym, None)
        if held is not None:
            book, none = s6.step(book, held, ctx)
            assert not none, f"a flat book's tick made effects: {none}"
        book, effects = s6.step(book, ev, ctx)
        self.s6[sym] = book
        if not effects:
            return []
        out = await self.s.positions.carry_out(effects)
        r = self.result
        r.position_events += out.events
        for row in out.snapshots:
            self.s.recorder.snapshot(row)
        r.snapshots += len(out.snapshots)
        r.released += out.released
        r.lapsed += out.lapsed
        return out.intents


def wallet_total(result: BacktestResult, market: str = "FUT", asset: str = "USDT") -> Decimal:
    assert result.final is not None
    bal = result.final.balances.get(market, {}).get(asset)
    return bal.total if bal is not None else Decimal(0)
