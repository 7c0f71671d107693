"""Throughput of the S2 feature core on the real BTC month (45,031 one-minute bars replayed as
180,124 ticks, 4 per bar), in batches of 64 / 512 / 4096 ticks, against a naive per-tick Python
loop computing the same bar features (open/high/low/close/volume, ret_1, Wilder ATR, rv, EMAs).

Also the cost a Faust shell pays per batch to store the state (``to_dict`` + JSON both ways).
Run: ``.venv/bin/python bench/features_core.py``; the last line is one JSON object.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.features.config import FeatureConfig
from agents.features.core import FeatureEvent, step, step_reference
from agents.features.state import FeatureState
from agents.features.ticks import TickArrays
from chimera.model import signal_id_for

DATA = Path(__file__).resolve().parents[1] / "data" / "nautilus" / "btc-perp-20211231-20220201_1m.csv"
REPEATS = 3


def replay_ticks() -> TickArrays:
    df = pd.read_csv(DATA)
    t = (pd.to_datetime(df["timestamp"], utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(
        milliseconds=1
    )
    o, h, lo, c = (df[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))
    high_first = (h - o) < (o - lo)  # as agents/connectors/recordings/bars.py
    px = np.column_stack((o, np.where(high_first, h, lo), np.where(high_first, lo, h), c)).ravel()
    open_ts = t.to_numpy(np.int64) - 60_000  # NautilusTrader stamps a bar with its close
    ts = (open_ts[:, None] + np.array([0, 15_000, 30_000, 59_999])[None, :]).ravel()
    return TickArrays(ts=ts, price=px, qty=np.repeat(df["volume"].to_numpy(np.float64) / 4, 4))


def run_core(ticks: TickArrays, cfg: FeatureConfig, batch: int) -> tuple[list[FeatureEvent], float, int]:
    state, events, n_batches = FeatureState(symbol="BTCUSDT"), [], 0
    start = time.perf_counter()
    for pos in range(0, len(ticks), batch):
        state, out = step(state, ticks.slice(pos, pos + batch), cfg)
        events.extend(out)
        n_batches += 1
    return events, time.perf_counter() - start, n_batches


def run_naive(ts: list[int], px: list[float], qty: list[float], cfg: FeatureConfig) -> list[dict[str, Any]]:
    """One tick at a time, textbook style: a bar dict, a deque of returns, a loop for the std."""
    out: list[dict[str, Any]] = []
    bar: dict[str, Any] | None = None
    prev_close = atr = ema_f = ema_s = math.nan
    n_bars, trs = 0, []
    rets: deque[float] = deque(maxlen=cfg.rv_window)
    af, as_ = 2 / (cfg.ema_fast + 1), 2 / (cfg.ema_slow + 1)
    for t, p, q in zip(ts, px, qty, strict=True):
        b = t // cfg.interval_ms
        if bar is not None and b != bar["b"]:
            c = bar["c"]
            if n_bars == 0:
                tr, ret = bar["h"] - bar["l"], math.nan
                ema_f = ema_s = c
            else:
                tr = max(bar["h"] - bar["l"], abs(bar["h"] - prev_close), abs(bar["l"] - prev_close))
                ret = math.log(c / prev_close)
                rets.append(ret)
                ema_f += af * (c - ema_f)
                ema_s += as_ * (c - ema_s)
            n_bars += 1
            if n_bars <= cfg.atr_n:
                trs.append(tr)
                if n_bars == cfg.atr_n:
                    atr = sum(trs) / cfg.atr_n
            else:
                atr = (atr * (cfg.atr_n - 1) + tr) / cfg.atr_n
            rv = math.nan
            if len(rets) == cfg.rv_window:
                m = sum(rets) / len(rets)
                rv = math.sqrt(sum((r - m) ** 2 for r in rets) / (len(rets) - 1)) * cfg.annualisation
            feats = {"open": bar["o"], "high": bar["h"], "low": bar["l"], "close": c, "volume": bar["v"]}
            feats.update({"ret_1": ret, "atr": atr, "rv": rv, "ema_fast": ema_f, "ema_slow": ema_s})
            t0 = (bar["b"] + 1) * cfg.interval_ms
            out.append(
                {"signal_id": signal_id_for("BTCUSDT", t0, cfg.config_rev), "t0": t0, "features": feats}
            )
            prev_close, bar = c, None
        if bar is None:
            bar = {"b": b, "o": p, "h": p, "l": p, "c": p, "v": q}
        else:
            bar["h"] = max(bar["h"], p)
            bar["l"] = min(bar["l"], p)
            bar["c"] = p
            bar["v"] += q
    return out


def check_same(core: list[FeatureEvent], naive: list[dict[str, Any]]) -> None:
    assert len(core) == len(naive), (len(core), len(naive))
    for name in ("close", "volume", "ret_1", "atr", "rv", "ema_fast", "ema_slow"):
        a = np.array([np.nan if e["features"][name] is None else e["features"][name] for e in core])
        b = np.array([e["features"][name] for e in naive])
        np.testing.assert_allclose(a, b, rtol=1e-9, equal_nan=True, err_msg=name)


def throughput(ticks: TickArrays, cfg: FeatureConfig, tag: str, figures: dict[str, Any]) -> None:
    n = len(ticks)
    core_events: list[FeatureEvent] = []
    for batch in (64, 512, 4096):
        times = []
        for _ in range(REPEATS):
            core_events, secs, n_batches = run_core(ticks, cfg, batch)
            times.append(secs)
        best = min(times)
        figures[f"{tag}_core_b{batch}_ticks_per_s"] = round(n / best)
        figures[f"{tag}_core_b{batch}_us_per_batch"] = round(best / n_batches * 1e6, 1)
        print(
            f"core, batches of {batch:>4}: {n / best:>12,.0f} ticks/s  {best / n_batches * 1e6:8.1f} µs/batch"
            f"  (best of {REPEATS}: {', '.join(f'{x:.3f}s' for x in times)})"
        )
    ts, px, qty = ticks.ts.tolist(), ticks.price.tolist(), ticks.qty.tolist()
    times = []
    naive: list[dict[str, Any]] = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        naive = run_naive(ts, px, qty, cfg)
        times.append(time.perf_counter() - start)
    check_same(core_events[: len(naive)], naive)
    figures[f"{tag}_naive_ticks_per_s"] = round(n / min(times))
    print(f"naive per-tick loop:     {n / min(times):>12,.0f} ticks/s  (same values as the core to 1e-9)")


def rho_with_reference(ticks: TickArrays, cfg: FeatureConfig, figures: dict[str, Any]) -> None:
    """The 1-minute case again with a reference series (one tick per minute) feeding rho."""
    closes = ticks.price[3::4]
    ref = TickArrays.from_prices(
        ticks.ts[3::4] - 29_999, closes * (1.0 + 1e-4 * np.sin(np.arange(len(closes))))
    )
    batch = 512
    state, n_rho = FeatureState(symbol="BTCUSDT"), 0
    start = time.perf_counter()
    for pos in range(0, len(ticks), batch):
        window_end = int(ticks.ts[min(pos + batch, len(ticks)) - 1])
        lo, hi = np.searchsorted(ref.ts, [int(ticks.ts[pos]), window_end + 1])
        state = step_reference(state, ref.slice(int(lo), int(hi)), cfg)
        state, out = step(state, ticks.slice(pos, pos + batch), cfg)
        n_rho += sum(e["features"]["rho"] is not None for e in out)
    secs = time.perf_counter() - start
    figures["m1_rho_core_b512_ticks_per_s"] = round(len(ticks) / secs)
    print(f"-- with a reference series for rho (window {cfg.rho_window}), batches of {batch}:")
    print(f"core: {len(ticks) / secs:>12,.0f} ticks/s; {n_rho:,} events carry rho")


def main() -> None:
    ticks = replay_ticks()
    n = len(ticks)
    figures: dict[str, Any] = {"ticks": n}
    cfg = FeatureConfig()
    print(f"BTC month: {n:,} ticks; rv_window={cfg.rv_window} atr_n={cfg.atr_n}")
    print(f"-- 1-minute bars, 4 ticks per bar ({n // 4:,} bars and events): the replay's worst case")
    throughput(ticks, cfg, "m1", figures)
    hourly = FeatureConfig(interval_ms=3_600_000, rv_window=24, rho_window=24, rho_min_pairs=12)
    print(f"-- 1-hour bars, 240 ticks per bar ({n // 240:,} bars): tick-dense, like live trade streams")
    throughput(ticks, hourly, "h1", figures)

    rho_with_reference(ticks, cfg, figures)

    state, _ = step(FeatureState(symbol="BTCUSDT"), ticks.slice(0, 20_000), cfg)
    reps = 2_000
    start = time.perf_counter()
    for _ in range(reps):
        wire = json.dumps(state.to_dict(), allow_nan=False)
    enc = (time.perf_counter() - start) / reps
    start = time.perf_counter()
    for _ in range(reps):
        FeatureState.from_dict(json.loads(wire))
    dec = (time.perf_counter() - start) / reps
    figures.update(
        state_bytes=len(wire), state_encode_us=round(enc * 1e6, 1), state_decode_us=round(dec * 1e6, 1)
    )
    print(f"state: {len(wire):,} bytes of JSON; encode {enc * 1e6:.1f} µs, decode {dec * 1e6:.1f} µs")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
