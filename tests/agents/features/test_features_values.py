"""Feature values against an independent pandas / plain-NumPy computation on real market data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from features_kit import Runner, bar_replay_ticks, book_stream, random_sizes, ticks_of

from agents.features.config import FeatureConfig
from agents.features.core import FeatureEvent, advance, step, step_reference
from agents.features.state import FeatureState
from agents.features.ticks import TickArrays
from chimera.model import signal_id_for

RTOL = 1e-9


def feature(events: list[FeatureEvent], name: str) -> np.ndarray:
    return np.array([np.nan if (v := e["features"][name]) is None else v for e in events], dtype=np.float64)


def wilder_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(close), np.nan)
    tr = np.empty(len(close))
    tr[0] = high[0] - low[0]
    for i in range(1, len(close)):
        tr[i] = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
    out[n - 1] = tr[:n].mean()
    for i in range(n, len(close)):
        out[i] = (out[i - 1] * (n - 1) + tr[i]) / n
    return out


def assert_close(actual: np.ndarray, expected: np.ndarray, name: str) -> None:
    assert actual.shape == expected.shape, name
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    assert np.array_equal(nan_a, nan_e), (
        f"{name}: null pattern differs at {np.flatnonzero(nan_a != nan_e)[:5]}"
    )
    np.testing.assert_allclose(actual[~nan_a], expected[~nan_e], rtol=RTOL, atol=0, err_msg=name)


def test_btc_month_features_match_pandas(btc_bars: pd.DataFrame, runner: Runner) -> None:
    # the month is complete, so cut 40 random minutes out of it to exercise returns across gaps
    rng = np.random.default_rng(5)
    bars = btc_bars.drop(rng.choice(np.arange(1, len(btc_bars) - 1), 40, replace=False)).reset_index(
        drop=True
    )
    cfg = FeatureConfig(config_rev="r7")
    state, events = runner(bar_replay_ticks(bars), cfg, [4096] * 64)
    state, tail = step_advance(state, cfg)
    events += tail
    assert len(events) == len(bars)

    # bars rebuilt from the replay's ticks are the recorded bars, exactly
    for col in ("open", "high", "low", "close"):
        assert np.array_equal(feature(events, col), bars[col].to_numpy()), col
    np.testing.assert_allclose(feature(events, "volume"), bars["volume"].to_numpy(), rtol=1e-12)
    t0 = bars["ts"].to_numpy() + 60_000
    assert [e["t0"] for e in events] == t0.tolist()
    assert events[500]["signal_id"] == signal_id_for("BTCUSDT", int(t0[500]), "r7")

    close = bars["close"]
    ret = np.log(close / close.shift(1))
    sigma = ret.rolling(cfg.rv_window).std(ddof=1)
    assert_close(feature(events, "ret_1"), ret.to_numpy(), "ret_1")
    assert_close(feature(events, "rv"), (sigma * math.sqrt(365 * 1440)).to_numpy(), "rv")
    atr = wilder_atr(bars["high"].to_numpy(), bars["low"].to_numpy(), close.to_numpy(), cfg.atr_n)
    assert_close(feature(events, "atr"), atr, "atr")
    for name, span in (("ema_fast", cfg.ema_fast), ("ema_slow", cfg.ema_slow)):
        assert_close(feature(events, name), close.ewm(span=span, adjust=False).mean().to_numpy(), name)

    gaps = np.concatenate(([0], np.diff(bars["ts"].to_numpy()) // 60_000 - 1))
    assert feature(events, "gap_bars").tolist() == gaps.tolist()
    assert (gaps > 0).sum() >= 35
    assert [("GAP" in e["dqc"]) for e in events] == (gaps > 0).tolist()
    outlier = (ret.abs() > cfg.outlier_k * sigma.shift(1)).to_numpy()
    assert [("OUTLIER" in e["dqc"]) for e in events] == outlier.tolist()
    assert outlier.sum() > 0
    # the replay's close tick lands 1 ms before the bar ends: never stale, never crossed
    assert not any(f in e["dqc"] for e in events for f in ("STALE", "CROSSED"))


def step_advance(state: FeatureState, cfg: FeatureConfig) -> tuple[FeatureState, list[FeatureEvent]]:
    return advance(state, state.main.open_bar.last_ts + cfg.interval_ms, cfg)


def noisy_copy(bars: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A reference series: BTC closes times noise, with 3% of its minutes missing (so some spans
    do not align with the symbol's)."""
    rng = np.random.default_rng(seed)
    ref = bars[["ts", "close"]].copy()
    ref["close"] = ref["close"] * np.exp(rng.normal(0.0, 4e-4, len(ref)))
    return ref[rng.random(len(ref)) > 0.03].reset_index(drop=True)


