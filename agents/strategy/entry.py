"""The entry signal (EMA cross) and the per-symbol state it needs.

State (JSON-round-trippable): ``{"hist": [[t0, prev_sign, sign], ...]}``, oldest first, where
``sign`` is the last non-zero sign of ``fast - slow`` as of that event (0 until one was seen) and
``prev_sign`` the one before it. A zero or null difference keeps the previous sign, so
``-1, 0, +1`` is one cross up, on the ``+1`` bar.

Why a history and not just the last sign: delivery is at-least-once, and the state (a Faust table)
may already include an event that Kafka delivers again. An event whose ``t0`` is in the history is
answered from its entry, so a redelivery gives the same decision and the same ids, and leaves the
state alone. One older than the history (``redelivery_window`` bars) cannot be (``stale``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from agents.strategy.config import EntrySignal
from chimera.model import Market, Side

SymbolState = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Observed:
    state: SymbolState
    prev_sign: int
    sign: int
    stale: bool = False


def _sign(fast: float | int | None, slow: float | int | None) -> int:
    if fast is None or slow is None or not (math.isfinite(fast) and math.isfinite(slow)):
        return 0
    return (fast > slow) - (fast < slow)


def observe(
    state: SymbolState, t0: int, fast: float | int | None, slow: float | int | None, window: int
) -> Observed:
    """Fold one event's EMA difference into the state (never mutates ``state``)."""
    hist: list[list[int]] = state.get("hist", [])
    if not hist or t0 > hist[-1][0]:
        prev = hist[-1][2] if hist else 0
        s = _sign(fast, slow)
        cur = s if s != 0 else prev
        new_hist = [*hist[-(window - 1) :], [t0, prev, cur]] if window > 1 else [[t0, prev, cur]]
        return Observed({"hist": new_hist}, prev, cur)
    for entry in reversed(hist):
        if entry[0] == t0:
            return Observed(state, entry[1], entry[2])
    return Observed(state, 0, 0, stale=True)


def signal(obs: Observed, cfg: EntrySignal, market: Market) -> Side | None:
    """BUY on a cross up, SELL on a cross down (FUT only), if the config allows that side."""
    if obs.prev_sign == 0 or obs.sign == 0 or obs.prev_sign == obs.sign:
        return None
    if obs.sign > 0:
        return Side.BUY if cfg.long else None
    return Side.SELL if cfg.short and market is Market.FUT else None
