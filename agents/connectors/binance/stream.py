"""Market data over ccxt.pro WebSockets: thin watch loops and the (tested) normalisers of their output.

ccxt.pro yields unified dicts with float prices; the normalisers take the exact decimal strings
from Binance's raw message (``info``) where ccxt keeps it, and go through ``repr`` otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any, Protocol

from chimera.model import Market, Side, Symbol, to_decimal


class TradeWatcher(Protocol):
    async def watch_trades(self, symbol: str) -> list[dict[str, Any]]: ...

    async def watch_order_book(self, symbol: str, limit: int | None = None) -> Mapping[str, Any]: ...


def _exact(info: Mapping[str, Any], keys: tuple[str, ...], fallback: object) -> Decimal:
    for key in keys:
        if info.get(key) not in (None, ""):
            return to_decimal(str(info[key]))
    return to_decimal(fallback)


def trade_event(trade: Mapping[str, Any], market: Market, symbol: Symbol) -> dict[str, object]:
    """One ccxt trade (WS ``trade``/``aggTrade`` or REST) → the event SimVenue's feed also yields.

    ``side`` is the taker's side: a buyer-maker trade is a taker SELL.
    """
    info = trade.get("info") or {}
    buyer_maker = info.get("m", info.get("isBuyerMaker"))
    if buyer_maker is None:
        buyer_maker = trade.get("side") == "sell"
    return {
        "symbol": symbol,
        "market": market,
        "ts": int(trade["timestamp"]),
        "price": _exact(info, ("p", "price"), trade["price"]),
        "qty": _exact(info, ("q", "qty"), trade["amount"]),
        "side": Side.SELL if buyer_maker else Side.BUY,
        "trade_id": str(trade["id"]),
    }


def book_event(book: Mapping[str, Any], market: Market, symbol: Symbol, depth: int = 20) -> dict[str, object]:
    """A ccxt order book → best ``depth`` levels as exact (price, qty) pairs."""

    def levels(side: str) -> list[tuple[Decimal, Decimal]]:
        return [(to_decimal(p), to_decimal(q)) for p, q, *_ in list(book.get(side) or [])[:depth]]

    return {
        "symbol": symbol,
        "market": market,
        "ts": int(book.get("timestamp") or 0),
        "nonce": book.get("nonce"),
        "bids": levels("bids"),
        "asks": levels("asks"),
    }


async def trades(
    client: TradeWatcher, ccxt_symbol: str, market: Market, symbol: Symbol
) -> AsyncIterator[dict[str, object]]:
    """Yield normalised trades forever; ccxt.pro reconnects and de-duplicates underneath."""
    while True:
        for trade in await client.watch_trades(ccxt_symbol):
            yield trade_event(trade, market, symbol)


async def books(
    client: TradeWatcher, ccxt_symbol: str, market: Market, symbol: Symbol, depth: int = 20
) -> AsyncIterator[dict[str, object]]:
    while True:
        yield book_event(await client.watch_order_book(ccxt_symbol), market, symbol, depth)
