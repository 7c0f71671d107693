"""The live path end to end: a local websocket server speaks Binance's stream protocol, the real
ccxt.pro ``binance`` class subscribes to it, S1's feeds normalise what ccxt yields, and
MarketDataService publishes to the real Apache Kafka broker. Only the exchange's network is
replaced: the frames are Binance's ``trade`` messages made from 3,000 recorded XRP/ETH trades
(freqtrade's test data), stamped when the server sends them.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections import Counter
from decimal import Decimal as D
from typing import Any

import ccxt.pro as ccxt_pro
import pytest
from aiohttp import web
from binance_fixtures import raw_market_infos
from market_fixtures import DATA, batches_of, drain

from agents.connectors.replay import BulkProducer
from agents.connectors.service import MarketDataService, ServiceConfig
from agents.connectors.service.factory import binance_feeds, ccxt_symbol
from chimera.model import LiveClock, Market, Symbol
from chimera.settings import Settings
from topics.admin import ensure_topics
from topics.market import MARKET_TOPICS
from topics.ops import MetricEvent

pytestmark = pytest.mark.kafka
N = 3_000


def recorded_trades() -> list[dict[str, Any]]:
    with gzip.open(DATA / "freqtrade" / "XRP_OLD-trades.json.gz") as fh:
        trades: list[dict[str, Any]] = json.load(fh)
    return trades[:N]


class FakeBinance:
    """Answers SUBSCRIBE like Binance, then sends one ``trade`` frame per recorded trade (in
    bursts, as a busy market does). aiohttp answers the client's pings with pongs."""

    def __init__(self, trades: list[dict[str, Any]]) -> None:
        self.trades = trades
        self.subscribed: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.streams: list[asyncio.Task[None]] = []

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            req = json.loads(msg.data)
            self.subscribed += req["params"]
            await ws.send_str(json.dumps({"result": None, "id": req["id"]}))
            self.streams.append(asyncio.create_task(self.stream(ws)))
        return ws

    async def stream(self, ws: web.WebSocketResponse) -> None:
        for n, trade in enumerate(self.trades):
            info, now = trade["info"], time.time_ns() // 1_000_000
            frame = {"e": "trade", "E": now, "s": "XRPETH", "t": info["a"], "p": info["p"], "q": info["q"],
                     "T": now, "m": info["m"], "M": info["M"]}  # fmt: skip
            self.sent.append(frame)
            await ws.send_str(json.dumps(frame))
            if n % 50 == 49:
                await asyncio.sleep(0.005)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handler)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"ws://127.0.0.1:{port}"


def spot_client(base_url: str) -> Any:
    """ccxt.pro's Binance spot class with the fixture's markets plus XRP/ETH, streams on our server."""
    client = ccxt_pro.binance({"timeout_on_exit": 0})
    client.options.update({"crossMarginPairsData": [], "isolatedMarginPairsData": []})
    spot, _ = raw_market_infos()
    ltc = next(i for i in spot if i["symbol"] == "LTCUSDT")
    xrp = {**ltc, "symbol": "XRPETH", "baseAsset": "XRP", "quoteAsset": "ETH"}
    client.set_markets([client.parse_market(info) for info in [*spot, xrp]])
    for name, url in list(client.urls["api"]["ws"].items()):
        if isinstance(url, str):
            client.urls["api"]["ws"][name] = f"{base_url}/{name}/ws"
    return client


async def test_ccxt_pro_trades_reach_kafka_once_each_with_ws_rtt(
    kafka_bootstrap: str, unique_name: str
) -> None:
    prefix = f"{unique_name}."
    ensure_topics(kafka_bootstrap, prefix, 2, 1, names=[*MARKET_TOPICS, "metrics.events"])
    server = FakeBinance(recorded_trades())
    client = spot_client(await server.start())
    assert await ccxt_symbol(client, Symbol("XRPETH")) == "XRP/ETH"
    feeds, pinger = await binance_feeds({Market.SPOT: client}, [(Market.SPOT, Symbol("XRPETH"))])
    assert [f.name for f in feeds] == ["binance.spot.XRPETH.trades"]
    producer = BulkProducer(kafka_bootstrap)
    cfg = ServiceConfig(window_ms=5, timer_ms=2, metrics_interval_ms=200)
    service = MarketDataService(
        cfg, producer.send, Settings(topic_prefix=prefix).topic, LiveClock(), pinger, 50
    )
    run = asyncio.create_task(service.run(feeds))
    try:
        deadline = time.monotonic() + 30
        while service.stats.ticks_in < N and time.monotonic() < deadline and not run.done():
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # a few more ping rounds on the now quiet socket
        service.stop()
        stats = await run
    finally:
        await client.close()
        if server.runner is not None:
            await server.runner.cleanup()
    producer.flush()

    assert server.subscribed == ["xrpeth@trade"]
    assert (stats.ticks_in, stats.ticks_out, stats.dropped) == (N, N, 0)
    # each recorded trade once, exact: Binance's price and quantity strings, the taker's side
    expected = Counter((f["T"], D(f["p"]), D(f["q"]), -1 if f["m"] else 1) for f in server.sent)
    batches = batches_of(drain(kafka_bootstrap, prefix + "mkt.spot"))
    got = Counter(
        (ts, D(repr(p)), D(repr(q)), side)
        for b in batches
        for ts, p, q, side in zip(b.ts, b.price, b.qty, b.side, strict=True)
    )
    assert got == expected and len(batches) == stats.batches
    assert sorted(b.seq for b in batches) == list(range(len(batches)))

    metrics = [MetricEvent.decode(v) for _, v in drain(kafka_bootstrap, prefix + "metrics.events")]
    rtt = {(m.tags["method"], m.tags["source"], m.tags["stat"]) for m in metrics if m.name == "s1.ws_rtt"}
    assert ("ping", "binance.spot", "p50") in rtt and ("lag", "binance.spot.XRPETH.trades", "p50") in rtt
    pings = [m.value for m in metrics if m.name == "s1.ws_rtt" and m.tags["method"] == "ping"]
    lags = [m.value for m in metrics if m.name == "s1.ws_rtt" and m.tags["method"] == "lag"]
    assert all(0 <= v < 100 for v in pings) and all(0 <= v < 1_000 for v in lags)
    ticks = [m for m in metrics if m.name == "s1.mkt_throughput" and m.tags["unit"] == "ticks/s"]
    assert round(sum(m.value * 0.2 for m in ticks)) == N
    print("FIGURES", sorted(pings), sorted(lags), stats)
