"""Normalised market events and the per-symbol micro-batcher (pure: no broker, no clock).

Loaders (``agents.connectors.recordings``) and live connectors yield :class:`MarketEvent` with
exact Decimal prices, :class:`~topics.market.FundingEvent` and :class:`Malformed` records.
:class:`MicroBatcher` turns a time-ordered stream of ticks into one
:class:`~topics.market.MarketBatch` per symbol per event-time window (DESIGN §1.7): a batch closes
when the stream's event time passes ``first_ts + window_ms``, when it holds ``max_ticks`` rows, or
when its book rows reach ``BATCH_VALUES`` values (a size guard for deep books at replay sizes).

Each batch says when it was closed (``closed_ts``, MarketBatch v2), the time S4's paper venue moves
to before the batch is handed on, as the in-process engine moves its venue at the batch timer. On
the event clock (a replay; ``at`` not given) that is the window's end for a window that ran out (a
timer firing on time, however late the next tick shows it), the filling tick for a full batch, and
the latest event time seen at the end of input. Live, the caller passes ``at``, its own clock when
it closes them; never before a batch's last tick (an exchange's stamps may run ahead of ours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chimera.model import Market
from topics.market import LEVEL_COLUMNS, MarketBatch, TickKind

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


# the columns of a row tuple, in order (levels are kept apart: most rows have none)
_ROW = ("ts", "kind", "side", "price", "qty", "mark", "bid", "ask", "bid_qty", "ask_qty", "mid", "spread_bp",
        "depth_bid", "depth_ask")  # fmt: skip
_QUOTE_COLUMNS = ("bid", "ask", "bid_qty", "ask_qty", "mid", "spread_bp")
_NO_QUOTE = (NAN, NAN, NAN, NAN, NAN, NAN)
_NO_DEPTH = (NAN, NAN)
# most values one batch holds in book rows: at <= 24 bytes a JSON number (17 digits, sign, exponent), 0.8 MB
BATCH_VALUES = 32_768


@dataclass(slots=True)
class _Open:
    """One symbol's open batch: a row tuple per tick, turned into columns when it closes."""

    first_ts: int
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    levels: list[tuple[list[float], ...] | None] = field(default_factory=list)
    present: set[str] = field(default_factory=set)  # optional columns some row has


