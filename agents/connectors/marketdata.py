"""Normalised market events and the per-symbol micro-batcher (pure: no broker, no clock).

Loaders (``agents.connectors.recordings``) and live connectors yield :class:`MarketEvent` with
exact Decimal prices, :class:`~topics.market.FundingEvent` and :class:`Malformed` records.
:class:`MicroBatcher` turns a time-ordered stream of ticks into one
:class:`~topics.market.MarketBatch` per symbol per event-time window (DESIGN §1.7): a batch closes
when the stream's event time passes ``first_ts + window_ms`` or when it holds ``max_ticks`` rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chimera.model import Market
from topics.market import LEVEL_COLUMNS, OPTIONAL_COLUMNS, MarketBatch, TickKind

NAN = math.nan
Level = tuple[Decimal, Decimal]  # (price, size)


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """One tick. Money fields are exact; ``None`` means the event does not carry that value."""

    ts: int
    symbol: str
    market: Market
    kind: TickKind
    price: Decimal | None = None
    qty: Decimal | None = None
    side: int = 0
    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_qty: Decimal | None = None
    ask_qty: Decimal | None = None
    mark: Decimal | None = None
    bids: tuple[Level, ...] = ()  # best first
    asks: tuple[Level, ...] = ()


@dataclass(frozen=True, slots=True)
class Malformed:
    """A record a loader could not use; it goes to ``dlq.<topic>`` with ``reason``."""

    file: str
    line: int
    reason: str
    raw: str
    topic: str  # the logical topic the record was meant for
    ts: int = 0  # last good event time before it, so a time-ordered merge keeps it in place

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


def _f(value: Decimal | None) -> float:
    return NAN if value is None else float(value)


@dataclass(slots=True)
class _Open:
    """The rows of one symbol's open batch, column by column."""

    first_ts: int
    cols: dict[str, list[Any]] = field(default_factory=dict)
    ts: list[int] = field(default_factory=list)
    kind: list[TickKind] = field(default_factory=list)
    side: list[int] = field(default_factory=list)
    has_levels: bool = False
    present: set[str] = field(default_factory=set)  # optional columns some row has


_FLOAT_COLUMNS = ("price", "qty", *OPTIONAL_COLUMNS)
_QUOTE_COLUMNS = ("bid", "ask", "bid_qty", "ask_qty", "mid", "spread_bp")


class MicroBatcher:
    """Group ticks into per-symbol columnar batches by event-time window and size."""

    def __init__(self, window_ms: int, max_ticks: int, levels: int = 5) -> None:
        if window_ms < 0 or max_ticks < 1 or levels < 1:
            raise ValueError("window_ms must be >= 0, max_ticks and levels >= 1")
        self.window_ms = window_ms
        self.max_ticks = max_ticks
        self.levels = levels
        self._open: dict[tuple[Market, str], _Open] = {}
        self._seq: dict[tuple[Market, str], int] = {}
        self._last_ts: dict[tuple[Market, str], int] = {}

    def add(self, ev: MarketEvent) -> list[MarketBatch]:
        """Add one tick; return the batches it closed (other symbols' windows included)."""
        key = (ev.market, ev.symbol)
        last = self._last_ts.get(key)
        if last is not None and ev.ts < last:
            raise ValueError(f"{ev.symbol} {ev.market}: event time went back from {last} to {ev.ts}")
        self._last_ts[key] = ev.ts
        out = [self._close(k) for k, o in list(self._open.items()) if ev.ts >= o.first_ts + self.window_ms]
        rows = self._open.get(key)
        if rows is None:
            rows = self._open[key] = _Open(first_ts=ev.ts, cols={c: [] for c in _FLOAT_COLUMNS})
        self._append(rows, ev)
        if len(rows.ts) >= self.max_ticks:
            out.append(self._close(key))
        return out

    def flush(self) -> list[MarketBatch]:
        """Close every open batch (end of input)."""
        return [self._close(k) for k in list(self._open)]

    def _append(self, rows: _Open, ev: MarketEvent) -> None:
        c = rows.cols
        rows.ts.append(ev.ts)
        rows.kind.append(ev.kind)
        rows.side.append(ev.side)
        c["price"].append(NAN if ev.price is None else float(ev.price))
        c["qty"].append(NAN if ev.qty is None else float(ev.qty))
        if ev.mark is not None:
            rows.present.add("mark")
        c["mark"].append(NAN if ev.mark is None else float(ev.mark))
        bid, ask = ev.bid, ev.ask
        bid_qty, ask_qty = ev.bid_qty, ev.ask_qty
        top = self.levels
        if ev.bids or ev.asks:
            bids, asks = ev.bids[:top], ev.asks[:top]
            if bids:
                bid, bid_qty = bids[0]
            if asks:
                ask, ask_qty = asks[0]
            if not rows.has_levels:
                # earlier rows of this batch had no book: pad them so every row has `levels` entries
                for name in LEVEL_COLUMNS:
                    c[name] = [[NAN] * top for _ in range(len(rows.ts) - 1)]
                rows.has_levels = True
                rows.present.update(("depth_bid", "depth_ask"))
            c["bid_px"].append(_pad([float(p) for p, _ in bids], top))
            c["bid_sz"].append(_pad([float(q) for _, q in bids], top))
            c["ask_px"].append(_pad([float(p) for p, _ in asks], top))
            c["ask_sz"].append(_pad([float(q) for _, q in asks], top))
            c["depth_bid"].append(float(sum((q for _, q in bids), Decimal(0))))
            c["depth_ask"].append(float(sum((q for _, q in asks), Decimal(0))))
        else:
            c["depth_bid"].append(NAN)
            c["depth_ask"].append(NAN)
            if rows.has_levels:
                for name in LEVEL_COLUMNS:
                    c[name].append([NAN] * top)
        if bid is None and ask is None:
            for name in _QUOTE_COLUMNS:
                c[name].append(NAN)
            return
        rows.present.update(_QUOTE_COLUMNS)
        fbid, fask = _f(bid), _f(ask)
        mid = (fbid + fask) / 2.0
        c["bid"].append(fbid)
        c["ask"].append(fask)
        c["bid_qty"].append(_f(bid_qty))
        c["ask_qty"].append(_f(ask_qty))
        c["mid"].append(mid)
        c["spread_bp"].append((fask - fbid) / mid * 1e4 if mid else NAN)

    def _close(self, key: tuple[Market, str]) -> MarketBatch:
        rows = self._open.pop(key)
        seq = self._seq.get(key, 0)
        self._seq[key] = seq + 1
        optional = {name: rows.cols[name] for name in rows.present}
        if rows.has_levels:
            optional.update({name: rows.cols[name] for name in LEVEL_COLUMNS})
        return MarketBatch.model_validate(
            {
                "symbol": key[1],
                "market": key[0],
                "seq": seq,
                "first_ts": rows.ts[0],
                "last_ts": rows.ts[-1],
                "ts": rows.ts,
                "kind": rows.kind,
                "price": rows.cols["price"],
                "qty": rows.cols["qty"],
                "side": rows.side,
                **optional,
            }
        )


def _pad(values: list[float], n: int) -> list[float]:
    return values + [NAN] * (n - len(values))
