"""Helpers of the config tests: a small valid bundle document to vary, and the tests' start time."""

from __future__ import annotations

from typing import Any

T0 = 1_700_000_000_000

FUT = {"market": "FUT", "tick_size": "0.01", "lot_size": "0.001", "min_qty": "0.001", "min_notional": "5"}
RULE = {"name": "hot", "priority": 2, "when": "features.rv > 1", "then": {"size_mult": 0.5}}


def doc(**strategy: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "instruments": {"BTCUSDT": FUT},
        "margin_per_position_usdt": "100",
        "margin_budget_usdt": "1000",
        "rules": [RULE],
    }
    s.update(strategy)
    return {"bundle_id": "b1", "strategy": s, "features": {"ema_fast": 10, "ema_slow": 30}}
