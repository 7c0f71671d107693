"""When things happen in a run: a bar's decision trades when S1's live batch timer closes the batch
holding the next bar's first tick (at the price of that tick, the venue's clock moved to the
timer), TWAP slices go at their own due times even between recorded ticks, and the daily regime
is published from the days before only."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
from conftest import RunFactory
from engine_kit import BTC_START, btc, bundle

from agents.connectors.marketdata import MarketEvent
from agents.engine.regime import RegimeClock
from agents.features.config import RegimeConfig
from agents.features.regime import DAY_MS
from agents.features.regime_job import regime_record
from chimera.model import Side, round_to_step
from sinks.redis import Keyspace, RedisClient
from topics.trading import OrderIntent

D = Decimal
WINDOW = 100


def next_open(records: list[object], t0: int) -> MarketEvent:
    """The first tick at or after a bar's close: the next bar's open."""
    return next(r for r in records if isinstance(r, MarketEvent) and r.ts >= t0)


async def test_a_decision_trades_when_the_batch_timer_closes_the_bar(run: RunFactory) -> None:
    records = btc(days=0.25)
    done = await run(records, bundle(), regime="NORMAL", batch_window_ms=WINDOW)
    res = done.result
    opens = [d for d in res.decisions if d.action == "open"]
    assert len(opens) > 5
    for d in opens:
        (entry,) = [r for r in res.orders if r.signal_id == d.signal_id and r.fills and not r.reduce_only]
        (fill,) = entry.fills
        # the batch holding the close tick (t0 - 1 ms) and the next open (t0) closes at t0 - 1 + window
        assert fill.ts == d.ts - 1 + WINDOW
        last = next_open(records, d.ts).price
        assert last is not None
        # SimVenue takes a market order with no book at the last trade +/- 5 bps, to the tick
        want = last * D("1.0005") if d.side is Side.BUY else last * D("0.9995")
        assert fill.price == round_to_step(want, D("0.1"), "up" if d.side is Side.BUY else "down")


async def test_twap_slices_go_at_their_due_times_between_ticks(run: RunFactory) -> None:
    b = bundle(exec={"fut_style": "twap", "twap_slices": 4, "twap_interval_ms": 20_000})
    done = await run(btc(days=0.25), b, regime="NORMAL", batch_window_ms=WINDOW)
    res = done.result
    twaps = [i for i in res.intents if isinstance(i, OrderIntent) and i.exec == "twap"]
    assert len(twaps) > 5
    for intent in twaps:
        fills = sorted(
            (int(r.client_order_id.rsplit("-", 1)[1]), f.ts)
            for r in res.orders
            if r.intent_id == intent.intent_id
            for f in r.fills
        )
        assert [k for k, _ in fills] == [0, 1, 2, 3]
        sent = intent.ts - 1 + WINDOW  # slice 0 goes with the intent, when the batch timer fires
        # bar ticks sit at +0, +15 s, +30 s, +59.999 s: the slices due at +20 s and +40 s fall between
        assert [ts for _, ts in fills] == [max(sent, intent.ts + k * 20_000) for k in range(4)]
    assert res.counts.timers > res.counts.batches  # batch timers, plus the slices between ticks
    assert res.final is not None and res.final.positions == []  # flattened at the end, as always


async def test_the_regime_is_published_once_a_day_from_the_days_before(
    redis: RedisClient, unique_name: str
) -> None:
    ks = Keyspace(f"{unique_name}.")
    cfg = RegimeConfig(lookback_days=30, min_history=5)
    clock = RegimeClock(redis, ks, "BTCUSDT", cfg)
    rng = np.random.default_rng(7)
    t0s = BTC_START + 60_000 * np.arange(1, 9 * 1440 + 1)
    closes = 40_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, len(t0s))))
    seen: list[tuple[int, str | None]] = []  # (the day's start, what S3 reads at its first decision)
    try:
        for t0, close in zip(t0s.tolist(), closes.tolist(), strict=True):
            clock.observe("BTCUSDT", t0, close)
            clock.observe("ETHUSDT", t0, close * 2)  # another symbol's closes are not the regime's
            await clock.before_decision(t0)
            day = (t0 - 1) // DAY_MS * DAY_MS  # a bar closing at midnight is the day before's
            if not seen or seen[-1][0] != day:
                seen.append((day, await redis.get(ks.regime_market_state())))
        records = clock.published
        assert [r["as_of"] for r in records] == [day for day, raw in seen if raw is not None]
        assert [raw for _, raw in seen[:6]] == [None] * 6  # Dec 31 and Jan 1-5: under 5 prior days
        assert len(records) == 9 - 1 - 5 + 1  # days 6.. of the 9 (the first starts at 23:00)
        for rec in records:  # the job's own record from the closes known at as_of: no lookahead
            known = t0s <= rec["as_of"]
            assert rec == regime_record(t0s[known], closes[known], int(rec["as_of"]), cfg)
        assert json.loads(seen[-1][1] or "{}") == records[-1]
    finally:
        await redis.delete(ks.regime_market_state())


async def test_a_pinned_regime_stays_pinned(redis: RedisClient, unique_name: str) -> None:
    ks = Keyspace(f"{unique_name}.")
    clock = RegimeClock(redis, ks, "BTCUSDT", RegimeConfig(lookback_days=30, min_history=5))
    try:
        await clock.pin("NORMAL")
        for t0 in range(BTC_START + 60_000, BTC_START + 9 * DAY_MS, 60_000):  # enough days for a label
            clock.observe("BTCUSDT", t0, 40_000.0 + (t0 // 60_000) % 7)
            await clock.before_decision(t0)
        assert clock.published == [] and await redis.get(ks.regime_market_state()) == "NORMAL"
    finally:
        await redis.delete(ks.regime_market_state())
