"""The ``signals`` row of one decision (infra/ddl/0001_trading.sql), S2's part and S3's in one row.

The spec has S2 write ``features, t0, config_rev`` and S3 ``decision, model_p, reason, config_rev``
into the same row; ``signals`` is a ReplacingMergeTree on ``signal_id`` that keeps the highest
``version`` *whole* (no column merge). S2's agent writes no row today, so S3 writes both parts: the
features it decided on and its decision, at ``VERSION`` 1 (an S2 features-only row, if it ever
writes one, would be version 0 and be superseded). ``config_rev`` is the bundle rev the decision
used; null numbers are NaN (the columns are not Nullable: 18.16 reads them without a setting).
"""

from __future__ import annotations

import math
from typing import Any

from agents.features.core import FEATURES, FeatureEvent
from topics.trading import Decision

TABLE = "signals"
VERSION = 1


def _num(x: float | int | None) -> float:
    return math.nan if x is None else float(x)


def signals_row(ev: FeatureEvent, decision: Decision, bundle_id: str) -> dict[str, Any]:
    feats = ev["features"]
    return {
        "signal_id": decision.signal_id,
        "symbol": decision.symbol,
        "market": decision.market.value,
        "t0": ev["t0"],
        "ts": decision.ts,
        "config_bundle_id": bundle_id,
        "config_rev": decision.config_rev,
        "feature_names": list(FEATURES),
        "feature_values": [_num(feats.get(name)) for name in FEATURES],
        "regime": decision.regime or "",
        "decision": decision.action,
        "side": decision.side.value if decision.side else "",
        "model_p": _num(decision.model_p),
        "reason": decision.reason,
        "size_mult": decision.size_mult,
        "version": VERSION,
    }
