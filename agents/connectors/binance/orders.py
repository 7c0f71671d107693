"""Order calls of BinanceVenue: create (regular, conditional, OCO), fetch, cancel, list.

Writes are sent once; an unknown outcome goes to ``outcome.resolve_unknown``. Futures conditional
orders live in Binance's algo service under ``clientAlgoId``: the ids we sent there are kept, and
an id unknown to the regular endpoint is looked up there too (orders sent before a restart).
"""

from __future__ import annotations

from dataclasses import replace

import ccxt

from agents.connectors.binance import parse
from agents.connectors.binance.core import VenueCore
from agents.connectors.binance.errors import (
    InvalidRequest,
    VenueUnavailable,
    is_unknown_outcome,
)
from agents.connectors.binance.outcome import resolve_unknown
from agents.connectors.binance.requests import oco_params, order_call
from agents.connectors.port import (
    OcoRequest,
    OrderNotFound,
    OrderRequest,
    OrderState,
    OutcomeUnknown,
    VenueError,
)
from chimera.model import ClientOrderId, Market, Symbol


class OrderMethods(VenueCore):
    async def open_orders(self, market: Market, symbol: Symbol | None = None) -> list[OrderState]:
        await self._markets()
        client = self._rest[market]
        sym = self._symbol(market, symbol) if symbol else None
        orders = await self._read("open_orders", lambda: client.fetch_open_orders(sym))
        if market is Market.FUT:
            algos = await self._read(
                "open_orders", lambda: client.fetch_open_orders(sym, None, None, {"trigger": True})
            )
            orders = [*orders, *algos]
        now = self._clock.now_ms()
        return [parse.order_state(o["info"], market, Symbol(o["info"]["symbol"]), now) for o in orders]

    # ---- orders --------------------------------------------------------------------------------
    async def create_order(self, req: OrderRequest) -> OrderState:
        await self._markets()
        inst = self._instruments.get((req.market, req.symbol))
        if inst is None:
            raise InvalidRequest(f"{req.client_order_id}: unknown {req.market} symbol {req.symbol!r}")
        call = order_call(req, self._symbol(req.market, req.symbol), inst)
        (self._algo_ids if call.algo else self._regular_ids).add(req.client_order_id)
        sent_ms = self._clock.now_ms()
        client = self._rest[req.market]
        try:
            order = await client.create_order(
                call.symbol, call.type, call.side, call.amount, call.price, call.params
            )
        except ccxt.BaseError as exc:
            if not is_unknown_outcome(exc):
                raise self._error(exc, f"create_order {req.client_order_id}") from None
            cause = str(self._error(exc, "create_order"))
            return await resolve_unknown(
                lambda: self.fetch_order(req.market, req.symbol, req.client_order_id),
                req.client_order_id,
                sent_ms,
                self._clock,
                self._sleep,
                self._policy,
                cause,
            )
        return parse.order_state(order["info"], req.market, req.symbol, sent_ms)

    async def create_oco(self, req: OcoRequest) -> list[OrderState]:
        await self._markets()
        inst = self._instruments.get((Market.SPOT, req.symbol))
        if inst is None:
            raise InvalidRequest(f"{req.list_client_order_id}: unknown SPOT symbol {req.symbol!r}")
        params = oco_params(req, req.symbol, inst)
        sent_ms = self._clock.now_ms()
        client = self._rest[Market.SPOT]
        try:
            raw = await client.privatePostOrderListOco(params)
        except ccxt.BaseError as exc:
            if not is_unknown_outcome(exc):
                raise self._error(exc, f"create_oco {req.list_client_order_id}") from None
            cause = str(self._error(exc, "create_oco"))
            legs = []
            for cid in (req.limit_client_order_id, req.stop_client_order_id):
                legs.append(
                    await resolve_unknown(
                        lambda c=cid: self.fetch_order(Market.SPOT, req.symbol, c),  # type: ignore[misc]
                        cid,
                        sent_ms,
                        self._clock,
                        self._sleep,
                        self._policy,
                        cause,
                    )
                )
            return legs
        return parse.oco_states(raw, req.symbol, sent_ms)

    async def fetch_order(self, market: Market, symbol: Symbol, client_order_id: ClientOrderId) -> OrderState:
        await self._markets()
        sym = self._symbol(market, symbol)
        if market is Market.FUT and client_order_id in self._algo_ids:
            return await self._fetch_algo(sym, symbol, client_order_id)
        client = self._rest[market]
        action = f"fetch_order {client_order_id}"
        try:
            order = await self._read(
                action, lambda: client.fetch_order_with_client_order_id(client_order_id, sym)
            )
        except OrderNotFound:
            if market is not Market.FUT or client_order_id in self._regular_ids:
                raise
            # unknown here: it may be a conditional order sent before a restart. If the algo service
            # answers with an error as well, neither knows the id: report the regular not-found
            try:
                return await self._fetch_algo(sym, symbol, client_order_id)
            except VenueError as exc:
                if isinstance(exc, OutcomeUnknown | VenueUnavailable):
                    raise
                raise OrderNotFound(
                    f"fetch_order {client_order_id}: no such order or conditional order", -2013
                ) from None
        return parse.order_state(order["info"], market, symbol, self._clock.now_ms())

    async def _fetch_algo(self, sym: str, symbol: Symbol, cid: ClientOrderId) -> OrderState:
        client = self._rest[Market.FUT]
        algo = await self._read(
            f"fetch_order {cid}", lambda: client.fetch_order_with_client_order_id(cid, sym, {"trigger": True})
        )
        raw = algo["info"]
        actual = raw.get("actualOrderId")
        if raw.get("algoStatus") in parse.ALGO_FIRED and actual not in (None, "", 0, "0"):
            # the trigger fired: the fills are on the order it placed, reported under our id
            fired = await self._read(f"fetch_order {cid}", lambda: client.fetch_order(str(actual), sym))
            state = parse.order_state(fired["info"], Market.FUT, symbol, self._clock.now_ms())
            algo_state = parse.order_state(raw, Market.FUT, symbol, state.ts)
            return replace(state, client_order_id=cid, type=algo_state.type, stop_price=algo_state.stop_price)
        return parse.order_state(raw, Market.FUT, symbol, self._clock.now_ms())

    async def cancel_order(
        self, market: Market, symbol: Symbol, client_order_id: ClientOrderId
    ) -> OrderState:
        await self._markets()
        sym = self._symbol(market, symbol)
        client = self._rest[market]
        algo = market is Market.FUT and client_order_id in self._algo_ids
        params = {"trigger": True} if algo else {}
        try:
            raw = await client.cancel_order_with_client_order_id(client_order_id, sym, params)
        except ccxt.BaseError as exc:
            err = self._error(exc, f"cancel_order {client_order_id}")
            if isinstance(err, OrderNotFound) and market is Market.FUT and not algo:
                # not a regular order: it may be a conditional one sent before a restart
                return await self._cancel_algo(sym, symbol, client_order_id)
            if is_unknown_outcome(exc):
                # a cancel is safe to verify by reading
                state = await self.fetch_order(market, symbol, client_order_id)
                if state.status.is_final:
                    return state
                raise OutcomeUnknown(f"{err}; the order is still {state.status}", err.code) from None
            raise err from None
        if algo:  # the algo cancel answers {algoId, code, msg}: read the order back
            return await self._fetch_algo(sym, symbol, client_order_id)
        return parse.order_state(raw["info"], market, symbol, self._clock.now_ms())

    async def _cancel_algo(self, sym: str, symbol: Symbol, cid: ClientOrderId) -> OrderState:
        client = self._rest[Market.FUT]
        try:
            await client.cancel_order_with_client_order_id(cid, sym, {"trigger": True})
        except ccxt.BaseError as exc:
            raise self._error(exc, f"cancel_order {cid}") from None
        self._algo_ids.add(cid)
        return await self._fetch_algo(sym, symbol, cid)
