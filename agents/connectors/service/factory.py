"""Wiring for live and paper mode: ccxt.pro clients → feeds → MarketDataService → BulkProducer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import partial
from typing import Any

import ccxt

from agents.connectors.replay import BulkProducer
from agents.connectors.service.ccxt_source import book_feed, exchange_pinger, mark_feed, resilient, trade_feed
from agents.connectors.service.core import CoreStats, Record, ServiceConfig
from agents.connectors.service.loop import Feed, MarketDataService, Pinger
from chimera.model import LiveClock, Market, Symbol
from chimera.settings import Settings
from topics.admin import ensure_topics
from topics.market import MARKET_TOPICS

Subscription = tuple[Market, Symbol]


async def ccxt_symbol(client: Any, symbol: Symbol) -> str:
    """Binance's id (``XRPUSDT``) → ccxt's symbol on that client (``XRP/USDT:USDT`` on USDT-M)."""
    if client.markets is None:
        await client.load_markets()
    found = client.markets_by_id.get(symbol) or []
    if not found:
        raise ValueError(f"{client.id}: no market {symbol}")
    return str(found[0]["symbol"])


async def binance_feeds(
    clients: Mapping[Market, Any], subscriptions: Sequence[Subscription], books: bool = False, depth: int = 20
) -> tuple[list[Feed], Pinger]:
    """Trades (and books) per subscription; a perpetual also gets its mark-price stream (mark
    ticks and the next funding). Each feed restarts itself after a network error."""
    feeds: list[Feed] = []

    def add(name: str, make: Callable[[], AsyncIterator[Record]]) -> None:
        feeds.append(Feed(name, resilient(make, name, (ccxt.NetworkError,))))

    for market, symbol in subscriptions:
        client, sym = clients[market], await ccxt_symbol(clients[market], symbol)
        name = f"binance.{market.value.lower()}.{symbol}"
        add(f"{name}.trades", partial(trade_feed, client, sym, market, symbol))
        if books:
            add(f"{name}.books", partial(book_feed, client, sym, market, symbol, depth))
        if market is Market.FUT:
            add(f"{name}.mark", partial(mark_feed, client, sym, symbol))
    pinger = exchange_pinger({f"binance.{m.value.lower()}": c for m, c in clients.items()})
    return feeds, pinger


async def run_live(
    settings: Settings, subscriptions: Sequence[Subscription], books: bool = False, **config: Any
) -> CoreStats:
    """S1's market data on Binance (testnet per settings) into the settings' topics, until cancelled."""
    from agents.connectors.binance.client import build_ws

    ensure_topics(
        settings.kafka_bootstrap,
        settings.topic_prefix,
        settings.topic_partitions,
        settings.topic_replication,
        names=[*MARKET_TOPICS, "metrics.events"],
    )
    clients = {m: build_ws(settings, m) for m in {m for m, _ in subscriptions}}
    producer = BulkProducer(settings.kafka_bootstrap)
    try:
        feeds, pinger = await binance_feeds(clients, subscriptions, books, settings.mkt_book_levels)
        service = MarketDataService(
            ServiceConfig.from_settings(settings, **config),
            producer.send,
            settings.topic,
            LiveClock(),
            pinger,
        )
        return await service.run(feeds)
    finally:
        producer.flush()
        for client in clients.values():
            await client.close()
