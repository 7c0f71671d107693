"""A paper desk around S6 for the end-to-end tests: it plays S1 (recorded bars, funding) and S4
(intents -> SimVenue orders, venue order updates -> OrderResults) with SimVenue as the venue.

Every hop is one call: a market record to the venue, an order update to S6, one intent from S6 to
the venue. After each the desk checks the venue's truth: once a position's stop has rested at the
venue, a reduce-only STOP_MARKET rests there for as long as the position is open.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import takewhile
from pathlib import Path

from positions_kit import BTC, ENTRY, SIGNAL

from agents.connectors.marketdata import MarketEvent
from agents.connectors.port import Fill as VenueFill
from agents.connectors.port import OrderNotFound, OrderRejected, OrderRequest, OrderState, VenueError
from agents.connectors.recordings import load_file
from agents.connectors.simvenue import FundingPayment, SimExchange, SimVenueConfig
from agents.connectors.simvenue.feed import apply
from agents.positions.events import Event, Tick
from agents.positions.intents import ENTRY_LEG
from chimera.model import (
    ClientOrderId,
    IntentId,
    Market,
    OrderStatus,
    OrderType,
    Side,
    SignalId,
    Symbol,
    client_order_id_for,
    intent_id_for,
)
from topics.market import FundingEvent
from topics.trading import CancelIntent, Fill, OrderIntent, OrderResult

FUT = Market.FUT
EIGHT_HOURS = 8 * 3_600_000
S6 = Callable[[Event], Awaitable[Sequence[OrderIntent | CancelIntent]]]
FUNDING_RATE = Decimal("0.0001")  # 0.01% per 8 h, the usual BTC perpetual rate
DATA = Path(__file__).resolve().parents[3] / "data" / "nautilus" / "btc-perp-20211231-20220201_1m.csv"


def make_exchange(**overrides: object) -> SimExchange:
    """SimVenue with the BTCUSDT perpetual only (fees 0.0002 / 0.0004, leverage 10, 10,000 USDT)."""
    fields: dict[str, object] = {
        "instruments": [
            {
                "symbol": BTC,
                "market": "FUT",
                "base": "BTC",
                "tick_size": "0.1",
                "lot_size": "0.001",
                "min_qty": "0.001",
                "min_notional": "5",
            }
        ],
        "initial_balances": {"FUT": {"USDT": "10000"}},
    }
    fields.update(overrides)
    return SimExchange(SimVenueConfig(**fields))


def bars(start_ms: int, end_ms: int, path: Path = DATA) -> list[MarketEvent]:
    """The bar ticks of the recorded BTC perpetual month in ``[start_ms, end_ms)``."""
    out = []
    for rec in load_file(path):
        if not isinstance(rec, MarketEvent) or rec.ts < start_ms:
            continue
        if rec.ts >= end_ms:
            break
        out.append(rec)
    return out


def _fill(f: VenueFill) -> Fill:
    return Fill(
        trade_id=f.trade_id,
        price=f.price,
        qty=f.qty,
        fee=f.fee,
        fee_asset=f.fee_asset,
        is_maker=f.is_maker,
        ts=f.ts,
    )


@dataclass
class Sent:
    intent: OrderIntent
    cid: ClientOrderId


@dataclass
class PaperDesk:
    ex: SimExchange
    s6: S6
    sent: dict[ClientOrderId, Sent] = field(default_factory=dict)
    versions: dict[ClientOrderId, int] = field(default_factory=dict)
    reported: dict[ClientOrderId, int] = field(default_factory=dict)
    intents: list[OrderIntent | CancelIntent] = field(default_factory=list)
    results: list[OrderResult] = field(default_factory=list)
    funding: list[FundingPayment] = field(default_factory=list)
    hops: int = 0
    armed: bool = False  # a stop has rested at the venue for the open position
    min_cover: Decimal | None = None  # smallest (stop qty / position qty) seen while armed

    # ---- S1: market data and funding -----------------------------------------------------------
    def publish_funding(self, start_ms: int, end_ms: int, rate: Decimal = FUNDING_RATE) -> None:
        """Tell the venue the rate of every settlement in the window (one rate for all)."""
        first = (start_ms // EIGHT_HOURS + 1) * EIGHT_HOURS
        for t in range(first, end_ms + 1, EIGHT_HOURS):
            self.ex.on_funding_rate(BTC, start_ms, rate, t)

    async def market(self, ev: MarketEvent) -> None:
        out = apply(self.ex, ev)
        self._hop()
        events: list[Event] = []
        for item in out:
            if isinstance(item, FundingPayment):
                self.funding.append(item)
                events.append(self._funding_event(item, ev.ts))
        events += self._results(out)
        events.append(Tick(BTC, ev.ts, ev.price or Decimal(0)))
        await self._run(events)

    async def run_bars(self, ticks: Iterable[MarketEvent], until: Callable[[], bool] | None = None) -> int:
        n = 0
        for ev in takewhile(lambda _: until is None or not until(), ticks):
            await self.market(ev)
            n += 1
        return n

    def _funding_event(self, p: FundingPayment, ts: int) -> FundingEvent:
        return FundingEvent(
            symbol=BTC, funding_time=p.funding_time, rate=p.rate, mark_price=p.mark_price, ts=ts
        )

    # ---- S3 + S4: the entry --------------------------------------------------------------------
    async def enter(self, side: Side, qty: str, signal_id: str = SIGNAL) -> None:
        """Send an entry as S3 names it (``intent_id_for(signal_id, "entry")``) at market."""
        intent = OrderIntent(
            intent_id=ENTRY if signal_id == SIGNAL else intent_id_for(signal_id, ENTRY_LEG),
            signal_id=SignalId(signal_id),
            symbol=BTC,
            market=FUT,
            side=side,
            qty=Decimal(qty),
            exec="market",
            ts=self.ex.now_ms(),
            source="strategy",
            reason="ENTRY",
        )
        await self._run(self._route(intent))

    # ---- S4: intents to the venue, venue updates to results ------------------------------------
    async def _run(self, events: Iterable[Event]) -> None:
        queue = deque(events)
        while queue:
            event = queue.popleft()
            for intent in await self.s6(event):
                self._hop()
                queue.extend(self._route(intent))
            self._hop()

    def _route(self, intent: OrderIntent | CancelIntent) -> list[OrderResult]:
        self.intents.append(intent)
        if isinstance(intent, CancelIntent):
            # a target that ended already (filled, expired) is not found: its own result says so
            with suppress(OrderNotFound):
                self.ex.cancel(FUT, BTC, client_order_id_for(intent.target_intent_id))
            return self._results(self.ex.drain())
        cid = client_order_id_for(intent.intent_id)
        assert cid not in self.sent, f"S6 sent {intent.intent_id} twice"
        self.sent[cid] = Sent(intent, cid)
        try:
            self.ex.submit(self._request(intent, cid))
        except OrderRejected as exc:
            return [self._refused(intent, cid, str(exc))]
        except VenueError as exc:
            raise AssertionError(f"S6 sent an order the venue cannot read: {intent}") from exc
        return self._results(self.ex.drain())

    @staticmethod
    def _request(intent: OrderIntent, cid: ClientOrderId) -> OrderRequest:
        if intent.exec == "sl_tp":
            type_ = OrderType.STOP_MARKET if intent.sl_price is not None else OrderType.TAKE_PROFIT_MARKET
            stop = intent.sl_price if intent.sl_price is not None else intent.tp_price
            return OrderRequest(
                Symbol(BTC), FUT, intent.side, type_, intent.qty, cid, stop_price=stop, reduce_only=True
            )
        assert intent.exec == "market", intent.exec
        return OrderRequest(
            Symbol(BTC), FUT, intent.side, OrderType.MARKET, intent.qty, cid, reduce_only=intent.reduce_only
        )

    def _refused(self, intent: OrderIntent, cid: ClientOrderId, why: str) -> OrderResult:
        r = OrderResult(
            intent_id=intent.intent_id,
            client_order_id=cid,
            version=0,
            signal_id=intent.signal_id,
            pos_id=intent.pos_id,
            symbol=BTC,
            market=FUT,
            status=OrderStatus.REJECTED,
            side=intent.side,
            type=OrderType.MARKET,
            reduce_only=intent.reduce_only,
            qty=intent.qty,
            filled_qty=Decimal(0),
            fee=Decimal(0),
            reason=why[:200],
            ts=self.ex.now_ms(),
        )
        self.results.append(r)
        return r

    def _results(self, out: Iterable[object]) -> list[OrderResult]:
        results = []
        for state in out:
            if not isinstance(state, OrderState):
                continue
            sent = self.sent.get(state.client_order_id)
            assert sent is not None, f"an order S6 did not send: {state.client_order_id} (liquidation?)"
            seen = self.reported.get(state.client_order_id, 0)
            version = self.versions.get(state.client_order_id, 0)
            self.reported[state.client_order_id] = len(state.fills)
            self.versions[state.client_order_id] = version + 1
            results.append(self._result(sent.intent, state, version, state.fills[seen:]))
        self.results += results
        return results

    @staticmethod
    def _result(intent: OrderIntent, s: OrderState, version: int, fills: Sequence[VenueFill]) -> OrderResult:
        return OrderResult(
            intent_id=IntentId(intent.intent_id),
            client_order_id=s.client_order_id,
            order_id=s.venue_order_id,
            version=version,
            signal_id=SignalId(intent.signal_id) if intent.signal_id else None,
            pos_id=intent.pos_id,
            symbol=BTC,
            market=FUT,
            status=s.status,
            side=s.side,
            type=s.type,
            reduce_only=s.reduce_only,
            qty=s.qty,
            stop_price=s.stop_price,
            filled_qty=s.filled_qty,
            avg_price=s.avg_price,
            fee=sum((f.fee for f in s.fills), Decimal(0)),
            fee_asset="USDT",
            fills=[_fill(f) for f in fills],
            ts=s.ts,
        )

    # ---- the venue's truth ---------------------------------------------------------------------
    def _hop(self) -> None:
        self.hops += 1
        qty = abs(self.ex.book.qty(Symbol(BTC)))
        stops = [
            o
            for o in self.ex.open_orders(FUT, BTC)
            if o.type is OrderType.STOP_MARKET and o.reduce_only and o.status in (OrderStatus.NEW,)
        ]
        if qty == 0:
            self.armed = False
            return
        if stops:
            self.armed = True
            cover = sum((o.qty or Decimal(0) for o in stops), Decimal(0)) / qty
            self.min_cover = cover if self.min_cover is None else min(self.min_cover, cover)
        assert stops or not self.armed, f"hop {self.hops}: position {qty} open at the venue with no stop"
