"""MarketDataService on the real Apache Kafka broker.

A fake async source of recorded events stands in for the websocket (the live exchange network is
the one thing not here): the real XRP perpetual week (freqtrade's 5m candles, 8h mark and
funding files) in replay mode, and a live-clock feed plus a real local websocket server that a
real ccxt.pro client pings for ``s1.ws_rtt``.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import replace
from decimal import Decimal as D

import ccxt.pro as ccxt_pro
import pytest
from aiohttp import web
from market_fixtures import DATA, batches_of, drain

from agents.connectors.marketdata import MarketEvent
from agents.connectors.recordings import load_files
from agents.connectors.replay import BulkProducer
from agents.connectors.service import Feed, MarketDataService, Record, ServiceConfig
from agents.connectors.service.ccxt_source import exchange_pinger
from chimera.model import LiveClock, Market
from chimera.settings import Settings
from topics.admin import ensure_topics
from topics.market import MARKET_TOPICS, FundingEvent
from topics.ops import MetricEvent

pytestmark = pytest.mark.kafka

XRP = DATA / "freqtrade"
XRP_FILES = [
    XRP / "XRP_USDT_USDT-5m-futures.feather",
    XRP / "XRP_USDT_USDT-8h-mark.feather",
    XRP / "XRP_USDT_USDT-8h-funding_rate.feather",
]
HOUR = 3_600_000
# a replay: 15 min windows of at most 8 ticks (three 5m bars are 12 ticks: both closes happen),
# a late tick up to a minute is re-stamped, metrics per hour of event time
REPLAY = ServiceConfig(window_ms=900_000, max_ticks=8, tolerance_ms=60_000, metrics_interval_ms=HOUR)
LATE, STALE = D("9.9999"), D("8.8888")  # prices that mark the injected ticks


def _prefix(unique_name: str, kafka_bootstrap: str) -> str:
    prefix = f"{unique_name}."
    ensure_topics(kafka_bootstrap, prefix, 2, 1, names=[*MARKET_TOPICS, "metrics.events"])
    return prefix


def with_out_of_order(records: Iterable[Record], at: int) -> Iterator[Record]:
    """The records, plus after the ``at``-th tick: one 30 s late (re-stamped) and one 10 min late
    (dropped), as a reconnect or a second stream would hand them back."""
    n = 0
    for record in records:
        yield record
        if isinstance(record, MarketEvent):
            n += 1
            if n == at:
                yield replace(record, ts=record.ts - 30_000, price=LATE)
                yield replace(record, ts=record.ts - 600_000, price=STALE)


async def websocket(records: Iterable[Record]) -> AsyncIterator[Record]:
    """A fake websocket: the records in order, handing the loop back now and then."""
    for n, record in enumerate(records):
        yield record
        if n % 256 == 0:
            await asyncio.sleep(0)


def _tick_key(ts: int, kind: str, price: float, mark: float) -> tuple[int, str, float]:
    return ts, kind, mark if kind == "m" else price


async def test_xrp_week_every_tick_in_one_batch_in_order_funding_and_metrics(
    kafka_bootstrap: str, unique_name: str
) -> None:
    prefix = _prefix(unique_name, kafka_bootstrap)
    records = list(with_out_of_order(load_files(XRP_FILES), at=1_000))
    producer = BulkProducer(kafka_bootstrap)
    service = MarketDataService(REPLAY, producer.send, Settings(topic_prefix=prefix).topic)
    stats = await service.run([Feed("xrp-week", websocket(records), live=False)])
    producer.flush()

    ticks = [r for r in records if isinstance(r, MarketEvent)]
    funding = [r for r in records if isinstance(r, FundingEvent)]
    assert (len(ticks), len(funding)) == (7_996 + 364 + 2, 91)
    assert (stats.ticks_in, stats.ticks_out, stats.restamped, stats.dropped) == (8_362, 8_361, 1, 1)

    # every tick is in exactly one batch: the multiset of ticks on the wire is the input's, with
    # the late tick at its symbol's last time and the stale one gone
    messages = drain(kafka_bootstrap, prefix + "mkt.perp")
    assert {key for key, _ in messages} == {"XRPUSDT"}
    batches = sorted(batches_of(messages), key=lambda b: b.seq)
    assert len(batches) == stats.batches and [b.seq for b in batches] == list(range(len(batches)))
    late_at = next(r for r in records if isinstance(r, MarketEvent) and r.price == LATE).ts + 30_000
    expected = Counter(
        _tick_key(
            late_at if t.price == LATE else t.ts, t.kind, float(t.price or "nan"), float(t.mark or "nan")
        )
        for t in ticks
        if t.price != STALE
    )
    got = Counter(
        _tick_key(ts, kind, price, mark)
        for b in batches
        for ts, kind, price, mark in zip(b.ts, b.kind, b.price, b.column("mark"), strict=True)
    )
    assert got == expected and sum(got.values()) == 8_361
    assert drain(kafka_bootstrap, prefix + "mkt.spot") == []  # a perpetual: no spot ticks
    # event time never goes back: inside a batch (the schema checks) and from batch to batch
    assert all(a.last_ts <= b.first_ts for a, b in itertools.pairwise(batches))
    assert all(len(b) <= REPLAY.max_ticks for b in batches)
    assert any(len(b) == REPLAY.max_ticks for b in batches) and any(
        len(b) < REPLAY.max_ticks for b in batches
    )

    # funding: each settlement once, exactly as recorded
    wire = [FundingEvent.decode(v) for _, v in drain(kafka_bootstrap, prefix + "mkt.funding")]
    assert sorted(wire, key=lambda f: f.funding_time) == funding

    # metrics, keyed by service, in event time
    metric_msgs = drain(kafka_bootstrap, prefix + "metrics.events")
    assert {key for key, _ in metric_msgs} == {"connectors"}
    metrics = [MetricEvent.decode(v) for _, v in metric_msgs]
    assert len(metrics) == stats.metrics
    assert all(m.ts % HOUR == 0 for m in metrics)
    tput = [m for m in metrics if m.name == "s1.mkt_throughput"]
    assert {(m.tags["market"], m.tags["window_ms"]) for m in tput} == {("FUT", str(HOUR))}
    per_window = {
        u: [m.value * HOUR / 1000 for m in tput if m.tags["unit"] == u] for u in ("ticks/s", "batches/s")
    }
    # throughput = count / window: the counts are whole and add up to what was published
    for unit, total in (("ticks/s", stats.ticks_out), ("batches/s", stats.batches)):
        counts = per_window[unit]
        assert all(abs(c - round(c)) < 1e-6 for c in counts)
        assert round(sum(counts)) == total
    # plausible: in the candle week an hour is twelve 5m bars of 4 ticks
    last_candle = max(t.ts for t in ticks if t.kind == "k")
    week = [m.value for m in tput if m.tags["unit"] == "ticks/s" and m.ts <= last_candle]
    assert len(week) >= 6 * 24
    assert statistics.median(week) == pytest.approx(48 / 3_600)
    assert max(week) * 3_600 <= 48 + 2 * REPLAY.max_ticks
    ooo = sorted((m.tags["action"], m.value) for m in metrics if m.name == "s1.mkt_out_of_order")
    assert ooo == [("dropped_late", 1.0), ("restamped", 1.0)]
    assert not [m for m in metrics if m.name == "s1.ws_rtt"]  # a replay has no receipt clock


async def _local_websocket() -> tuple[web.AppRunner, str]:
    """A real websocket server on localhost (aiohttp answers pings with pongs, as Binance does)."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"ws://127.0.0.1:{port}/ws"


