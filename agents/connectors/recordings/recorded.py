"""Recordings made by ``chimera record``: JSON lines ``{"topic", "key", "ts", "value"}`` (``.jsonl`` or
``.jsonl.gz``), where ``value`` is the topic's message. Batches are read back as the ticks they
carry, so a replay re-batches them with its own window.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from agents.connectors.marketdata import Level, Malformed, MarketEvent
from agents.connectors.recordings.base import Records
from topics.market import FundingEvent, MarketBatch


def _d(x: float) -> Decimal | None:
    return None if math.isnan(x) else Decimal(repr(x))


def _levels(px: list[float], sz: list[float]) -> tuple[Level, ...]:
    return tuple(
        (Decimal(repr(p)), Decimal(repr(q))) for p, q in zip(px, sz, strict=True) if not math.isnan(p)
    )


def batch_events(batch: MarketBatch) -> Iterator[MarketEvent]:
    """Yield the ticks of a batch back as events (exact: floats are read by their shortest repr)."""
    cols = {name: batch.column(name) for name in ("price", "qty", "bid", "ask", "bid_qty", "ask_qty", "mark")}
    for i, (ts, kind, side) in enumerate(zip(batch.ts, batch.kind, batch.side, strict=True)):
        row = {name: _d(float(col[i])) for name, col in cols.items()}
        bids: tuple[Level, ...] = ()
        asks: tuple[Level, ...] = ()
        if kind == "b" and batch.bid_px is not None and batch.bid_sz and batch.ask_px and batch.ask_sz:
            bids = _levels(batch.bid_px[i], batch.bid_sz[i])
            asks = _levels(batch.ask_px[i], batch.ask_sz[i])
            row.update(bid=None, ask=None, bid_qty=None, ask_qty=None)
        yield MarketEvent(ts, batch.symbol, batch.market, kind, side=side, bids=bids, asks=asks, **row)


def _open(path: Path) -> IO[str]:
    return gzip.open(path, "rt") if path.name.endswith(".gz") else path.open()


def load_recording(path: Path) -> Records:
    with _open(path) as fh:
        last_ts = 0
        for lineno, line in enumerate(fh, start=1):
            topic = "mkt.perp"
            try:
                record = json.loads(line)
                topic = str(record["topic"])
                value = json.dumps(record["value"])
                if topic.endswith("mkt.funding"):
                    funding = FundingEvent.decode(value)
                    last_ts = funding.ts
                    yield funding
                else:
                    batch = MarketBatch.decode(value)
                    last_ts = batch.last_ts
                    yield from batch_events(batch)
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                yield Malformed(
                    str(path), lineno, f"bad recorded message: {reason}", line[:2000], topic, last_ts
                )