def expected_rho(bars: pd.DataFrame, ref: pd.DataFrame, window: int, min_pairs: int) -> np.ndarray:
    """Independent ρ: returns keyed by (bucket, previous bucket) in both series, joined, then a
    pandas rolling correlation over the symbol's returns (pairwise-complete)."""

    def spans(df: pd.DataFrame) -> pd.DataFrame:
        b = df["ts"] // 60_000
        return pd.DataFrame(
            {"bucket": b, "prev": b.shift(1), "ret": np.log(df["close"] / df["close"].shift(1))}
        )

    joined = (
        spans(bars)
        .iloc[1:]
        .merge(spans(ref).iloc[1:].rename(columns={"ret": "ref_ret"}), on=["bucket", "prev"], how="left")
    )
    assert joined["ref_ret"].isna().sum() > 0.03 * len(joined)
    rho = joined["ret"].rolling(window, min_periods=min_pairs).corr(joined["ref_ret"])
    pairs = joined["ref_ret"].notna().astype(float).rolling(window, min_periods=1).sum()
    rho[pairs < min_pairs] = np.nan
    return np.concatenate(([np.nan], rho.to_numpy()))  # the first bar has no return


def test_rho_matches_pandas_rolling_corr(btc_bars: pd.DataFrame, btc_ticks: TickArrays) -> None:
    cfg = FeatureConfig(rho_window=60, rho_min_pairs=30)
    bars = btc_bars.iloc[:6000].reset_index(drop=True)
    ref = noisy_copy(bars, seed=11)
    ref_ticks = TickArrays.from_prices(ref["ts"].to_numpy() + 30_000, ref["close"].to_numpy())
    main = btc_ticks.slice(0, 4 * len(bars))

    # feed each hour's reference ticks before the symbol's own (the order the shell guarantees)
    state, events = FeatureState(symbol="BTCUSDT"), []
    hour = 3_600_000
    for start in range(int(bars["ts"].iloc[0]) // hour * hour, int(bars["ts"].iloc[-1]) + hour, hour):
        lo, hi = np.searchsorted(ref_ticks.ts, [start, start + hour])
        state = step_reference(state, ref_ticks.slice(int(lo), int(hi)), cfg)
        lo, hi = np.searchsorted(main.ts, [start, start + hour])
        state, out = step(state, main.slice(int(lo), int(hi)), cfg)
        events += out

    rho = feature(events, "rho")
    assert len(rho) == len(bars) - 1  # the last bar is still open
    assert_close(rho, expected_rho(bars, ref, 60, 30)[: len(rho)], "rho")
    assert np.nanmean(rho) > 0.5  # the copy moves with BTC


def test_rho_with_the_reference_fed_hours_ahead(btc_bars: pd.DataFrame, btc_ticks: TickArrays) -> None:
    """All 400 reference minutes first (under REF_LEAD_WINDOWS rho windows), then the symbol in
    random batches: the same ρ as full knowledge."""
    cfg = FeatureConfig(rho_window=40, rho_min_pairs=20)
    bars = btc_bars.iloc[:400].reset_index(drop=True)
    ref = noisy_copy(bars, seed=3)
    state = step_reference(
        FeatureState(symbol="BTCUSDT"),
        TickArrays.from_prices(ref["ts"].to_numpy() + 30_000, ref["close"].to_numpy()),
        cfg,
    )
    main = btc_ticks.slice(0, 4 * len(bars))
    events = []
    pos = 0
    for size in random_sizes(np.random.default_rng(8), len(main), 50):
        state, out = step(state, main.slice(pos, pos + size), cfg)
        events += out
        pos += size
    rho = feature(events, "rho")
    assert np.isfinite(rho).sum() > 300
    assert_close(rho, expected_rho(bars, ref, 40, 20)[: len(rho)], "rho")


def test_book_features_match_pandas_on_real_quotes(book_df: pd.DataFrame, runner: Runner) -> None:
    cfg = FeatureConfig(interval_ms=1_000, atr_n=3, rv_window=5, ema_fast=2, ema_slow=4, stale_ms=400)
    ticks = ticks_of(book_df)
    _, events = runner(ticks, cfg, [37] * 200)

    df = book_df.assign(bucket=book_df["ts"] // 1_000)
    g = df.groupby("bucket")
    priced = df[df["price"].notna()].groupby("bucket")
    ref = pd.DataFrame(
        {
            "close": priced["price"].last(),
            "volume": priced["qty"].sum(),
            "spread_last": g["spread_bp"].last(),
            "spread_mean": g["spread_bp"].mean(),
            "depth": g["depth"].last(),
            "last_ts": g["ts"].max(),
        }
    ).dropna(subset=["close"])
    ref = ref.iloc[:-1]  # the last second is still open
    assert len(events) == len(ref) >= 40
    assert [e["t0"] for e in events] == ((ref.index + 1) * 1_000).tolist()
    np.testing.assert_array_equal(feature(events, "close"), ref["close"].to_numpy())
    np.testing.assert_allclose(feature(events, "volume"), ref["volume"].to_numpy(), rtol=RTOL)
    assert_close(feature(events, "spread_bp"), ref["spread_last"].to_numpy(), "spread_bp")
    assert_close(feature(events, "spread_bp_mean"), ref["spread_mean"].to_numpy(), "spread_bp_mean")
    assert_close(feature(events, "depth"), ref["depth"].to_numpy(), "depth")
    stale = ((ref.index + 1) * 1_000 - ref["last_ts"] > 400).to_numpy()
    assert [("STALE" in e["dqc"]) for e in events] == stale.tolist()


def test_book_stream_has_no_crossed_quotes() -> None:
    df = book_stream()
    assert not (df["bid"] >= df["ask"]).any()  # so CROSSED is tested on crafted rows instead
