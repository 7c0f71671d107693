"""BinanceVenue: the venue port over ccxt's real Binance classes (spot + USDT-M perpetuals).

Thin shell: translation and parsing live in ``requests``/``parse*`` (pure), unknown-outcome
resolution in ``outcome``. Reads retry on transport errors; writes never do — an order send whose
outcome is unknown is resolved by fetching the order by client id (see ``outcome``). Keys come
from ``Settings`` as SecretStr and appear in no repr, message or record.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

import ccxt

from agents.connectors.binance import parse, parse_account, stream
from agents.connectors.binance.client import build_rest, build_ws
from agents.connectors.binance.errors import (
    InvalidRequest,
    VenueUnavailable,
    is_unknown_outcome,
    to_port_error,
)
from agents.connectors.binance.outcome import ResolvePolicy, Sleep, resolve_unknown
from agents.connectors.binance.requests import oco_params, order_call, plain
from agents.connectors.binance.transfers import TransferBook
from agents.connectors.port import (
    Balance,
    FundingRate,
    Instrument,
    OcoRequest,
    OrderNotFound,
    OrderRequest,
    OrderState,
    OutcomeUnknown,
    Position,
    TransferResult,
    VenueError,
)
from chimera.model import ClientOrderId, Clock, LiveClock, Market, Symbol
from chimera.settings import Settings

T = TypeVar("T")


class BinanceVenue:
    name = "binance"

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        session: Any | None = None,
        read_attempts: int = 3,
        policy: ResolvePolicy | None = None,
        ccxt_overrides: dict[str, Any] | None = None,
    ) -> None:
        self._settings = settings
        self._secrets = (
            settings.binance_api_key.get_secret_value(),
            settings.binance_api_secret.get_secret_value(),
        )
        self._clock = clock or LiveClock()
        self._sleep = sleep
        self._read_attempts = read_attempts
        self._rest = {m: build_rest(settings, m, session, ccxt_overrides) for m in Market}
        recv_window = int(self._rest[Market.FUT].options.get("recvWindow") or 10_000)
        self._policy = policy or ResolvePolicy(recv_window_ms=recv_window)
        self._ws: dict[Market, Any] = {}
        self._instruments: dict[tuple[Market, Symbol], Instrument] = {}
        self._ccxt_symbols: dict[tuple[Market, Symbol], str] = {}
        self._algo_ids: set[str] = set()  # client ids sent to the futures algo service
        self._regular_ids: set[str] = set()  # client ids sent as regular futures orders
        self._transfers = TransferBook(self._rest[Market.SPOT], self._clock, self._policy)

    def __repr__(self) -> str:
        env = "demo" if self._settings.binance_testnet else "live"
        return f"BinanceVenue(env={env}, api_key=***)"

    __str__ = __repr__

    # ---- plumbing ------------------------------------------------------------------------------
    def _error(self, exc: BaseException, action: str) -> VenueError:
        return to_port_error(exc, action, *self._secrets)

    async def _read(self, action: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent read, retrying transport errors with a growing pause."""
        for attempt in range(self._read_attempts):
            try:
                return await call()
            except ccxt.NetworkError as exc:
                if attempt + 1 == self._read_attempts:
                    raise VenueUnavailable(f"{action}: venue unreachable after {attempt + 1} tries") from None
                del exc
                await self._sleep(0.5 * (attempt + 1))
            except ccxt.BaseError as exc:
                raise self._error(exc, action) from None
        raise AssertionError("unreachable")

    async def _markets(self) -> None:
        if not self._instruments:
            await self.load_markets()

    def _symbol(self, market: Market, symbol: Symbol) -> str:
        try:
            return self._ccxt_symbols[(market, symbol)]
        except KeyError:
            raise InvalidRequest(f"unknown {market} symbol {symbol!r}") from None

    # ---- markets and account -------------------------------------------------------------------
    async def load_markets(self) -> dict[tuple[Market, Symbol], Instrument]:
        instruments: dict[tuple[Market, Symbol], Instrument] = {}
        for market, client in self._rest.items():
            markets = await self._read("load_markets", lambda c=client: c.load_markets())  # type: ignore[misc]
            for m in markets.values():
                # spot pairs, and USDT-M *perpetuals* only (dated linear futures are left out)
                if (market is Market.SPOT and m.get("spot")) or (market is Market.FUT and m.get("swap")):
                    inst = parse_account.instrument(m, market)
                    instruments[(market, inst.symbol)] = inst
                    self._ccxt_symbols[(market, inst.symbol)] = m["symbol"]
        self._instruments = instruments
        return dict(instruments)

    async def balances(self, market: Market) -> dict[str, Balance]:
        raw = await self._read(f"balances {market}", lambda: self._rest[market].fetch_balance())
        if market is Market.SPOT:
            return parse_account.spot_balances(raw["info"])
        return parse_account.futures_balances(raw["info"])

    async def positions(self) -> list[Position]:
        client = self._rest[Market.FUT]
        rows = await self._read("positions", lambda: client.fapiPrivateV3GetPositionRisk())
        return parse_account.positions(rows)

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

    # ---- wallets and funding -------------------------------------------------------------------
    async def transfer(
        self, asset: str, amount: Decimal, from_wallet: Market, to_wallet: Market, transfer_id: str
    ) -> TransferResult:
        if amount <= 0 or from_wallet is to_wallet:
            raise InvalidRequest(f"{transfer_id}: transfer needs a positive amount between two wallets")
        try:
            return await self._transfers.transfer(asset, plain(amount), from_wallet, to_wallet, transfer_id)
        except ccxt.BaseError as exc:
            raise self._error(exc, f"transfer {transfer_id}") from None

    async def funding_rate(self, symbol: Symbol) -> FundingRate:
        await self._markets()
        client, sym = self._rest[Market.FUT], self._symbol(Market.FUT, symbol)
        raw = await self._read(f"funding_rate {symbol}", lambda: client.fetch_funding_rate(sym))
        return parse_account.funding_now(raw["info"])

    async def funding_history(self, symbol: Symbol, since_ms: int | None = None) -> list[FundingRate]:
        await self._markets()
        client, sym = self._rest[Market.FUT], self._symbol(Market.FUT, symbol)
        rows = await self._read(
            f"funding_history {symbol}", lambda: client.fetch_funding_rate_history(sym, since_ms)
        )
        return sorted((parse_account.funding_past(r["info"]) for r in rows), key=lambda f: f.funding_time)

    # ---- market data ---------------------------------------------------------------------------
    def _ws_client(self, market: Market) -> Any:
        if market not in self._ws:
            self._ws[market] = build_ws(self._settings, market)
        return self._ws[market]

    async def watch_trades(self, market: Market, symbol: Symbol) -> AsyncIterator[dict[str, object]]:
        await self._markets()
        async for event in stream.trades(
            self._ws_client(market), self._symbol(market, symbol), market, symbol
        ):
            yield event

    async def watch_order_book(
        self, market: Market, symbol: Symbol, depth: int = 20
    ) -> AsyncIterator[dict[str, object]]:
        await self._markets()
        client = self._ws_client(market)
        async for event in stream.books(client, self._symbol(market, symbol), market, symbol, depth):
            yield event

    async def close(self) -> None:
        for client in [*self._rest.values(), *self._ws.values()]:
            await client.close()
        self._ws.clear()
