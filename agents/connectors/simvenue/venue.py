"""SimVenue: the :class:`~agents.connectors.port.Venue` port over a :class:`SimExchange`.

Thin: each call is one synchronous call on the exchange. Market events are fed in through the
``on_*`` methods (the replay or paper feed drives time); ``watch_trades`` hands those trades on.
A refusal found while the order is placed raises :class:`OrderRejected` with Binance's code, as
Binance answers; the refused order stays visible to ``fetch_order``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

from agents.connectors.port import (
    Balance,
    FundingRate,
    Instrument,
    InsufficientBalance,
    OcoRequest,
    OrderRejected,
    OrderRequest,
    OrderState,
    Position,
    TransferResult,
    VenueError,
)
from agents.connectors.simvenue.config import SimVenueConfig
from agents.connectors.simvenue.engine import INSUFFICIENT_SPOT, SimEvent
from agents.connectors.simvenue.exchange import Levels, SimExchange
from chimera.model import ClientOrderId, Market, OrderStatus, Side, Symbol


class SimVenue:
    name = "sim"

    def __init__(self, config: SimVenueConfig) -> None:
        self.exchange = SimExchange(config)
        self._watchers: dict[tuple[Market, str], list[asyncio.Queue[dict[str, object] | None]]] = {}

    def now_ms(self) -> int:
        return self.exchange.now_ms()

    # ---- feed ----------------------------------------------------------------------------------
    def on_trade(
        self, symbol: str, market: Market, ts: int, price: Decimal, qty: Decimal, side: Side | None = None
    ) -> list[SimEvent]:
        events = self.exchange.on_trade(symbol, market, ts, price, qty, side)
        trade: dict[str, object] = {"symbol": symbol, "ts": ts, "price": price, "qty": qty, "side": side}
        for queue in self._watchers.get((market, symbol), []):
            queue.put_nowait(trade)
        return events

    def on_quote(self, symbol: str, market: Market, ts: int, bids: Levels, asks: Levels) -> list[SimEvent]:
        return self.exchange.on_quote(symbol, market, ts, bids, asks)

    def on_mark_price(self, symbol: str, ts: int, mark: Decimal) -> list[SimEvent]:
        return self.exchange.on_mark_price(symbol, ts, mark)

    def on_funding_rate(
        self, symbol: str, ts: int, rate: Decimal, funding_time: int, mark: Decimal | None = None
    ) -> list[SimEvent]:
        return self.exchange.on_funding_rate(symbol, ts, rate, funding_time, mark)

    # ---- the Venue port ------------------------------------------------------------------------
    async def load_markets(self) -> dict[tuple[Market, Symbol], Instrument]:
        return dict(self.exchange.instruments)

    async def balances(self, market: Market) -> dict[str, Balance]:
        return self.exchange.balances(market)

    async def positions(self) -> list[Position]:
        return self.exchange.positions()

    async def open_orders(self, market: Market, symbol: Symbol | None = None) -> list[OrderState]:
        return self.exchange.open_orders(market, symbol)

    async def create_order(self, req: OrderRequest) -> OrderState:
        state = self.exchange.submit(req)
        self._raise_if_rejected(state)
        return state

    async def create_oco(self, req: OcoRequest) -> list[OrderState]:
        states = self.exchange.submit_oco(req)
        for state in states:
            self._raise_if_rejected(state)
        return states

    async def cancel_order(
        self, market: Market, symbol: Symbol, client_order_id: ClientOrderId
    ) -> OrderState:
        return self.exchange.cancel(market, symbol, client_order_id)

    async def fetch_order(self, market: Market, symbol: Symbol, client_order_id: ClientOrderId) -> OrderState:
        return self.exchange.order(market, symbol, client_order_id)

    async def transfer(
        self, asset: str, amount: Decimal, from_wallet: Market, to_wallet: Market, transfer_id: str
    ) -> TransferResult:
        return self.exchange.transfer(asset, amount, from_wallet, to_wallet, transfer_id)

    async def funding_rate(self, symbol: Symbol) -> FundingRate:
        rate = self.exchange.funding.latest.get(symbol)
        if rate is None:
            raise VenueError(f"no funding rate known yet for {symbol}")
        return rate

    async def funding_history(self, symbol: Symbol, since_ms: int | None = None) -> list[FundingRate]:
        history = self.exchange.funding.history.get(symbol, {})
        return [r for t, r in sorted(history.items()) if since_ms is None or t >= since_ms]

    async def watch_trades(self, market: Market, symbol: Symbol) -> AsyncIterator[dict[str, object]]:
        queue: asyncio.Queue[dict[str, object] | None] = asyncio.Queue()
        self._watchers.setdefault((market, symbol), []).append(queue)
        while (item := await queue.get()) is not None:
            yield item

    async def close(self) -> None:
        for queues in self._watchers.values():
            for queue in queues:
                queue.put_nowait(None)
        self._watchers.clear()

    def _raise_if_rejected(self, state: OrderState) -> None:
        if state.status is OrderStatus.REJECTED:
            reason, code = self.exchange.reason(state.market, state.client_order_id)
            error = InsufficientBalance if code == -2019 or reason == INSUFFICIENT_SPOT else OrderRejected
            raise error(f"{reason} ({state.client_order_id})", code=code)
