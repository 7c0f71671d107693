"""The daily market regime: where the latest daily realised volatility ranks among the prior days.

``percentile`` is the mean-rank percentile of the latest RV among the ``lookback_days`` daily RVs
before it: ``100 * (#below + #equal / 2) / n`` (scipy's ``percentileofscore(kind="mean")``).
Below ``p_low`` the market is FROZEN, above ``p_high`` EXTREME, otherwise NORMAL. The shell writes
the result to ``prod:{regime}:market:state``; ``rev`` is a hash of the inputs, so re-running the
job on the same days gives the same record.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

import numpy as np

from agents.features.config import MS_PER_YEAR, RegimeConfig
from chimera.model import stable_hash

DAY_MS = 86_400_000


class Regime(StrEnum):
    FROZEN = "FROZEN"
    NORMAL = "NORMAL"
    EXTREME = "EXTREME"


def classify(daily_rv: list[float], as_of_ms: int, cfg: RegimeConfig) -> dict[str, Any]:
    """Label the market from daily RVs, oldest first, the last being the day that ends at ``as_of_ms``."""
    if not daily_rv:
        raise ValueError("daily_rv is empty: need the latest day's RV and a history before it")
    bad = [i for i, x in enumerate(daily_rv) if not (math.isfinite(x) and x >= 0)]
    if bad:
        raise ValueError(f"daily_rv must be finite and >= 0; bad values at positions {bad[:5]}")
    latest = daily_rv[-1]
    prior = daily_rv[-1 - cfg.lookback_days : -1]
    if len(prior) < cfg.min_history:
        raise ValueError(f"daily_rv has {len(prior)} prior days, min_history is {cfg.min_history}")
    below = sum(1 for x in prior if x < latest)
    equal = sum(1 for x in prior if x == latest)
    pct = 100.0 * (below + 0.5 * equal) / len(prior)
    if pct < cfg.p_low:
        regime = Regime.FROZEN
    elif pct > cfg.p_high:
        regime = Regime.EXTREME
    else:
        regime = Regime.NORMAL
    rev = stable_hash(as_of_ms, repr(latest), *map(repr, prior), cfg.model_dump_json())
    return {
        "regime": regime.value,
        "rv": latest,
        "percentile": pct,
        "rev": rev,
        "as_of": as_of_ms,
        "expires_at": as_of_ms + cfg.ttl_ms,
    }


def daily_realised_vol(
    ts: np.ndarray, close: np.ndarray, annualise: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per UTC day: ``sqrt(sum of squared close-to-close log returns)`` of the day's bars.

    A return belongs to the day of its ending bar; the first bar of the series has none. Returns
    ``(day_start_ms, rv)``; rv is scaled by ``sqrt(365)`` when ``annualise`` (a day is one period).
    """
    ts = np.asarray(ts, dtype=np.int64)
    close = np.asarray(close, dtype=np.float64)
    if len(ts) != len(close):
        raise ValueError(f"ts has {len(ts)} rows, close has {len(close)}")
    if len(ts) < 2:
        return np.empty(0, dtype=np.int64), np.empty(0)
    if bool(np.any(close <= 0)) or not bool(np.all(np.isfinite(close))):
        raise ValueError("close must be positive and finite")
    r2 = np.log(close[1:] / close[:-1]) ** 2
    day = ts[1:] // DAY_MS
    starts = np.flatnonzero(np.concatenate(([True], day[1:] != day[:-1])))
    rv = np.sqrt(np.add.reduceat(r2, starts))
    scale = math.sqrt(MS_PER_YEAR / DAY_MS) if annualise else 1.0
    return day[starts] * DAY_MS, rv * scale
