"""The real BTC month through S2's core and then S3's: decisions are a pure function of the events
(two runs identical, ids included), and figures for the note (opens and skips by reason, decide
latency). Regime per day comes from S2's daily-RV classifier over the days before (no lookahead);
there is no position manager here, so nothing releases the gate and it is taken as granting."""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from strategy_kit import FUT_SPEC, grant_all, make_config

from agents.features.config import FeatureConfig, RegimeConfig
from agents.features.core import FeatureEvent, step
from agents.features.regime import DAY_MS, classify, daily_realised_vol
from agents.features.state import FeatureState
from agents.strategy import core
from agents.strategy.config import StrategyConfig
from agents.strategy.context import Ctx, ModelOutcome
from agents.strategy.model import LogisticModel, entry_p
from agents.strategy.records import GateRequest, ModelRequest, SendIntent

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "features"))
from features_kit import bar_replay_ticks, load_bars

BATCH = 4096  # ticks per S2 batch (4 per bar, as the replay sends them)


@pytest.fixture(scope="module")
def btc_events() -> list[FeatureEvent]:
    ticks = bar_replay_ticks(load_bars())
    cfg = FeatureConfig(config_rev="btc-month")
    state, events = FeatureState(symbol="BTCUSDT"), []
    for pos in range(0, len(ticks), BATCH):
        state, out = step(state, ticks.slice(pos, pos + BATCH), cfg)
        events.extend(out)
    return events


def _regimes(events: list[FeatureEvent]) -> dict[int, dict[str, Any]]:
    """Regime record per UTC day, as the daily job would have published it at the day's start."""
    ts = np.array([e["t0"] for e in events], dtype=np.int64)
    close = np.array([e["features"]["close"] for e in events], dtype=np.float64)
    days, rv = daily_realised_vol(ts - 1, close)  # a bar closing at 00:00 belongs to the day before
    rcfg = RegimeConfig(lookback_days=30, min_history=5, p_low=10, p_high=90)
    out: dict[int, dict[str, Any]] = {}
    for i in range(rcfg.min_history, len(days)):
        rec = classify(rv[: i + 1].tolist(), int(days[i]) + DAY_MS, rcfg)
        out[int(days[i]) + DAY_MS] = rec  # usable from the next day's start
    return out


def _config() -> StrategyConfig:
    return make_config(
        instruments={"BTCUSDT": FUT_SPEC},
        margin_per_position_usdt="200",
        margin_budget_usdt="2000",
        leverage=3,
        rules=[
            {
                "name": "wide_spread",
                "priority": 30,
                "when": "features.spread_bp is not None and features.spread_bp > 5",
                "then": {"skip_entry": True},
            },
            {
                "name": "hot_vol",
                "priority": 20,
                "when": "features.rv > 1.0",
                "then": {"size_mult": 0.5, "sl_mult": 1.5},
            },
            {
                "name": "thin_bar",
                "priority": 10,
                "when": "features.volume < 300_000",
                "then": {"size_mult": 0.8},
            },
        ],
        model={"weights": {"ret_1": 150.0, "rv": -0.4}, "intercept": 0.2},
    )


def _ctx(cfg: StrategyConfig, regimes: dict[int, dict[str, Any]], t0: int) -> Ctx:
    rec = regimes.get((t0 - 1) // DAY_MS * DAY_MS)
    if rec is None:
        return Ctx(cfg=cfg, health="GREEN")
    return Ctx(cfg=cfg, health="GREEN", regime=rec["regime"], regime_expires_at=rec["expires_at"])


def _run_month(events: list[FeatureEvent], cfg: StrategyConfig) -> tuple[list[dict[str, Any]], list[Ctx]]:
    """Decide every event as the shell does; return the decisions and the completed contexts."""
    model = LogisticModel(cfg.model)
    regimes = _regimes(events)
    state: dict[str, Any] = {}
    decisions, ctxs = [], []
    for ev in events:
        ctx = _ctx(cfg, regimes, ev["t0"])
        while True:
            out = core.attempt(state, ev, ctx)
            if isinstance(out, ModelRequest):
                ctx = replace(
                    ctx, model=ModelOutcome(entry_p(model.predict(out.features), out.side), "model")
                )
            elif isinstance(out, GateRequest):
                ctx = replace(ctx, gate=grant_all(out))
            else:
                break
        new_state, d, t, effects = out
        intents = [e.intent.model_dump(mode="json") for e in effects if isinstance(e, SendIntent)]
        decisions.append(d.model_dump(mode="json") | t.to_dict() | {"intents": intents})
        ctxs.append(ctx)
        state = new_state
    return decisions, ctxs


def test_the_btc_month_decides_identically_twice(btc_events: list[FeatureEvent]) -> None:
    cfg = _config()
    first, ctxs = _run_month(btc_events, cfg)
    second, _ = _run_month(btc_events, cfg)
    assert first == second

    reasons = Counter(d["reason"] for d in first)
    opens = [d for d in first if d["action"] == "open"]
    assert len(first) == len(btc_events) == 45_030  # one per bar; the last of 45,031 bars is still open
    assert len(opens) == reasons["EMA_CROSS_UP"] + reasons["EMA_CROSS_DOWN"] > 100
    assert len({d["intent_id"] for d in opens}) == len(opens)
    assert all(len(d["intents"]) == 1 and d["intents"][0]["intent_id"] == d["intent_id"] for d in opens)
    assert reasons["DATA_QUALITY"] > 0 and reasons["REGIME"] > 0 and reasons["NO_SIGNAL"] > 0
    assert {r for d in opens for r in d["rules_fired"]} == {"hot_vol", "thin_bar"}

    # latency of decide itself with the inputs complete (the last call of the shell's loop); the
    # test's own heap (two months of decisions) is frozen out of the GC so it does not stall the core
    gc.collect()
    gc.freeze()
    state: dict[str, Any] = {}
    lat_open, lat_skip = [], []
    for ev, ctx in zip(btc_events, ctxs, strict=True):
        t = time.perf_counter_ns()
        new_state, d, _, _ = core.decide(state, ev, ctx)
        dt = (time.perf_counter_ns() - t) / 1_000
        (lat_open if d.action == "open" else lat_skip).append(dt)
        state = new_state
    gc.unfreeze()

    def pct(xs: list[float], q: float) -> float:
        return float(np.percentile(xs, q))

    every = lat_open + lat_skip
    print(f"\nBTC month: {len(first):,} feature events, {len(opens):,} opens")
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  {reason:<18} {n:>6,}")
    fired = Counter(r for d in opens for r in d["rules_fired"])
    sizes = Counter(d["size_mult"] for d in opens)
    ps = [d["model_p"] for d in opens]
    print(f"rules fired on opens: {dict(fired)}; model_p {min(ps):.3f}..{max(ps):.3f}")
    print(f"size_mult on opens (top 5): {sizes.most_common(5)}")
    print(
        f"decide latency µs: all p50 {pct(every, 50):.1f} p99 {pct(every, 99):.1f}; "
        f"open p50 {pct(lat_open, 50):.1f} p99 {pct(lat_open, 99):.1f}; "
        f"skip p50 {pct(lat_skip, 50):.1f} p99 {pct(lat_skip, 99):.1f}; mean {statistics.fmean(every):.1f}"
    )
