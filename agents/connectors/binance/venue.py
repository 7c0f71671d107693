"""BinanceVenue: the venue port over ccxt's real Binance classes (spot + USDT-M perpetuals).

Thin shell: translation and parsing live in ``requests``/``parse*`` (pure), unknown-outcome
resolution in ``outcome``, order calls in ``orders``, shared plumbing in ``core``. Reads retry on
transport errors; writes never do. Keys come from ``Settings`` as SecretStr and appear in no
repr, message or record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt

from agents.connectors.binance import parse_account, stream
from agents.connectors.binance.client import build_ws
from agents.connectors.binance.errors import (
    InvalidRequest,
)
from agents.connectors.binance.orders import OrderMethods
from agents.connectors.binance.requests import plain
from agents.connectors.port import (
    Balance,
    FundingRate,
    Position,
    TransferResult,
)
from chimera.model import Market, Symbol


class BinanceVenue(OrderMethods):
    """The Venue port on Binance; see the package README for the call-by-call map."""

    async def balances(self, market: Market) -> dict[str, Balance]:
        raw = await self._read(f"balances {market}", lambda: self._rest[market].fetch_balance())
        if market is Market.SPOT:
            return parse_account.spot_balances(raw["info"])
        return parse_account.futures_balances(raw["info"])

    async def positions(self) -> list[Position]:
        client = self._rest[Market.FUT]
        rows = await self._read("positions", lambda: client.fapiPrivateV3GetPositionRisk())
        return parse_account.positions(rows)

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
