"""S1 market-data core without a broker: alignment, which funding updates go out, the metric
windows, the core's record/timer/finish messages, and the ccxt.pro mark-price normaliser."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal as D

import ccxt.pro as ccxt_pro
import pytest
from binance_fixtures import raw_market_infos

from agents.connectors.marketdata import Malformed, MarketEvent
from agents.connectors.service import Feed, MarketDataCore, MarketDataService, Record, ServiceConfig
from agents.connectors.service.align import Aligner
from agents.connectors.service.ccxt_source import book_record, mark_records, trade_record
from agents.connectors.service.metrics import LatencyMeter, ThroughputMeter
from agents.connectors.service.publish import FundingGate
from chimera.model import LiveClock, Market, Side, Symbol
from topics.market import FundingEvent, MarketBatch
from topics.ops import MetricEvent

FUT, SPOT = Market.FUT, Market.SPOT
T0 = 1_700_000_000_000  # a multiple of 10 s (not of 1 h)
H = 3_600_000


def tick(ts: int, price: str = "1.5", market: Market = FUT, symbol: str = "XRPUSDT") -> MarketEvent:
    return MarketEvent(ts, symbol, market, "t", D(price), D("10"), 1)


def funding(ts: int, slot: int, rate: str) -> FundingEvent:
    return FundingEvent(symbol="XRPUSDT", funding_time=slot, rate=D(rate), ts=ts)


# ---- alignment ---------------------------------------------------------------------------------


def test_late_tick_within_tolerance_is_restamped_beyond_it_dropped() -> None:
    al = Aligner(tolerance_ms=50)
    assert al.check(tick(T0 + 100))[0] == "ok"
    verdict, ev = al.check(tick(T0 + 60, "1.6"))  # 40 ms late: jitter between streams
    assert verdict == "restamped" and ev is not None and (ev.ts, ev.price) == (T0 + 100, D("1.6"))
    assert al.check(tick(T0 + 49)) == ("dropped_late", None)  # 51 ms late: stale
    assert al.check(tick(T0 + 100))[0] == "ok"  # equal time is in order
    assert al.last_ts(FUT, "XRPUSDT") == T0 + 100
    # each (market, symbol) has its own time
    assert al.check(tick(T0, market=SPOT))[0] == "ok" and al.check(tick(T0, symbol="BTCUSDT"))[0] == "ok"
    assert (al.counts.total("restamped"), al.counts.total("dropped_late"), al.counts.total("ok")) == (1, 1, 4)


def test_a_stamp_far_past_our_clock_is_dropped_and_does_not_poison_the_symbol() -> None:
    al = Aligner(tolerance_ms=50, max_ahead_ms=1_000)
    assert al.check(tick(T0 + 10_000), received_ms=T0) == ("dropped_ahead", None)
    assert al.check(tick(T0 + 500), received_ms=T0)[0] == "ok"  # 500 ms of skew is accepted
    assert al.check(tick(T0 + 600), received_ms=None)[0] == "ok"  # replay: no receipt clock, no check


# ---- funding -----------------------------------------------------------------------------------


def test_funding_gate_publishes_settlements_and_throttles_the_predicted_rate() -> None:
    gate = FundingGate(min_interval_ms=60_000)
    slot = T0 + 8 * H
    assert gate.admit(funding(T0, slot, "0.0001"))
    assert not gate.admit(funding(T0 + 1_000, slot, "0.0001"))  # same rate: nothing new
    assert not gate.admit(funding(T0 + 2_000, slot, "0.00011"))  # changed, but 2 s later
    assert gate.admit(funding(T0 + 61_000, slot, "0.00012"))  # changed and a minute passed
    assert gate.admit(funding(T0 + 62_000, slot + 8 * H, "0.0001"))  # the next settlement: at once
    assert not gate.admit(funding(T0 + 63_000, slot, "0.0003"))  # an old settlement: stale
    assert (gate.published, gate.suppressed, gate.stale) == (3, 2, 1)


# ---- metric windows ----------------------------------------------------------------------------


def test_throughput_is_count_over_window_and_a_gap_reports_one_zero() -> None:
    meter = ThroughputMeter(interval_ms=10_000)
    start = T0 - T0 % 10_000
    meter.count(FUT, 64, start + 1)
    meter.count(FUT, 36, start + 9_999)
    meter.count(SPOT, 5, start + 5_000)
    assert meter.due(start + 9_999) == []
    first = meter.due(start + 10_000)
    values = {(m.tags["market"], m.tags["unit"]): m.value for m in first}
    assert values == {("FUT", "ticks/s"): 10.0, ("FUT", "batches/s"): 0.2, ("SPOT", "ticks/s"): 0.5,
                      ("SPOT", "batches/s"): 0.1}  # fmt: skip
    assert {m.ts for m in first} == {start + 10_000} and {m.tags["window_ms"] for m in first} == {"10000"}
    meter.count(FUT, 7, start + 10_001)
    # 50 s later: the window with 7 ticks, then one zero window for the gap, not four
    later = meter.due(start + 60_000)
    fut = {"market": "FUT", "unit": "ticks/s", "window_ms": "10000"}
    fut_ticks = [(m.ts, m.value) for m in later if m.tags == fut]
    assert fut_ticks == [(start + 20_000, 0.7), (start + 30_000, 0.0)]
    assert meter.due(start + 69_999) == []


def test_latency_meter_reports_p50_and_max_per_method_and_source() -> None:
    meter = LatencyMeter(interval_ms=1_000)
    start = T0 - T0 % 1_000
    for ms in (12.0, 3.0, 7.0, 40.0):
        meter.sample("lag", "binance.trades", ms, start + 10)
    meter.sample("ping", "binance", 21.0, start + 500)
    meter.sample("lag", "x", float("nan"), start + 600)  # not a measurement
    out = {(m.tags["method"], m.tags["source"], m.tags["stat"]): m.value for m in meter.due(start + 1_000)}
    assert out == {("lag", "binance.trades", "p50"): 7.0, ("lag", "binance.trades", "max"): 40.0,
                   ("ping", "binance", "p50"): 21.0, ("ping", "binance", "max"): 21.0}  # fmt: skip
    assert meter.due(start + 2_000) == []  # no samples: no record


# ---- the core ----------------------------------------------------------------------------------


def _topics(messages: list[tuple[str, str, bytes]]) -> list[str]:
    return [t for t, _, _ in messages]


def test_core_replay_batches_in_event_time_and_routes_every_kind() -> None:
    cfg = ServiceConfig(window_ms=100, max_ticks=3, metrics_interval_ms=1_000)
    core = MarketDataCore(cfg, "bt.r1.".__add__)
    out = []
    for ts in (T0, T0 + 10, T0 + 20, T0 + 30):  # the third tick fills a batch
        out += core.on_record(tick(ts))
    out += core.on_record(funding(T0 + 40, T0 + 8 * H, "0.0001"))
    out += core.on_record(tick(T0 + 25))  # 15 ms late: re-stamped to T0 + 30
    out += core.on_record(tick(T0 - 100))  # 130 ms late: dropped
    out += core.on_record(Malformed("f.csv", 7, "bad price", "x", "mkt.perp", T0))
    out += core.on_record(tick(T0 + 200))  # closes the open window [T0 + 30, T0 + 130)
    out += core.finish()
    assert _topics(out) == ["bt.r1.mkt.perp", "bt.r1.mkt.funding", "bt.r1.dlq.mkt.perp", "bt.r1.mkt.perp",
                            "bt.r1.mkt.perp", *["bt.r1.metrics.events"] * 4]  # fmt: skip
    batches = [MarketBatch.decode(v) for t, _, v in out if t == "bt.r1.mkt.perp"]
    assert [b.ts for b in batches] == [[T0, T0 + 10, T0 + 20], [T0 + 30, T0 + 30], [T0 + 200]]
    # replay: closed on the event clock (full at its filling tick, the window at its end)
    assert [b.closed_ts for b in batches] == [T0 + 20, T0 + 130, T0 + 200]
    assert [b.seq for b in batches] == [0, 1, 2]
    assert {k for t, k, _ in out if t.startswith("bt.r1.mkt.")} == {"XRPUSDT"}
    s = core.stats
    assert (s.ticks_in, s.ticks_out, s.batches, s.funding) == (7, 6, 3, 1)
    assert (s.dlq, s.restamped, s.dropped) == (1, 1, 1)
    metrics = [MetricEvent.decode(v) for t, _, v in out if t.endswith("metrics.events")]
    # the one window [T0, T0 + 1 s): 6 ticks in 3 batches, one re-stamped and one dropped tick
    by = {(m.name, tuple(sorted(m.tags.items()))): m.value for m in metrics}
    assert by[("s1.mkt_throughput", (("market", "FUT"), ("unit", "ticks/s"), ("window_ms", "1000")))] == 6.0
    assert by[("s1.mkt_throughput", (("market", "FUT"), ("unit", "batches/s"), ("window_ms", "1000")))] == 3.0
    ooo = sorted((m.tags["action"], m.value) for m in metrics if m.name == "s1.mkt_out_of_order")
    assert ooo == [("dropped_late", 1.0), ("restamped", 1.0)]
    assert {k for t, k, _ in out if t.endswith("metrics.events")} == {"connectors"}


def test_core_live_timer_closes_a_quiet_batch_and_measures_lag() -> None:
    core = MarketDataCore(ServiceConfig(window_ms=5, metrics_interval_ms=1_000), str)
    # received 20 ms after the venue stamped it: the lag of the feed
    assert core.on_record(tick(T0 + 1), received_ms=T0 + 21, lag_source="binance.trades") == []
    assert core.on_timer(T0 + 5) == []  # the window [T0+1, T0+6) is still open
    [(topic, key, value)] = core.on_timer(T0 + 6)  # a quiet market: the timer closes it
    batch = MarketBatch.decode(value)
    assert (topic, key, batch.ts) == ("mkt.perp", "XRPUSDT", [T0 + 1])
    assert batch.closed_ts == T0 + 6  # live: when S1 closed it, on its own clock
    core.on_ping("binance", 17.0, T0 + 30)
    start = T0 - T0 % 1_000
    metrics = [MetricEvent.decode(v) for _, _, v in core.on_timer(start + 1_000)]
    rtt = {(m.tags["method"], m.tags["stat"]): m.value for m in metrics if m.name == "s1.ws_rtt"}
    assert rtt == {("lag", "p50"): 20.0, ("lag", "max"): 20.0, ("ping", "p50"): 17.0, ("ping", "max"): 17.0}
    assert {m.kind for m in metrics if m.name == "s1.ws_rtt"} == {"timer"}


def test_config_from_settings_takes_the_batch_knobs() -> None:
    from chimera.settings import Settings

    cfg = ServiceConfig.from_settings(Settings(mkt_batch_window_ms=3, mkt_batch_max_ticks=64), tolerance_ms=9)
    assert (cfg.window_ms, cfg.max_ticks, cfg.tolerance_ms) == (3, 64, 9)


# ---- ccxt.pro normalisers ----------------------------------------------------------------------


def _usdm() -> ccxt_pro.binanceusdm:
    client = ccxt_pro.binanceusdm({"timeout_on_exit": 0})
    _, swap = raw_market_infos()
    client.set_markets([client.parse_market(info) for info in swap])
    return client


async def test_mark_price_message_gives_a_mark_tick_and_the_next_funding() -> None:
    """ccxt.pro's own parser on Binance's documented ``markPriceUpdate``, then ours."""
    client = _usdm()
    message = {"e": "markPriceUpdate", "E": 1562305380000, "s": "BTCUSDT", "p": "11794.15000000",
               "i": "11784.62659091", "P": "11784.25641265", "r": "0.00038167",
               "T": 1562306400000}  # fmt: skip
    ticker = client.parse_ws_ticker(message, "swap")
    mark, fund = mark_records(ticker, Symbol("BTCUSDT"))
    assert isinstance(fund, FundingEvent)
    assert mark == MarketEvent(1562305380000, "BTCUSDT", FUT, "m", mark=D("11794.15"))
    assert (fund.funding_time, fund.rate, fund.mark_price, fund.ts) == (
        1562306400000, D("0.00038167"), D("11794.15"), 1562305380000
    )  # fmt: skip
    await client.close()


def test_stream_dicts_become_ticks() -> None:
    trade = {"symbol": "XRPUSDT", "market": FUT, "ts": T0, "price": D("0.5"), "qty": D("3"),
             "side": Side.SELL, "trade_id": "9"}  # fmt: skip
    assert trade_record(trade) == MarketEvent(T0, "XRPUSDT", FUT, "t", D("0.5"), D("3"), -1)
    book = {"symbol": "XRPUSDT", "market": FUT, "ts": T0, "nonce": 5, "bids": [(D("0.5"), D("1"))],
            "asks": [(D("0.51"), D("2"))]}  # fmt: skip
    ev = book_record(book)
    assert (ev.kind, ev.bids, ev.asks) == ("b", ((D("0.5"), D("1")),), ((D("0.51"), D("2")),))


def test_metric_event_wire_form_is_the_contract() -> None:
    core = MarketDataCore(ServiceConfig(metrics_interval_ms=1_000), str)
    core.on_record(tick(T0))
    [*_, (topic, key, value)] = core.finish()
    assert topic == "metrics.events" and key == "connectors"
    assert json.loads(value)["name"] == "s1.mkt_throughput"


@pytest.mark.parametrize("bad", [-1])
def test_aligner_refuses_a_negative_tolerance(bad: int) -> None:
    with pytest.raises(ValueError):
        Aligner(bad)


# ---- the shell: restart, stop, a failing feed ----------------------------------------------------


async def test_resilient_restarts_a_watcher_after_a_network_error_with_backoff() -> None:
    import ccxt

    from agents.connectors.service.ccxt_source import resilient

    starts: list[int] = []
    naps: list[float] = []

    async def watcher() -> AsyncIterator[Record]:
        starts.append(len(starts))
        yield tick(T0 + len(starts))
        if len(starts) < 3:
            raise ccxt.NetworkError("socket closed")

    async def nap(seconds: float) -> None:
        naps.append(seconds)

    got = [r.ts async for r in resilient(watcher, "w", (ccxt.NetworkError,), sleep=nap)]
    assert got == [T0 + 1, T0 + 2, T0 + 3] and len(starts) == 3
    assert naps == [0.5, 0.5]  # a record after the reconnect resets the backoff


async def test_stop_flushes_and_a_failing_feed_ends_the_run() -> None:
    sent: list[str] = []

    async def endless() -> AsyncIterator[Record]:
        n = 0
        while True:
            n += 1
            yield tick(T0 + n)
            await asyncio.sleep(0.001)

    cfg = ServiceConfig(window_ms=10_000, metrics_interval_ms=60_000)
    service = MarketDataService(cfg, lambda t, k, v: sent.append(t), str, LiveClock())
    run = asyncio.create_task(service.run([Feed("endless", endless())]))
    await asyncio.sleep(0.05)
    service.stop()
    stats = await run
    assert stats.ticks_in == stats.ticks_out > 0 and "mkt.perp" in sent and "metrics.events" in sent

    async def broken() -> AsyncIterator[Record]:
        yield tick(T0)
        raise RuntimeError("feed broke")

    with pytest.raises(RuntimeError, match="feed broke"):
        await MarketDataService(cfg, lambda t, k, v: None, str, LiveClock()).run([Feed("b", broken())])
