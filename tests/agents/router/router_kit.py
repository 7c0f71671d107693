"""Test kit for S4: a SimVenue on real BTCUSDT data, a router on real Redis, and the feed loop that
drives both in event time (the venue first, then its order updates, then the tick to the router —
as a paper deployment delivers them)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.connectors.marketdata import MarketEvent
from agents.connectors.port import (
    OcoRequest,
    OrderRequest,
    OrderState,
    OutcomeUnknown,
)
from agents.connectors.recordings import load_file, load_files
from agents.connectors.simvenue import SimVenue, SimVenueConfig
from agents.connectors.simvenue.feed import apply
from agents.router.records import ListRecords, RecordSink
from agents.router.service import RouterService
from chimera.model import ClientOrderId, Market, Side, Symbol, client_order_id_for
from sinks.redis import Keyspace, RedisClient
from tests.agents.connectors.simvenue_fixtures import make_config
from topics.trading import CancelIntent, OrderIntent, OrderResult

D = Decimal
REPO = Path(__file__).resolve().parents[3]
SPOT_FILES = [REPO / "data/nautilus/btcusdt-trades.parquet", REPO / "data/nautilus/btcusdt-quotes.parquet"]
BARS_FILE = REPO / "data/nautilus/btc-perp-20211231-20220201_1m.csv"
BTC = Symbol("BTCUSDT")
SPOT, FUT = Market.SPOT, Market.FUT


def sim_config(**overrides: Any) -> SimVenueConfig:
    balances = {"SPOT": {"USDT": "100000", "BTC": "1"}, "FUT": {"USDT": "100000"}}
    return make_config(**{"initial_balances": balances, **overrides})


def spot_events() -> list[MarketEvent]:
    """Binance BTCUSDT spot trades and best bid/ask of 2021-01-08 00:00:00-00:00:46 UTC, merged in
    event time; sizes on the venue's lot (the file stores floats)."""
    out = []
    for r in load_files(SPOT_FILES):
        assert isinstance(r, MarketEvent)
        out.append(_on_lot(r, D("0.000001")))
    return out


def fut_bar_ticks(n_bars: int) -> list[MarketEvent]:
    """The first ``n_bars`` one-minute BTC perpetual bars (2021-12-31 23:01 UTC on) as 4 ticks each."""
    ticks = itertools.islice(load_file(BARS_FILE), 4 * n_bars)
    out = []
    for r in ticks:
        assert isinstance(r, MarketEvent)
        out.append(r)
    return out


def _on_lot(ev: MarketEvent, lot: Decimal) -> MarketEvent:
    from dataclasses import replace

    def q(x: Decimal | None) -> Decimal | None:
        return None if x is None else max(x.quantize(lot), lot)

    return replace(ev, qty=q(ev.qty), bid_qty=q(ev.bid_qty), ask_qty=q(ev.ask_qty))


def intent(**fields: Any) -> OrderIntent:
    base: dict[str, Any] = {
        "intent_id": "int-test",
        "symbol": BTC,
        "market": "FUT",
        "side": "BUY",
        "qty": "0.01",
        "exec": "market",
        "ts": 0,
        "source": "strategy",
    }
    base.update(fields)
    return OrderIntent.model_validate(base)


def cancel(**fields: Any) -> CancelIntent:
    base: dict[str, Any] = {
        "intent_id": "cxl-test",
        "target_intent_id": "int-test",
        "symbol": BTC,
        "market": "FUT",
        "ts": 0,
        "source": "positions",
    }
    base.update(fields)
    return CancelIntent.model_validate(base)


def coid(intent_id: str, slice_no: int | str) -> ClientOrderId:
    return client_order_id_for(intent_id, slice_no)


class Crash(BaseException):
    """The router process dies here (not an error it could handle)."""


