"""Helpers of the feature-core tests: the real BTC month as bars and as replay ticks, a book stream
from the real Binance trades and quotes, and a runner that feeds ticks in chosen batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from agents.features.config import FeatureConfig
from agents.features.core import FeatureEvent, step
from agents.features.state import FeatureState
from agents.features.ticks import TickArrays

DATA = Path(__file__).resolve().parents[3] / "data" / "nautilus"  # the shipped copy of shared/data
BTC_1M = DATA / "btc-perp-20211231-20220201_1m.csv"

Runner = Callable[[TickArrays, FeatureConfig, Sequence[int]], tuple[FeatureState, list[FeatureEvent]]]


def load_bars(path: Path = BTC_1M, interval_ms: int = 60_000) -> pd.DataFrame:
    """The bar CSV with ``ts`` = bar open, epoch ms (NautilusTrader stamps a bar with its close,
    as the connectors' loader reads it)."""
    df = pd.read_csv(path)
    ts = pd.to_datetime(df["timestamp"], utc=True)
    df["ts"] = (ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1) - interval_ms
    return df[["ts", "open", "high", "low", "close", "volume"]].reset_index(drop=True)


def bar_replay_ticks(bars: pd.DataFrame, interval_ms: int = 60_000) -> TickArrays:
    """Four ticks per bar as the replay sends them (agents/connectors/recordings/bars.py): O at +0;
    H then L (open strictly nearer the high) or L then H at +1/4 and +1/2 of the interval; C just
    before the interval ends. Each carries a quarter of the volume."""
    o, h, lo, c = (bars[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))
    high_first = (h - o) < (o - lo)
    px = np.column_stack((o, np.where(high_first, h, lo), np.where(high_first, lo, h), c)).ravel()
    t = bars["ts"].to_numpy(np.int64)
    offs = np.array([0, interval_ms // 4, interval_ms // 2, interval_ms - 1], dtype=np.int64)
    ts = (t[:, None] + offs[None, :]).ravel()
    qty = np.repeat(bars["volume"].to_numpy(np.float64) / 4.0, 4)
    return TickArrays(ts=ts, price=px, qty=qty)


def book_stream() -> pd.DataFrame:
    """Real Binance BTCUSDT trades and best bid/ask quotes merged in event time (trades first on ties)."""
    tr = pd.read_parquet(DATA / "btcusdt-trades.parquet")
    qu = pd.read_parquet(DATA / "btcusdt-quotes.parquet")
    epoch = pd.Timestamp(0, tz="UTC")
    ms = pd.Timedelta(milliseconds=1)
    t = pd.DataFrame({"ts": (tr["timestamp"] - epoch) // ms, "price": tr["price"], "qty": tr["quantity"]})
    q = pd.DataFrame(
        {
            "ts": (qu["timestamp"] - epoch) // ms,
            "bid": qu["bid"],
            "ask": qu["ask"],
            "depth": qu["bid_size"] + qu["ask_size"],
        }
    )
    q["spread_bp"] = (q["ask"] - q["bid"]) / ((q["ask"] + q["bid"]) / 2.0) * 1e4
    df = pd.concat([t, q], ignore_index=True).sort_values("ts", kind="stable").reset_index(drop=True)
    df["qty"] = df["qty"].fillna(0.0)
    return df


def ticks_of(df: pd.DataFrame) -> TickArrays:
    def col(name: str) -> np.ndarray | None:
        return df[name].to_numpy(np.float64) if name in df else None

    price = col("price")
    assert price is not None
    return TickArrays(
        ts=df["ts"].to_numpy(np.int64),
        price=price,
        qty=df["qty"].to_numpy(np.float64),
        bid=col("bid"),
        ask=col("ask"),
        spread_bp=col("spread_bp"),
        depth=col("depth"),
    )


def run_batches(
    ticks: TickArrays, cfg: FeatureConfig, sizes: Sequence[int], symbol: str = "BTCUSDT"
) -> tuple[FeatureState, list[FeatureEvent]]:
    """Feed ``ticks`` in consecutive batches of the given sizes (the rest as one last batch)."""
    state = FeatureState(symbol=symbol)
    events: list[FeatureEvent] = []
    pos = 0
    for size in [*sizes, len(ticks)]:
        if pos >= len(ticks):
            break
        state, out = step(state, ticks.slice(pos, min(pos + size, len(ticks))), cfg)
        events.extend(out)
        pos += size
    return state, events


def random_sizes(rng: np.random.Generator, n: int, max_size: int) -> list[int]:
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, max_size + 1)))
    return sizes
