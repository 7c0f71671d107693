"""Event-time bars from ticks, incrementally: a bar closes when a tick of a later interval arrives
(or when ``close_due`` is told event time has passed its end).

Extremes, first and last values are found with vectorised NumPy per interval; sums (volume,
spread) are added tick by tick in arrival order, starting from the carried partial sum, so any
split of a series into batches produces bit-identical bars. Closed bars come back as columns
(one list per field): building a frozen record per bar would cost more than the arithmetic.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import fields
from typing import Any, NamedTuple, cast

import numpy as np

from agents.features.state import EMPTY_BAR, Bar
from agents.features.ticks import TickArrays

BAR_FIELDS = tuple(f.name for f in fields(Bar))
LOOP_TICKS = 256  # batches up to this many ticks are cut into bars by a Python loop, larger by NumPy
FEW_INTERVALS = 3  # larger batches of up to this many intervals: a few NumPy calls per interval
SUM_LOOP_ROWS = 32  # segments of up to this many rows on average are summed by a Python loop


class BarColumns(NamedTuple):
    """Closed bars, one list per ``Bar`` field, in bar order."""

    bucket: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    n_price: list[int]
    volume: list[float]
    spread_sum: list[float]
    spread_n: list[int]
    spread_last: list[float]
    depth_last: list[float]
    crossed: list[bool]
    last_ts: list[int]

    @classmethod
    def of(cls, bars: list[Bar]) -> BarColumns:
        return _columns([[getattr(b, name) for b in bars] for name in BAR_FIELDS])

    def priced(self) -> BarColumns:
        """Drop bars without a price: an interval of book rows only is not a bar."""
        if all(self.n_price):
            return self
        keep = [i for i, n in enumerate(self.n_price) if n]
        return _columns([[col[i] for i in keep] for col in self])

    def row(self, i: int) -> Bar:
        values: list[Any] = [col[i] for col in self]
        return Bar(*values)


def _columns(cols: list[list[Any]]) -> BarColumns:
    return BarColumns(*cols)


def _seq_sums(values: np.ndarray, rows: np.ndarray, bounds: list[int], first_start: float) -> list[float]:
    """Left-to-right sum of ``values[rows[bounds[k]:bounds[k+1]]]`` per segment k (the first from
    ``first_start``): np.sum's pairwise order would change with the batch split. Long segments (a
    dense stream's bars) are summed by ``np.add.accumulate``, which adds one element after the
    other: the same additions in the same order as the loop, so the same bits. Short ones (a few
    ticks per bar) by one Python loop, cheaper than a NumPy call per segment."""
    n_seg = len(bounds) - 1
    out: list[float] = []
    start = first_start
    if bounds[-1] - bounds[0] <= SUM_LOOP_ROWS * n_seg:
        vals, idx = values.tolist(), rows.tolist()
        for k in range(n_seg):
            s = start
            for i in idx[bounds[k] : bounds[k + 1]]:
                s += vals[i]
            out.append(s)
            start = 0.0
        return out
    for k in range(n_seg):
        lo, hi = bounds[k], bounds[k + 1]
        seg = np.empty(hi - lo + 1)
        seg[0] = start
        np.take(values, rows[lo:hi], out=seg[1:])
        out.append(float(np.add.accumulate(seg)[-1]))
        start = 0.0
    return out


def _last_in(valid_idx: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the last valid row in each ``[start, end)``, or -1."""
    pos = np.searchsorted(valid_idx, ends) - 1
    out = np.full(len(starts), -1, dtype=np.int64)
    ok = pos >= 0
    ok[ok] = valid_idx[pos[ok]] >= starts[ok]
    out[ok] = valid_idx[pos[ok]]
    return out


def _pick(values: np.ndarray | None, at: np.ndarray) -> list[float]:
    if values is None:
        return [np.nan] * len(at)
    return np.where(at >= 0, values[np.maximum(at, 0)], np.nan).tolist()


def aggregate(
    open_bar: Bar, ticks: TickArrays, interval_ms: int, first_open: int = 0
) -> tuple[BarColumns, Bar, int]:
    """Fold ticks into the open bar; return the bars closed, the new open bar and the late-tick count.

    Ticks of an interval before the open bar's, or before ``first_open`` (the interval after the
    last closed bar), belong to a bar already closed: they are dropped and counted, never folded
    into a wrong bar or a second bar of the same interval.
    """
    bucket = ticks.ts // interval_ms
    late = 0
    floor = max(open_bar.bucket, first_open)
    if len(bucket) and bucket[0] < floor:
        late = int(np.searchsorted(bucket, floor, side="left"))
        ticks, bucket = ticks.slice(late, len(ticks)), bucket[late:]
    n = len(bucket)
    if n == 0:
        return BarColumns.of([]), open_bar, late
    if bucket[0] == bucket[-1]:
        return _one_interval(open_bar, int(bucket[0]), ticks, late)

    if n > LOOP_TICKS:
        cuts = (np.flatnonzero(bucket[1:] != bucket[:-1]) + 1).tolist()
        if len(cuts) < FEW_INTERVALS:
            return (*_by_interval(open_bar, ticks, bucket, [0, *cuts, n]), late)
    merge = bool(bucket[0] == open_bar.bucket)
    carry = open_bar if merge else EMPTY_BAR
    seg = _segments_loop(ticks, bucket, carry) if n <= LOOP_TICKS else _segments(ticks, bucket, carry, merge)
    cols: list[list[Any]] = list(seg)
    if merge:
        merged = _merge(open_bar, seg.row(0))
        for col, name in zip(cols, BAR_FIELDS, strict=True):
            col[0] = getattr(merged, name)
    elif open_bar.bucket >= 0:
        cols = [[getattr(open_bar, name), *col] for col, name in zip(cols, BAR_FIELDS, strict=True)]
    last = _columns([[col[-1]] for col in cols]).row(0)
    return _columns([col[:-1] for col in cols]), last, late


