"""Helpers of the S3 tests: configs, feature events as S2 emits them, states that make a cross, and a
synchronous driver that answers the core's model and gate requests in-process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from agents.features.core import FEATURES, FeatureEvent
from agents.strategy import core
from agents.strategy.config import StrategyConfig
from agents.strategy.context import Ctx, GateResult, ModelOutcome
from agents.strategy.entry import SymbolState
from agents.strategy.records import GateRequest, ModelRequest
from chimera.model import signal_id_for

T0 = 1_641_038_400_000  # 2022-01-01 12:00 UTC, a bar close
MINUTE = 60_000

FUT_SPEC = {
    "market": "FUT",
    "tick_size": "0.01",
    "lot_size": "0.001",
    "min_qty": "0.001",
    "min_notional": "5",
}
SPOT_SPEC = {
    "market": "SPOT",
    "tick_size": "0.01",
    "lot_size": "0.00001",
    "min_qty": "0.00001",
    "min_notional": "10",
}


def make_config(**overrides: Any) -> StrategyConfig:
    base: dict[str, Any] = {
        "instruments": {"BTCUSDT": FUT_SPEC, "BTCSPOT": SPOT_SPEC},
        "margin_per_position_usdt": "100",
        "margin_budget_usdt": "1000",
        "leverage": 5,
    }
    base.update(overrides)
    return StrategyConfig.model_validate(base)


def event(
    symbol: str = "BTCUSDT",
    t0: int = T0,
    *,
    fast: float | None = 101.0,
    slow: float | None = 100.0,
    close: float | None = 46_216.93,
    atr: float | None = 50.0,
    dqc: list[str] | None = None,
    **features: float | int | None,
) -> FeatureEvent:
    feats: dict[str, float | int | None] = dict.fromkeys(FEATURES)
    feats.update(
        open=close, high=close, low=close, close=close, volume=1.0, n_ticks=4, ret_1=0.0005, rv=0.6,
        spread_bp=1.0, spread_bp_mean=1.0, depth=10.0, gap_bars=0,
    )  # fmt: skip
    feats.update(ema_fast=fast, ema_slow=slow, atr=atr, **features)
    return {
        "signal_id": signal_id_for(symbol, t0, "bundle-1"),
        "t0": t0,
        "symbol": symbol,
        "features": feats,
        "dqc": dqc or [],
        "config_rev": "bundle-1",
    }


def below(t0: int = T0) -> SymbolState:
    """State after a bar with fast < slow: the next bar with fast > slow crosses up."""
    return {"hist": [[t0 - MINUTE, 1, -1]]}


def above(t0: int = T0) -> SymbolState:
    return {"hist": [[t0 - MINUTE, -1, 1]]}


def ctx_for(cfg: StrategyConfig, **kw: Any) -> Ctx:
    base: dict[str, Any] = {"regime": "NORMAL", "health": "GREEN"}
    base.update(kw)
    return Ctx(cfg=cfg, **base)


GateFn = Callable[[GateRequest], GateResult]
ModelFn = Callable[[ModelRequest], ModelOutcome]


def grant_all(req: GateRequest) -> GateResult:
    return GateResult(req.intent_id, granted=True, margin_usdt=req.margin_usdt)


def coin_flip(req: ModelRequest) -> ModelOutcome:
    return ModelOutcome(0.5, "model")


def run(
    state: SymbolState,
    ev: FeatureEvent,
    ctx: Ctx,
    model: ModelFn = coin_flip,
    gate: GateFn = grant_all,
) -> core.Outcome:
    """The shell's loop (agents/strategy/shell.py) with in-process answers."""
    for _ in range(3):
        out = core.attempt(state, ev, ctx)
        if isinstance(out, ModelRequest):
            ctx = replace(ctx, model=model(out))
        elif isinstance(out, GateRequest):
            ctx = replace(ctx, gate=gate(out))
        else:
            return out
    raise AssertionError("the core asked for more than the model and the gate")


def qty_for(margin: str, leverage: int, price: str, lot: str) -> Decimal:
    """The expected qty, worked out independently: whole lots of notional / price."""
    lots = (Decimal(margin) * leverage / Decimal(price)) // Decimal(lot)
    return lots * Decimal(lot)
