"""ccxt.pro watchers as feeds of normalised records, and the websocket ping probe.

Trades and books go through the normalisers of ``agents.connectors.binance.stream`` (exact
Decimals from Binance's raw strings) and become :class:`MarketEvent` here. The mark-price stream
(``watch_mark_price``, Binance ``<sym>@markPrice``: ``E`` event time, ``p`` mark, ``r`` the rate
of the settlement at ``T``) gives a mark tick and a funding update per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from agents.connectors.binance import stream
from agents.connectors.marketdata import MarketEvent
from agents.connectors.service.core import Record
from agents.connectors.service.loop import Pinger
from chimera.model import Clock, LiveClock, Market, Side, Symbol, to_decimal
from topics.market import FundingEvent

log = logging.getLogger(__name__)


def trade_record(event: Mapping[str, Any]) -> MarketEvent:
    """A ``stream.trade_event`` dict → a trade tick (``side``: the taker's, +1 buy / -1 sell)."""
    side = event["side"]
    return MarketEvent(
        ts=int(event["ts"]),
        symbol=str(event["symbol"]),
        market=Market(event["market"]),
        kind="t",
        price=to_decimal(event["price"]),
        qty=to_decimal(event["qty"]),
        side=1 if side is Side.BUY else -1 if side is Side.SELL else 0,
    )


def book_record(event: Mapping[str, Any]) -> MarketEvent:
    """A ``stream.book_event`` dict → a book tick (levels best first)."""
    return MarketEvent(
        ts=int(event["ts"]),
        symbol=str(event["symbol"]),
        market=Market(event["market"]),
        kind="b",
        bids=tuple(event["bids"]),
        asks=tuple(event["asks"]),
    )


def mark_records(ticker: Mapping[str, Any], symbol: Symbol) -> list[Record]:
    """A ccxt.pro mark-price ticker → a mark tick and the funding update it carries (raw strings)."""
    info = ticker.get("info") or {}
    ts = int(info.get("E") or ticker["timestamp"])
    mark = to_decimal(str(info["p"])) if info.get("p") not in (None, "") else to_decimal(ticker["markPrice"])
    out: list[Record] = [MarketEvent(ts=ts, symbol=symbol, market=Market.FUT, kind="m", mark=mark)]
    if info.get("r") not in (None, "") and info.get("T"):
        rate = to_decimal(str(info["r"]))
        out.append(
            FundingEvent(symbol=symbol, funding_time=int(info["T"]), rate=rate, mark_price=mark, ts=ts)
        )
    return out


async def trade_feed(client: Any, ccxt_symbol: str, market: Market, symbol: Symbol) -> AsyncIterator[Record]:
    async for event in stream.trades(client, ccxt_symbol, market, symbol):
        yield trade_record(event)


async def book_feed(
    client: Any, ccxt_symbol: str, market: Market, symbol: Symbol, depth: int = 20
) -> AsyncIterator[Record]:
    async for event in stream.books(client, ccxt_symbol, market, symbol, depth):
        yield book_record(event)


async def mark_feed(client: Any, ccxt_symbol: str, symbol: Symbol) -> AsyncIterator[Record]:
    while True:
        for record in mark_records(await client.watch_mark_price(ccxt_symbol), symbol):
            yield record


async def resilient(
    make: Callable[[], AsyncIterator[Record]],
    name: str,
    retry_on: tuple[type[BaseException], ...],
    sleep: Callable[[float], Any] = asyncio.sleep,
    max_backoff_s: float = 30.0,
) -> AsyncIterator[Record]:
    """Restart a watcher after a network error with exponential backoff (ccxt.pro raises from a
    ``watch_*`` call when the socket drops; the next call reconnects). The aligner drops any
    frame the reconnect hands back from before what was already published."""
    backoff = 0.5
    while True:
        try:
            async for record in make():
                backoff = 0.5
                yield record
            return
        except retry_on as exc:
            log.warning("%s: %s; reconnecting in %.1f s", name, exc, backoff)
            await sleep(backoff)
            backoff = min(backoff * 2, max_backoff_s)


async def ping_rtt(client: Any, clock: Clock | None = None, timeout_s: float = 5.0) -> float | None:
    """One websocket control-frame ping on a connected ccxt.pro ``Client``; the round trip in ms.

    ccxt's receive loop sets ``client.lastPong`` (wall-clock ms, ``Exchange.milliseconds()``) when
    a pong arrives; we wait for it to pass the send time. None when the socket is closed or no
    pong came within ``timeout_s``. Resolution: 1 ms (ccxt's stamp).
    """
    clock = clock or LiveClock()
    if client.connection is None or client.closed():
        return None
    before = client.lastPong
    if before is not None and before >= clock.now_ms():
        await asyncio.sleep(0.002)  # a pong in the send's own ms would be taken for this one's
    sent = clock.now_ms()
    await client.connection.ping()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        pong = client.lastPong
        if pong is not None and pong != before and pong >= sent:
            return float(pong - sent)
        await asyncio.sleep(0.0005)
    return None


def exchange_pinger(exchanges: Mapping[str, Any], clock: Clock | None = None) -> Pinger:
    """A :data:`Pinger` over ccxt.pro exchanges: every connected socket of each, named
    ``<name>`` (or ``<name>#<n>`` when an exchange holds several sockets)."""

    async def probe() -> dict[str, float]:
        out: dict[str, float] = {}
        for name, exchange in exchanges.items():
            clients = [c for c in (getattr(exchange, "clients", None) or {}).values() if not c.closed()]
            for n, client in enumerate(clients):
                rtt = await ping_rtt(client, clock)
                if rtt is not None:
                    out[name if len(clients) == 1 else f"{name}#{n}"] = rtt
        return out

    return probe