def _segments(ticks: TickArrays, bucket: np.ndarray, carry: Bar, merge: bool) -> BarColumns:
    """One bar per interval of ``ticks`` (``bucket`` its ids; several of them), the first one's sums
    started from ``carry``'s: with vectorised NumPy per interval, for large batches."""
    n = len(bucket)
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.append(starts[1:], n)
    price = ticks.price
    has_px = ~np.isnan(price)
    px_idx = np.flatnonzero(has_px)
    px_bounds = np.searchsorted(px_idx, np.append(starts, n))
    n_px = np.diff(px_bounds)
    first_at = last_at = np.full(len(starts), -1, dtype=np.int64)
    if len(px_idx):
        first_at = np.where(n_px > 0, px_idx[np.minimum(px_bounds[:-1], len(px_idx) - 1)], -1)
        last_at = np.where(n_px > 0, px_idx[np.maximum(px_bounds[1:] - 1, 0)], -1)
    seg = BarColumns(
        bucket=bucket[starts].tolist(),
        open=_pick(price, first_at),
        high=np.where(n_px > 0, np.fmax.reduceat(price, starts), np.nan).tolist(),
        low=np.where(n_px > 0, np.fmin.reduceat(price, starts), np.nan).tolist(),
        close=_pick(price, last_at),
        n_price=n_px.tolist(),
        volume=_seq_sums(ticks.qty, px_idx, px_bounds.tolist(), carry.volume),
        spread_sum=[0.0] * len(starts),
        spread_n=[0] * len(starts),
        spread_last=[np.nan] * len(starts),
        depth_last=_pick(ticks.depth, _last_in(np.flatnonzero(~np.isnan(ticks.depth)), starts, ends))
        if ticks.depth is not None
        else [np.nan] * len(starts),
        crossed=np.logical_or.reduceat(ticks.bid >= ticks.ask, starts).tolist()
        if ticks.bid is not None and ticks.ask is not None
        else [False] * len(starts),
        last_ts=ticks.ts[ends - 1].tolist(),
    )
    if ticks.spread_bp is not None:
        sp_idx = np.flatnonzero(~np.isnan(ticks.spread_bp))
        sp_bounds = np.searchsorted(sp_idx, np.append(starts, n))
        seg.spread_sum[:] = _seq_sums(ticks.spread_bp, sp_idx, sp_bounds.tolist(), carry.spread_sum)
        seg.spread_n[:] = np.diff(sp_bounds).tolist()
        seg.spread_last[:] = _pick(ticks.spread_bp, _last_in(sp_idx, starts, ends))
    elif merge:
        seg.spread_sum[0] = carry.spread_sum

    return seg


def _segments_loop(ticks: TickArrays, bucket: np.ndarray, carry: Bar) -> BarColumns:
    """:func:`_segments` one tick after the other over Python floats: on a micro-batch of a few
    dozen ticks, cheaper than NumPy's per-call cost (the same comparisons and the same sums in the
    same order, so the same bars bit for bit: a test holds the two equal)."""
    nan = math.nan
    rows: list[tuple[Any, ...]] = []  # one per bar, in BAR_FIELDS order
    spread = None if ticks.spread_bp is None else ticks.spread_bp.tolist()
    depth = None if ticks.depth is None else ticks.depth.tolist()
    crossed = None if ticks.bid is None or ticks.ask is None else (ticks.bid >= ticks.ask).tolist()
    qty = ticks.qty.tolist()
    ts = ticks.ts.tolist()
    buckets = bucket.tolist()
    cur = buckets[0]
    o = h = lo = c = s_last = d_last = nan
    n_px, vol, s_sum, s_n, cross = 0, carry.volume, carry.spread_sum, 0, False
    for i, p in enumerate(ticks.price.tolist()):
        b = buckets[i]
        if b != cur:  # the previous interval's bar is complete
            rows.append((cur, o, h, lo, c, n_px, vol, s_sum, s_n, s_last, d_last, cross, ts[i - 1]))
            o = h = lo = c = s_last = d_last = nan
            n_px, vol, s_sum, s_n, cross, cur = 0, 0.0, 0.0, 0, False, b
        if p == p:  # a priced row
            if n_px:
                if p > h:
                    h = p
                if p < lo:
                    lo = p
            else:
                o = h = lo = p
            c = p
            n_px += 1
            vol += qty[i]
        if spread is not None:
            sp = spread[i]
            if sp == sp:
                s_sum += sp
                s_n += 1
                s_last = sp
        if depth is not None and depth[i] == depth[i]:
            d_last = depth[i]
        if crossed is not None and crossed[i]:
            cross = True
    rows.append((cur, o, h, lo, c, n_px, vol, s_sum, s_n, s_last, d_last, cross, ts[-1]))
    return _columns([list(col) for col in zip(*rows, strict=True)])


