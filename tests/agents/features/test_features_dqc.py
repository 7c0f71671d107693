"""Data-quality flags on crafted tick streams, each built to trip exactly one flag."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from agents.features.config import FeatureConfig
from agents.features.core import FeatureEvent, step
from agents.features.state import FeatureState
from agents.features.ticks import TickArrays

Make = Callable[..., FeatureConfig]


def one_tick_per_second(prices: list[float], *, ts: list[int] | None = None) -> TickArrays:
    """A trade at +900 ms of each second (so never stale with stale_ms=500)."""
    t = np.array(ts if ts is not None else [i * 1_000 + 900 for i in range(len(prices))], dtype=np.int64)
    return TickArrays.from_prices(t, np.array(prices, dtype=np.float64), np.ones(len(prices)))


def run(ticks: TickArrays, cfg: FeatureConfig) -> list[FeatureEvent]:
    return step(FeatureState(symbol="SYN"), ticks, cfg)[1]


def flags(events: list[FeatureEvent], flag: str) -> list[int]:
    return [i for i, e in enumerate(events) if flag in e["dqc"]]


def wiggle(n: int) -> list[float]:
    return [100.0 * (1.0 + 0.001 * ((i * 7) % 5 - 2)) for i in range(n)]


def test_clean_series_has_only_warmup_flags(make_config: Make) -> None:
    cfg = make_config()
    events = run(one_tick_per_second(wiggle(30)), cfg)
    assert len(events) == 29
    assert flags(events, "WARMUP") == list(range(cfg.rv_window))  # rv needs rv_window returns
    assert all(e["dqc"] == [] for e in events[cfg.rv_window :])


def test_crossed_book_row_flags_its_bar(make_config: Make) -> None:
    base = one_tick_per_second(wiggle(12))
    n = len(base)
    bid = base.price - 0.05
    ask = base.price + 0.05
    bid[7], ask[7] = 100.2, 100.1  # bid above ask in second 7
    ticks = TickArrays(
        ts=base.ts, price=base.price, qty=base.qty, bid=bid, ask=ask, spread_bp=np.full(n, 1.0)
    )
    events = run(ticks, make_config())
    assert flags(events, "CROSSED") == [7]


def test_gap_flags_the_first_bar_after_missing_intervals(make_config: Make) -> None:
    ts = [i * 1_000 + 900 for i in range(10)] + [i * 1_000 + 900 for i in range(13, 20)]
    events = run(one_tick_per_second(wiggle(17), ts=ts), make_config())
    assert flags(events, "GAP") == [10]
    assert events[10]["features"]["gap_bars"] == 3
    assert events[10]["t0"] == 14_000 and events[9]["t0"] == 10_000


def test_stale_when_the_last_tick_is_older_than_stale_ms_at_close(make_config: Make) -> None:
    ts = [i * 1_000 + 900 for i in range(12)]
    ts[4] = 4_499  # 501 ms before the bar closes at 5000
    ts[6] = 6_500  # exactly 500 ms: not stale
    events = run(one_tick_per_second(wiggle(12), ts=ts), make_config(stale_ms=500))
    assert flags(events, "STALE") == [4]


def test_outlier_against_the_previous_window_sigma(make_config: Make) -> None:
    prices = wiggle(20)
    prices[12] = prices[11] * 1.05  # a 5% jump where a bar moves about 0.1%
    events = run(one_tick_per_second(prices), make_config(outlier_k=4.0))
    # the fall back at 13 is judged against a window that already holds the jump: not an outlier
    assert flags(events, "OUTLIER") == [12]
    # the same jump is no outlier with a loose threshold
    assert flags(run(one_tick_per_second(prices), make_config(outlier_k=1_000.0)), "OUTLIER") == []


def test_quote_only_intervals_make_no_bar(make_config: Make) -> None:
    ts = np.array([900, 1_500, 2_900, 3_900], dtype=np.int64)
    price = np.array([100.0, np.nan, 101.0, 102.0])
    ticks = TickArrays(ts=ts, price=price, qty=np.zeros(4), spread_bp=np.array([np.nan, 2.0, 3.0, np.nan]))
    events = run(ticks, make_config())
    assert [e["t0"] for e in events] == [1_000, 3_000]
    assert events[1]["features"]["gap_bars"] == 1 and "GAP" in events[1]["dqc"]
    assert events[1]["features"]["spread_bp_mean"] == 3.0  # the quote-only second's 2.0 is not carried
