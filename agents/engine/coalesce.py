"""S2 fed one call per bar instead of one per micro-batch, with the same feature events.

S1's live window makes 3 batches of every 1-minute bar of the recordings (its ticks sit 15 s
apart), and S2's NumPy step costs ~0.2 ms per call whatever the batch holds: a quarter of a run.
A batch all of whose ticks fall in the bar S2 has open can close no bar and emit nothing (S2 closes
a bar only on a tick of a later interval), so it is held back and handed to S2 with the next batch
that can, as one batch — the batch a wider window would have made. S2 folds ticks one by one in
arrival order (sums, extremes, late-tick counts), so the bars, the events and their timing are
the same; ``tests/agents/engine`` checks it against the uncoalesced path, byte for byte.

Not done for a symbol with a reference series (spot ticks for rho): S2 closes a reference bar
when the symbol's own event time passes its end, so holding the symbol's ticks back could change
which reference ticks arrive late.
"""

from __future__ import annotations

import math
from typing import Any

from agents.features.state import FeatureState
from topics.market import DENSE_COLUMNS, LEVEL_COLUMNS, OPTIONAL_COLUMNS, MarketBatch

NAN = math.nan


def emits_nothing(state: FeatureState, batch: MarketBatch, interval_ms: int) -> bool:
    """True when S2's step on ``batch`` cannot close a bar (every tick in the open bar's interval)."""
    if state.ref.bars or state.ref.open_bar.bucket >= 0:
        return False
    bucket = state.main.open_bar.bucket
    return bucket >= 0 and batch.first_ts // interval_ms == bucket == batch.last_ts // interval_ms


def merge(batches: list[MarketBatch]) -> MarketBatch:
    """One batch of the rows of consecutive batches of one series, as a wider window makes it:
    an optional column present in any part is present in all, NaN where a part lacked it."""
    if len(batches) == 1:
        return batches[0]
    first, last = batches[0], batches[-1]
    fields: dict[str, Any] = {
        "symbol": first.symbol,
        "market": first.market,
        "seq": first.seq,
        "first_ts": first.first_ts,
        "last_ts": last.last_ts,
        "v": last.v,
        "closed_ts": last.closed_ts,
    }
    for name in DENSE_COLUMNS:
        fields[name] = [v for b in batches for v in getattr(b, name)]
    for name in OPTIONAL_COLUMNS:
        if any(getattr(b, name) is not None for b in batches):
            fields[name] = [v for b in batches for v in (getattr(b, name) or [NAN] * len(b))]
    depth = max((len(b.bid_px[0]) for b in batches if b.bid_px), default=0)
    for name in LEVEL_COLUMNS:
        if any(getattr(b, name) is not None for b in batches):
            empty = [[NAN] * depth]
            fields[name] = [v for b in batches for v in (getattr(b, name) or empty * len(b))]
    # every part was validated when S1 closed it; the whole keeps their order and shapes
    return MarketBatch.model_construct(**fields)
