"""The shared core of BinanceVenue: the ccxt clients, the instrument index, retried reads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import ccxt

from agents.connectors.binance import parse_account
from agents.connectors.binance.client import build_rest
from agents.connectors.binance.errors import (
    InvalidRequest,
    VenueUnavailable,
    to_port_error,
)
from agents.connectors.binance.outcome import ResolvePolicy, Sleep
from agents.connectors.binance.transfers import TransferBook
from agents.connectors.port import (
    Instrument,
    VenueError,
)
from chimera.model import Clock, LiveClock, Market, Symbol
from chimera.settings import Settings

T = TypeVar("T")


class VenueCore:
    """Clients, markets and the read/error plumbing every call shares."""

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