class RecordingVenue(SimVenue):
    """SimVenue that logs every order call in order; can lose one create's answer or crash after it.

    ``lose_answer``: these client_order_ids are created at the venue, then the caller gets
    OutcomeUnknown (the answer was lost: the only part of a timeout that cannot exist here).
    ``crash_after``: created, then the process dies before it hears the answer.
    """

    def __init__(self, config: SimVenueConfig) -> None:
        super().__init__(config)
        self.calls: list[tuple[str, str]] = []
        self.lose_answer: set[str] = set()
        self.crash_after: set[str] = set()

    async def create_order(self, req: OrderRequest) -> OrderState:
        self.calls.append(("create", req.client_order_id))
        state = await super().create_order(req)
        if req.client_order_id in self.crash_after:
            self.crash_after.discard(req.client_order_id)
            raise Crash(req.client_order_id)
        if req.client_order_id in self.lose_answer:
            raise OutcomeUnknown(f"timeout waiting for the answer to {req.client_order_id}", "timeout")
        return state

    async def create_oco(self, req: OcoRequest) -> list[OrderState]:
        self.calls.append(("create_oco", req.list_client_order_id))
        return await super().create_oco(req)

    async def cancel_order(
        self, market: Market, symbol: Symbol, client_order_id: ClientOrderId
    ) -> OrderState:
        self.calls.append(("cancel", client_order_id))
        return await super().cancel_order(market, symbol, client_order_id)

    async def fetch_order(self, market: Market, symbol: Symbol, client_order_id: ClientOrderId) -> OrderState:
        self.calls.append(("fetch", client_order_id))
        return await super().fetch_order(market, symbol, client_order_id)

    def creates(self) -> list[str]:
        return [c for kind, c in self.calls if kind in ("create", "create_oco")]

    def venue_orders(self, market: Market) -> list[str]:
        """Every order the exchange holds on a market (an OCO list id counts under its first leg)."""
        return sorted({o.req.client_order_id for (m, _), o in self.exchange.orders.items() if m is market})


@dataclass
class Desk:
    """One SimVenue + one router; ``results`` is everything published on ``ord.results``."""

    venue: RecordingVenue
    router: RouterService
    records: ListRecords
    results: list[OrderResult] = field(default_factory=list)

    async def feed(self, ev: MarketEvent) -> list[OrderResult]:
        out = []
        for sim_ev in apply(self.venue.exchange, ev):
            if isinstance(sim_ev, OrderState):
                out += await self.router.on_order(sim_ev)
        out += await self.router.on_market(ev)
        return out

    async def feed_all(self, events: Iterable[MarketEvent]) -> list[OrderResult]:
        out = []
        for ev in events:
            out += await self.feed(ev)
        return out

    async def submit(self, msg: OrderIntent | CancelIntent) -> list[OrderResult]:
        out = await self.router.submit(msg)
        # what the submission did at the venue is in its outbox: hand it over as the stream would
        for sim_ev in self.venue.exchange.drain():
            if isinstance(sim_ev, OrderState):
                out += await self.router.on_order(sim_ev)
        return out

    def of(self, client_order_id: str) -> list[OrderResult]:
        return [r for r in self.results if r.client_order_id == client_order_id]


async def make_desk(
    client: RedisClient,
    keyspace: Keyspace,
    venue: RecordingVenue | None = None,
    records: RecordSink | None = None,
    **sim: Any,
) -> Desk:
    venue = venue or RecordingVenue(sim_config(**sim))
    rec = records if records is not None else ListRecords()
    results: list[OrderResult] = []

    async def publish(r: OrderResult) -> None:
        results.append(r)

    router = RouterService(venue, client, keyspace, venue, records=rec, publish=publish)
    await router.start()
    desk = Desk(venue, router, rec if isinstance(rec, ListRecords) else ListRecords(), results)
    return desk


def until(events: list[MarketEvent], ts: int) -> Iterator[MarketEvent]:
    return (e for e in events if e.ts <= ts)


def between(events: list[MarketEvent], after: int, upto: int) -> list[MarketEvent]:
    return [e for e in events if after < e.ts <= upto]


def side(s: str) -> Side:
    return Side(s)
