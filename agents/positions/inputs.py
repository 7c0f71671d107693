"""The core's inputs from other topics: a management tick from a ``mkt.perp`` batch, the ATR
from a ``feat.events`` event, an entry plan from an open decision on ``sig.events``.

Market and feature values travel as floats; ``to_decimal`` reads them back as the shortest
decimal they print as, which for a venue price is the venue's exact price (topics/market.py).
"""

from __future__ import annotations

import math

from agents.positions.events import AtrSeen, EntryPlanned, Tick
from agents.positions.intents import ENTRY_LEG
from chimera.model import Market, intent_id_for, to_decimal
from topics.market import MarketBatch
from topics.trading import Decision, FeatureEvent


def _last(column: list[float] | None) -> float | None:
    for value in reversed(column or []):
        if math.isfinite(value) and value > 0:
            return value
    return None


def tick_of(batch: MarketBatch) -> Tick | None:
    """The batch's last price (and mark) as one management tick at the batch's last event time,
    with the batch's lowest and highest price; None when the batch has no priced row (only quotes)
    or is not a perpetual's."""
    price = _last(batch.price)
    if batch.market is not Market.FUT or price is None:
        return None
    mark = _last(batch.mark)
    traded = [p for p in batch.price if math.isfinite(p) and p > 0]
    low, high = min(traded), max(traded)
    return Tick(
        symbol=batch.symbol,
        ts=batch.last_ts,
        price=to_decimal(price),
        mark=None if mark is None else to_decimal(mark),
        low=None if low == price else to_decimal(low),
        high=None if high == price else to_decimal(high),
    )


def atr_of(event: FeatureEvent, name: str = "atr") -> AtrSeen | None:
    value = event.features.get(name)
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return AtrSeen(symbol=event.symbol, ts=event.t0, atr=to_decimal(float(value)))


def plan_of(decision: Decision) -> EntryPlanned | None:
    """An open FUT decision announces its entry (S3 names it ``intent_id_for(signal_id, "entry")``)."""
    if decision.action != "open" or decision.side is None or decision.market is not Market.FUT:
        return None
    return EntryPlanned(
        symbol=decision.symbol,
        entry_intent_id=intent_id_for(decision.signal_id, ENTRY_LEG),
        signal_id=decision.signal_id,
        side=decision.side,
        sl_mult=to_decimal(decision.sl_mult),
        tp_mult=to_decimal(decision.tp_mult),
        max_adds_override=decision.max_adds_override,
        ts=decision.ts,
    )