def _by_interval(
    open_bar: Bar, ticks: TickArrays, bucket: np.ndarray, bounds: list[int]
) -> tuple[BarColumns, Bar]:
    """A large batch of a few intervals (a dense stream's batch across a bar's end): each interval's
    rows by :func:`_one_interval`, as if they had come as batches of their own (any split gives the
    same bars), in fewer NumPy calls than :func:`_segments` makes for the whole batch."""
    closed: list[list[Any]] = [[] for _ in BAR_FIELDS]
    bar = open_bar
    for lo, hi in itertools.pairwise(bounds):
        done, bar, _ = _one_interval(bar, int(bucket[lo]), ticks.slice(lo, hi), 0)
        for col, new in zip(closed, list(done), strict=True):
            col.extend(cast(list[Any], new))
    return _columns(closed), bar


def _one_interval(open_bar: Bar, b: int, ticks: TickArrays, late: int) -> tuple[BarColumns, Bar, int]:
    """A batch inside one interval (the usual case of a dense stream), with a few NumPy calls."""
    merge = b == open_bar.bucket
    carry = open_bar if merge else EMPTY_BAR
    price = ticks.price
    px_idx = np.flatnonzero(~np.isnan(price))
    n_px = len(px_idx)
    o = h = lo = c = math.nan
    if n_px:
        px = price[px_idx]
        o, h, lo, c = float(px[0]), float(px.max()), float(px.min()), float(px[-1])
    sp_sum, sp_n, sp_last = carry.spread_sum, 0, math.nan
    if ticks.spread_bp is not None:
        sp_idx = np.flatnonzero(~np.isnan(ticks.spread_bp))
        sp_n = len(sp_idx)
        sp_sum = _seq_sums(ticks.spread_bp, sp_idx, [0, sp_n], carry.spread_sum)[0]
        sp_last = float(ticks.spread_bp[sp_idx[-1]]) if sp_n else math.nan
    depth_last = math.nan
    if ticks.depth is not None:
        d_idx = np.flatnonzero(~np.isnan(ticks.depth))
        depth_last = float(ticks.depth[d_idx[-1]]) if len(d_idx) else math.nan
    new = Bar(
        bucket=b,
        open=o,
        high=h,
        low=lo,
        close=c,
        n_price=n_px,
        volume=_seq_sums(ticks.qty, px_idx, [0, n_px], carry.volume)[0],
        spread_sum=sp_sum,
        spread_n=sp_n,
        spread_last=sp_last,
        depth_last=depth_last,
        crossed=ticks.bid is not None and ticks.ask is not None and bool(np.any(ticks.bid >= ticks.ask)),
        last_ts=int(ticks.ts[-1]),
    )
    if merge:
        return BarColumns.of([]), _merge(open_bar, new), late
    return BarColumns.of([open_bar] if open_bar.bucket >= 0 else []), new, late


def _merge(cur: Bar, new: Bar) -> Bar:
    """Extend the carried open bar with the same interval's first segment of this batch (whose sums
    were already started from the carried ones)."""
    if not cur.n_price:
        o, h, lo, c = new.open, new.high, new.low, new.close
    elif not new.n_price:
        o, h, lo, c = cur.open, cur.high, cur.low, cur.close
    else:
        o, h, lo, c = cur.open, max(cur.high, new.high), min(cur.low, new.low), new.close
    return Bar(
        bucket=cur.bucket,
        open=o,
        high=h,
        low=lo,
        close=c,
        n_price=cur.n_price + new.n_price,
        volume=new.volume,
        spread_sum=new.spread_sum,
        spread_n=cur.spread_n + new.spread_n,
        spread_last=new.spread_last if new.spread_n else cur.spread_last,
        depth_last=cur.depth_last if new.depth_last != new.depth_last else new.depth_last,
        crossed=cur.crossed or new.crossed,
        last_ts=new.last_ts,
    )


def close_due(open_bar: Bar, now_ms: int, interval_ms: int) -> tuple[BarColumns, Bar]:
    """Close the open bar if event time ``now_ms`` has reached its end (a quiet market's timer)."""
    if open_bar.bucket >= 0 and now_ms >= (open_bar.bucket + 1) * interval_ms:
        return BarColumns.of([open_bar]), EMPTY_BAR
    return BarColumns.of([]), open_bar