async def test_live_timer_closes_quiet_batches_and_ws_rtt_lands_on_metrics_events(
    kafka_bootstrap: str, unique_name: str
) -> None:
    prefix = _prefix(unique_name, kafka_bootstrap)
    clock = LiveClock()
    runner, url = await _local_websocket()
    exchange = ccxt_pro.binance({"timeout_on_exit": 0})
    client = exchange.client(url)
    await client.connect(exchange.session)
    producer = BulkProducer(kafka_bootstrap)
    sent: list[tuple[float, str, bytes]] = []

    def send(topic: str, key: str, value: bytes) -> None:
        sent.append((time.monotonic(), topic, value))
        producer.send(topic, key, value)

    emitted: list[float] = []

    async def feed() -> AsyncIterator[Record]:
        """Trades stamped 20 ms before receipt (the venue's delay), one every 25 ms: a quiet market
        for the 5 ms window, so only the timer can close each batch before the next trade."""
        for n in range(40):
            emitted.append(time.monotonic())
            yield MarketEvent(clock.now_ms() - 20, "XRPUSDT", Market.FUT, "t", D("0.5") + n, D("1"), 1)
            await asyncio.sleep(0.025)

    cfg = ServiceConfig(window_ms=5, timer_ms=2, metrics_interval_ms=250)
    service = MarketDataService(
        cfg, send, Settings(topic_prefix=prefix).topic, clock, exchange_pinger({"local": exchange}), 100
    )
    try:
        stats = await service.run([Feed("binance.trades", feed())])
    finally:
        await exchange.close()
        await runner.cleanup()
    producer.flush()

    # each trade went out in its own batch, closed by the timer before the next trade came
    batch_sends = [t for t, topic, _ in sent if topic == prefix + "mkt.perp"]
    assert stats.batches == 40 == len(batch_sends)
    for n in range(39):
        assert emitted[n] < batch_sends[n] < emitted[n + 1]
    delays = [s - e for s, e in zip(batch_sends, emitted, strict=True)]
    assert statistics.median(delays) < 0.05  # window 5 ms + timer 2 ms, on a loaded test machine
    assert [len(b) for b in batches_of(drain(kafka_bootstrap, prefix + "mkt.perp"))] == [1] * 40

    metrics = [MetricEvent.decode(v) for _, v in drain(kafka_bootstrap, prefix + "metrics.events")]
    rtt = [m for m in metrics if m.name == "s1.ws_rtt"]
    lag = [m.value for m in rtt if m.tags == {"method": "lag", "source": "binance.trades", "stat": "p50"}]
    ping = [m.value for m in rtt if m.tags == {"method": "ping", "source": "local", "stat": "p50"}]
    assert lag and all(20 <= v <= 40 for v in lag)  # 20 ms of venue delay, plus the loop's
    assert ping and all(0 <= v < 50 for v in ping)  # localhost round trip, 1 ms resolution
    assert {m.kind for m in rtt} == {"timer"}
    tput = [m for m in metrics if m.name == "s1.mkt_throughput" and m.tags["unit"] == "ticks/s"]
    assert round(sum(m.value * 0.25 for m in tput)) == 40
    assert 0 < max(m.value for m in tput) <= 1 / 0.025 * 1.5  # about 40 trades/s
