"""Normalising what ccxt.pro's watch_trades / watch_order_book yield (the sockets need a network)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from decimal import Decimal as D
from typing import Any

import ccxt.pro as ccxt_pro
from binance_fixtures import SHARED_CCXT, raw_market_infos, static_case

from agents.connectors.binance import stream
from chimera.model import Market, Side, Symbol

FREQTRADE_TRADES = SHARED_CCXT.parent / "freqtrade" / "XRP_OLD-trades.json.gz"


def recorded_trades() -> list[dict[str, Any]]:
    with gzip.open(FREQTRADE_TRADES) as fh:
        trades: list[dict[str, Any]] = json.load(fh)
    return trades


def test_recorded_ccxt_trades_normalise_to_exact_decimals() -> None:
    """12,477 real Binance XRP/ETH aggTrades as ccxt returned them (freqtrade's test data)."""
    trades = recorded_trades()
    events = [stream.trade_event(t, Market.SPOT, Symbol("XRPETH")) for t in trades]
    assert len(events) == 12_477
    for trade, event in zip(trades, events, strict=True):
        assert event["price"] == D(trade["info"]["p"]) and event["qty"] == D(trade["info"]["q"])
        assert event["side"] is (Side.SELL if trade["info"]["m"] else Side.BUY)
        assert event["ts"] == trade["timestamp"] and event["trade_id"] == trade["id"]
    first = events[0]
    assert (first["price"], first["qty"], first["side"]) == (D("0.00141342"), D("23"), Side.SELL)
    # the float ccxt also carries would not always give the same Decimal: the raw string wins
    assert all(isinstance(e["price"], D) for e in events)


def test_recorded_rest_trade_matches_ccxt_side() -> None:
    case = static_case("response", "fetchTrades", "public spot trades")
    (parsed,) = case["parsedResponse"]
    event = stream.trade_event(parsed, Market.SPOT, Symbol("BTCUSDT"))
    assert (event["price"], event["qty"], event["side"]) == (D("73238.7"), D("0.00109"), Side.BUY)
    assert str(event["side"]).lower() == parsed["side"]


async def test_ccxt_pro_parses_a_binance_trade_message_we_normalise() -> None:
    """The WS path: ccxt.pro's own parser on Binance's documented ``trade`` message, then ours."""
    client = ccxt_pro.binance({"timeout_on_exit": 0})
    client.options.update({"crossMarginPairsData": [], "isolatedMarginPairsData": []})
    spot, _ = raw_market_infos()
    client.set_markets([client.parse_market(info) for info in spot])
    message = {
        "e": "trade",
        "E": 1672515782136,
        "s": "LTCUSDT",
        "t": 12345,
        "p": "71.23000000",
        "q": "0.50000000",
        "T": 1672515782136,
        "m": True,
        "M": True,
    }
    trade = client.parse_ws_trade(message, client.market("LTC/USDT"))
    event = stream.trade_event(trade, Market.SPOT, Symbol("LTCUSDT"))
    assert event == {
        "symbol": "LTCUSDT",
        "market": Market.SPOT,
        "ts": 1672515782136,
        "price": D("71.23"),
        "qty": D("0.5"),
        "side": Side.SELL,
        "trade_id": "12345",
    }
    await client.close()


def test_recorded_order_books_normalise_to_the_raw_levels() -> None:
    for description, market, symbol in (
        ("spot orderbook", Market.SPOT, "BTCUSDT"),
        ("swap orderbook", Market.FUT, "BTCUSDT"),
    ):
        case = static_case("response", "fetchOrderBook", description)
        event = stream.book_event(case["parsedResponse"], market, Symbol(symbol))
        raw = case["httpResponse"]
        for side in ("bids", "asks"):
            assert event[side] == [(D(p), D(q)) for p, q in raw[side]]
        assert event["nonce"] == int(raw["lastUpdateId"])


class OneShotWatcher:
    def __init__(self, batches: list[list[dict[str, Any]]]) -> None:
        self.batches = batches

    async def watch_trades(self, symbol: str) -> list[dict[str, Any]]:
        return self.batches.pop(0)

    async def watch_order_book(self, symbol: str, limit: int | None = None) -> Mapping[str, Any]:
        return static_case("response", "fetchOrderBook", "spot orderbook")["parsedResponse"]


async def test_watch_loops_yield_normalised_events_in_order() -> None:
    trades = recorded_trades()[:5]
    watcher = OneShotWatcher([trades[:2], trades[2:5]])
    seen = []
    async for event in stream.trades(watcher, "XRP/ETH", Market.SPOT, Symbol("XRPETH")):
        seen.append(event["trade_id"])
        if len(seen) == 5:
            break
    assert seen == [t["id"] for t in trades]
    books = stream.books(watcher, "BTC/USDT", Market.SPOT, Symbol("BTCUSDT"), depth=1)
    book = await books.__anext__()
    assert book["bids"] == [(D("42574.3"), D("0.0107"))] and book["asks"] == [(D("42574.31"), D("0.0087"))]
