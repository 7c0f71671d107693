"""The glue from a ``mkt.*`` MarketBatch to the core's columns, and the core run on decoded batches."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from features_kit import BTC_1M, run_batches, ticks_of

from agents.connectors.marketdata import MarketEvent, MicroBatcher
from agents.connectors.recordings.bars import load_bar_csv
from agents.features.config import FeatureConfig
from agents.features.core import step
from agents.features.state import FeatureState
from agents.features.ticks import TickArrays, ticks_from_batch
from chimera.model import Market
from topics.market import MarketBatch

NAN = math.nan


def batch(**cols: object) -> MarketBatch:
    ts = cols["ts"]
    assert isinstance(ts, list)
    return MarketBatch.model_validate(
        {"symbol": "BTCUSDT", "market": Market.FUT, "seq": 0, "first_ts": ts[0], "last_ts": ts[-1], **cols}
    )


def test_trades_build_bars_and_mark_rows_do_not() -> None:
    b = batch(
        ts=[1, 2, 3],
        kind=["t", "m", "k"],
        price=[100.0, 999.0, 101.0],
        qty=[0.5, 0.0, 0.25],
        side=[1, 0, -1],
    )
    t = ticks_from_batch(b, depth_levels=5)
    assert np.array_equal(t.price, [100.0, NAN, 101.0], equal_nan=True)
    assert t.bid is None and t.spread_bp is None and t.depth is None


def test_book_levels_give_top_k_depth_and_quotes_give_spread() -> None:
    b = batch(
        ts=[10, 20],
        kind=["b", "q"],
        price=[NAN, NAN],
        qty=[0.0, 0.0],
        side=[0, 0],
        bid=[99.0, 99.5],
        ask=[101.0, 100.5],
        bid_sz=[[1.0, 2.0, 4.0], [NAN, NAN, NAN]],
        ask_sz=[[8.0, 16.0, 32.0], [NAN, NAN, NAN]],
        bid_px=[[99.0, 98.0, 97.0], [NAN, NAN, NAN]],
        ask_px=[[101.0, 102.0, 103.0], [NAN, NAN, NAN]],
    )
    t = ticks_from_batch(b, depth_levels=2)
    assert t.depth is not None and t.spread_bp is not None
    assert t.depth[0] == 1.0 + 2.0 + 8.0 + 16.0 and math.isnan(t.depth[1])
    assert t.spread_bp.tolist() == [200.0, 100.0]


def test_core_on_wire_batches_equals_core_on_arrays(book_df: pd.DataFrame) -> None:
    """Encode the real trade+quote stream as MarketBatch JSON, decode, and run the core on it."""
    cfg = FeatureConfig(interval_ms=1_000, atr_n=3, rv_window=5, ema_fast=2, ema_slow=4)
    df = book_df
    direct_state, direct = FeatureState(symbol="BTCUSDT"), []
    wire_state, wired = FeatureState(symbol="BTCUSDT"), []
    for seq, start in enumerate(range(0, len(df), 100)):
        part = df.iloc[start : start + 100]
        has_px = part["price"].notna()
        b = batch(
            ts=part["ts"].tolist(),
            kind=np.where(has_px, "t", "q").tolist(),
            price=part["price"].tolist(),
            qty=part["qty"].tolist(),
            side=[0] * len(part),
            bid=part["bid"].tolist(),
            ask=part["ask"].tolist(),
            spread_bp=part["spread_bp"].tolist(),
            bid_qty=(part["depth"] / 2).tolist(),
            ask_qty=(part["depth"] / 2).tolist(),
        )
        decoded = MarketBatch.decode(b.model_copy(update={"seq": seq}).encode())
        wire_state, out = step(wire_state, ticks_from_batch(decoded, cfg.depth_levels), cfg)
        wired += out
        direct_state, out = step(direct_state, ticks_of(part), cfg)
        direct += out
    assert len(wired) >= 40
    assert wired == direct
    assert any(e["features"]["spread_bp"] is not None for e in wired)


def test_core_fed_by_the_real_replay_path(btc_bars: pd.DataFrame, btc_ticks: TickArrays) -> None:
    """Bars CSV -> the connectors' loader and micro-batcher -> wire JSON -> core: the same events as
    the core fed the arrays directly (volume to 1e-12: the loader splits it as an exact Decimal)."""
    cfg = FeatureConfig()
    n_bars = 1_000
    batcher = MicroBatcher(window_ms=0, max_ticks=64)
    state, wired = FeatureState(symbol="BTCUSDT"), []
    loaded = load_bar_csv(BTC_1M, "BTCUSDT", Market.FUT)
    for ev in itertools.islice(loaded, 4 * n_bars):
        assert isinstance(ev, MarketEvent)
        for b in batcher.add(ev):
            state, out = step(state, ticks_from_batch(MarketBatch.decode(b.encode()), cfg.depth_levels), cfg)
            wired += out
    for b in batcher.flush():
        state, out = step(state, ticks_from_batch(MarketBatch.decode(b.encode()), cfg.depth_levels), cfg)
        wired += out
    _, direct = run_batches(btc_ticks.slice(0, 4 * n_bars), cfg, [64] * n_bars)
    assert len(wired) == len(direct) == n_bars - 1
    assert wired[0]["t0"] == int(btc_bars["ts"].iloc[0]) + 60_000 == 1640991660000  # the CSV's stamp
    for w, d in zip(wired, direct, strict=True):
        w_vol, d_vol = w["features"].pop("volume"), d["features"].pop("volume")
        assert w_vol == pytest.approx(d_vol, rel=1e-12)
        assert w == d