class MicroBatcher:
    """Group ticks into per-symbol columnar batches by event-time window and size."""

    def __init__(self, window_ms: int, max_ticks: int, levels: int = 5) -> None:
        if window_ms < 0 or max_ticks < 1 or levels < 1:
            raise ValueError("window_ms must be >= 0, max_ticks and levels >= 1")
        self.window_ms = window_ms
        self.max_ticks = max_ticks
        self.levels = levels
        # from a batch's first book row on, every row carries 4 * levels level values (NaN-padded): a
        # batch closes at as many such rows as keep it within BATCH_VALUES (a replay's max_ticks of
        # thousands stays under the broker's 1 MB message limit at any depth; live it never binds)
        self.max_book_rows = max(1, BATCH_VALUES // (len(_ROW) + 4 * levels))
        self._open: dict[tuple[Market, str], _Open] = {}
        self._seq: dict[tuple[Market, str], int] = {}
        self._last_ts: dict[tuple[Market, str], int] = {}
        self._deadline = math.inf  # the earliest end of an open window
        self._now = 0  # the latest event time seen (any symbol)

    def add(self, ev: MarketEvent, at: int | None = None) -> list[MarketBatch]:
        """Add one tick; return the batches it closed (other symbols' windows included), closed
        ``at`` (live: the caller's clock; see the module's doc for the event clock's)."""
        key = (ev.market, ev.symbol)
        last = self._last_ts.get(key)
        if last is not None and ev.ts < last:
            raise ValueError(f"{ev.symbol} {ev.market}: event time went back from {last} to {ev.ts}")
        self._last_ts[key] = ev.ts
        self._now = max(self._now, ev.ts)
        out = self.close_due(ev.ts, at)
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Open(first_ts=ev.ts)
            self._deadline = min(self._deadline, ev.ts + self.window_ms)
        self._append(batch, ev)
        if len(batch.rows) >= self.max_ticks or len(batch.levels) >= self.max_book_rows:
            out.append(self._close(key, ev.ts if at is None else at))
        return out

    def close_due(self, ts: int, at: int | None = None) -> list[MarketBatch]:
        """Close the batches whose window ended by event time ``ts`` (a live connector's timer:
        a quiet symbol's batch must not wait for that symbol's next tick), each closed ``at`` or,
        on the event clock, at its window's end."""
        if ts < self._deadline:
            return []
        window = self.window_ms
        out = [
            self._close(k, o.first_ts + window if at is None else at)
            for k, o in list(self._open.items())
            if ts >= o.first_ts + window
        ]
        self._reset_deadline()
        return out

    def close_symbol(self, market: Market, symbol: str, at: int) -> list[MarketBatch]:
        """Close one symbol's open batch now, at ``at`` (before its funding settlement is
        published: whoever reads both sees the market up to the settlement first)."""
        if (market, symbol) not in self._open:
            return []
        out = [self._close((market, symbol), at)]
        self._reset_deadline()
        return out

    def _reset_deadline(self) -> None:
        self._deadline = min((o.first_ts + self.window_ms for o in self._open.values()), default=math.inf)

    def flush(self, at: int | None = None) -> list[MarketBatch]:
        """Close every open batch (end of input), ``at`` or at the latest event time seen."""
        self._deadline = math.inf
        closed_at = self._now if at is None else at
        return [self._close(k, closed_at) for k in list(self._open)]

    def _append(self, batch: _Open, ev: MarketEvent) -> None:
        head = (
            ev.ts,
            ev.kind,
            ev.side,
            NAN if ev.price is None else float(ev.price),
            NAN if ev.qty is None else float(ev.qty),
            NAN if ev.mark is None else float(ev.mark),
        )
        if ev.mark is not None:
            batch.present.add("mark")
        bid, ask, bid_qty, ask_qty = ev.bid, ev.ask, ev.bid_qty, ev.ask_qty
        depth = _NO_DEPTH
        if ev.bids or ev.asks:
            top = self.levels
            bids, asks = ev.bids[:top], ev.asks[:top]
            if bids:
                bid, bid_qty = bids[0]
            if asks:
                ask, ask_qty = asks[0]
            batch.levels.append(
                (
                    _pad([float(p) for p, _ in bids], top),
                    _pad([float(q) for _, q in bids], top),
                    _pad([float(p) for p, _ in asks], top),
                    _pad([float(q) for _, q in asks], top),
                )
            )
            depth = (
                float(sum((q for _, q in bids), Decimal(0))),
                float(sum((q for _, q in asks), Decimal(0))),
            )
            batch.present.update(("depth_bid", "depth_ask"))
        elif batch.levels:
            batch.levels.append(None)
        if bid is None and ask is None:
            batch.rows.append(head + _NO_QUOTE + depth)
            return
        batch.present.update(_QUOTE_COLUMNS)
        fbid, fask = _f(bid), _f(ask)
        mid = (fbid + fask) / 2.0
        spread = (fask - fbid) / mid * 1e4 if mid else NAN
        batch.rows.append((*head, fbid, fask, _f(bid_qty), _f(ask_qty), mid, spread, *depth))

    def _close(self, key: tuple[Market, str], closed_at: int) -> MarketBatch:
        batch = self._open.pop(key)
        seq = self._seq.get(key, 0)
        self._seq[key] = seq + 1
        cols = dict(zip(_ROW, map(list, zip(*batch.rows, strict=True)), strict=True))
        fields: dict[str, Any] = {name: cols[name] for name in ("ts", "kind", "side", "price", "qty")}
        fields.update((name, cols[name]) for name in batch.present)
        if batch.levels:
            empty = [NAN] * self.levels
            pad = [None] * (len(batch.rows) - len(batch.levels))  # rows before the first book row
            per_row = [lv or (empty, empty, empty, empty) for lv in pad + batch.levels]
            fields.update(zip(LEVEL_COLUMNS, map(list, zip(*per_row, strict=True)), strict=True))
        last_ts = fields["ts"][-1]
        fields.update(
            v=2,
            symbol=key[1],
            market=key[0],
            seq=seq,
            first_ts=fields["ts"][0],
            last_ts=last_ts,
            closed_ts=max(closed_at, last_ts),
        )
        return MarketBatch.model_validate(fields)


def _pad(values: list[float], n: int) -> list[float]:
    return values + [NAN] * (n - len(values))
