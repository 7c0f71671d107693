"""Incrementality: any batch split gives the same events and state, and a state stored mid-stream
(through JSON, as a Faust table would) continues exactly like the one that never left memory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from features_kit import Runner, random_sizes, run_batches, ticks_of

from agents.features.config import FeatureConfig
from agents.features.core import FeatureEvent, advance, step, step_reference
from agents.features.state import FeatureState
from agents.features.ticks import TickArrays


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_splits_equal_one_pass_on_btc(btc_ticks: TickArrays, runner: Runner, seed: int) -> None:
    ticks = btc_ticks.slice(0, 24_000)  # 6,000 bars
    cfg = FeatureConfig(rv_window=30, atr_n=10)
    whole_state, whole = runner(ticks, cfg, [len(ticks)])
    rng = np.random.default_rng(seed)
    split_state, split = runner(ticks, cfg, random_sizes(rng, len(ticks), 700))
    assert len(whole) == 5_999
    assert split == whole  # dicts of floats: bit-identical values, None for null
    assert split_state.to_dict() == whole_state.to_dict()  # NaN written as None, so == is exact


def test_random_splits_equal_one_pass_on_book_stream(book_df: pd.DataFrame) -> None:
    ticks = ticks_of(book_df)
    cfg = FeatureConfig(interval_ms=1_000, atr_n=3, rv_window=5, ema_fast=2, ema_slow=4)
    whole_state, whole = run_batches(ticks, cfg, [len(ticks)])
    assert any(e["features"]["spread_bp_mean"] is not None for e in whole)
    for seed in range(5):
        state, events = run_batches(ticks, cfg, random_sizes(np.random.default_rng(seed), len(ticks), 9))
        assert events == whole
        assert state.to_dict() == whole_state.to_dict()


def test_single_tick_batches_equal_one_pass(btc_ticks: TickArrays) -> None:
    ticks = btc_ticks.slice(0, 2_000)
    cfg = FeatureConfig(rv_window=20, rho_window=20, rho_min_pairs=10)
    one_state, one = run_batches(ticks, cfg, [1] * len(ticks))
    whole_state, whole = run_batches(ticks, cfg, [len(ticks)])
    assert one == whole and len(one) == 499
    assert one_state.to_dict() == whole_state.to_dict()


def test_state_json_round_trip_mid_stream_continues_identically(btc_ticks: TickArrays) -> None:
    ticks = btc_ticks.slice(0, 8_000)
    cfg = FeatureConfig(rv_window=30)
    ref = TickArrays.from_prices(ticks.ts[::4] + 7, ticks.price[::4] * 1.0001)
    state = step_reference(FeatureState(symbol="BTCUSDT"), ref.slice(0, 1_001), cfg)
    state, _ = step(state, ticks.slice(0, 4_003), cfg)  # cuts a bar in the middle
    assert state.main.open_bar.n_price > 0 and state.ref.ret

    wire = json.dumps(state.to_dict(), allow_nan=False)  # no NaN on the wire: null instead
    restored = FeatureState.from_dict(json.loads(wire))
    assert restored.to_dict() == state.to_dict()
    assert len(wire) < 12_000

    def finish(s: FeatureState) -> list[FeatureEvent]:
        s = step_reference(s, ref.slice(1_001, len(ref)), cfg)
        s, out = step(s, ticks.slice(4_003, len(ticks)), cfg)
        s, tail = advance(s, int(ticks.ts[-1]) + cfg.interval_ms, cfg)
        return out + tail

    continued, original = finish(restored), finish(state)
    assert continued == original
    assert any(e["features"]["rho"] is not None for e in original)


def test_state_from_dict_rejects_other_version() -> None:
    d = FeatureState(symbol="X").to_dict()
    d["v"] = 99
    with pytest.raises(ValueError, match="version 99"):
        FeatureState.from_dict(d)


def test_advance_closes_a_quiet_bar_only_once_its_interval_ended() -> None:
    cfg = FeatureConfig(interval_ms=1_000, atr_n=1, rv_window=2, ema_fast=1, ema_slow=2, stale_ms=300)
    state, events = step(
        FeatureState(symbol="S"), TickArrays.from_prices(np.array([100, 200]), np.array([10.0, 11.0])), cfg
    )
    assert events == []
    state, events = advance(state, 999, cfg)
    assert events == []
    state, events = advance(state, 1_000, cfg)
    assert [e["t0"] for e in events] == [1_000]
    assert events[0]["features"]["close"] == 11.0 and events[0]["features"]["high"] == 11.0
    assert "STALE" in events[0]["dqc"]  # last tick at 200 ms, bar closed at 1000 ms
    assert advance(state, 5_000, cfg)[1] == []


def test_late_ticks_are_dropped_counted_and_flagged_once() -> None:
    cfg = FeatureConfig(interval_ms=1_000, atr_n=1, rv_window=2, ema_fast=1, ema_slow=2)
    s = FeatureState(symbol="S")
    s, _ = step(s, TickArrays.from_prices(np.array([100, 1_100]), np.array([10.0, 10.5])), cfg)
    s, out = step(s, TickArrays.from_prices(np.array([900, 950, 1_200]), np.array([99.0, 98.0, 10.6])), cfg)
    assert out == [] and s.main.late_ticks == 2
    assert s.main.open_bar.high == 10.6  # the late prices never reached a bar
    s, out = step(s, TickArrays.from_prices(np.array([2_100, 3_100]), np.array([10.7, 10.8])), cfg)
    assert [e["t0"] for e in out] == [2_000, 3_000]
    assert "LATE" in out[0]["dqc"] and "LATE" not in out[1]["dqc"]
    assert s.main.late_unreported == 0 and s.main.late_ticks == 2


def test_a_tick_for_a_bar_closed_by_advance_is_late_not_a_second_bar() -> None:
    cfg = FeatureConfig(interval_ms=1_000, atr_n=1, rv_window=2, ema_fast=1, ema_slow=2)
    s, _ = step(FeatureState(symbol="S"), TickArrays.from_prices(np.array([100]), np.array([10.0])), cfg)
    s, out = advance(s, 1_000, cfg)
    assert [e["t0"] for e in out] == [1_000]
    s, out = step(s, TickArrays.from_prices(np.array([999, 1_500]), np.array([50.0, 10.2])), cfg)
    assert out == [] and s.main.late_ticks == 1
    s, out = advance(s, 2_000, cfg)
    assert [e["t0"] for e in out] == [2_000]
    assert out[0]["features"]["gap_bars"] == 0 and "LATE" in out[0]["dqc"]


def test_random_splits_with_a_reference_series_are_bit_identical(btc_ticks: TickArrays) -> None:
    cfg = FeatureConfig(rv_window=30, rho_window=60, rho_min_pairs=30)  # the reference may lead 600
    main = btc_ticks.slice(0, 2_400)  # 600 bars
    # a reference one tick per minute, 40 s in, slightly off BTC, every 7th minute missing
    keep = np.arange(0, len(main), 4)
    keep = keep[(keep // 4) % 7 != 3]
    ref = TickArrays.from_prices(main.ts[keep] + 40_000, main.price[keep + 3] * (1 + 1e-4 * np.cos(keep)))
    runs = []
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        state, events, pos = step_reference(FeatureState(symbol="BTCUSDT"), ref, cfg), [], 0
        for size in random_sizes(rng, len(main), 300):
            state, out = step(state, main.slice(pos, pos + size), cfg)
            events += out
            pos += size
        runs.append((state.to_dict(), events))
    assert runs[0] == runs[1] == runs[2]
    assert sum(e["features"]["rho"] is not None for e in runs[0][1]) > 500
