"""Event-time bars from ticks, incrementally: a bar closes when a tick of a later interval arrives
(or when ``close_due`` is told event time has passed its end).

Extremes, first and last values are found with vectorised NumPy per interval; sums (volume,
spread) are added tick by tick in arrival order, starting from the carried partial sum, so any
split of a series into batches produces bit-identical bars.
"""

from __future__ import annotations

import math

import numpy as np

from agents.features.state import EMPTY_BAR, Bar
from agents.features.ticks import TickArrays


def _seq_sum(start: float, values: list[float]) -> float:
    # a plain left-to-right sum: np.sum's pairwise order would change with the batch split
    s = start
    for v in values:
        s += v
    return s


def _last_in(valid_idx: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the last valid row in each ``[start, end)``, or -1."""
    pos = np.searchsorted(valid_idx, ends) - 1
    out = np.full(len(starts), -1, dtype=np.int64)
    ok = pos >= 0
    ok[ok] = valid_idx[pos[ok]] >= starts[ok]
    out[ok] = valid_idx[pos[ok]]
    return out


def aggregate(open_bar: Bar, ticks: TickArrays, interval_ms: int) -> tuple[list[Bar], Bar, int]:
    """Fold ticks into the open bar; return the bars closed, the new open bar and the late-tick count.

    Ticks whose interval precedes the open bar's belong to a bar already closed: they are dropped
    and counted, never folded into a wrong bar.
    """
    bucket = ticks.ts // interval_ms
    late = 0
    if open_bar.bucket >= 0 and len(bucket) and bucket[0] < open_bar.bucket:
        keep = int(np.searchsorted(bucket, open_bar.bucket, side="left"))
        late, ticks, bucket = keep, ticks.slice(keep, len(ticks)), bucket[keep:]
    n = len(bucket)
    if n == 0:
        return [], open_bar, late

    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.append(starts[1:], n)
    price = ticks.price
    has_px = ~np.isnan(price)
    px_idx = np.flatnonzero(has_px)
    first_px = np.searchsorted(px_idx, starts)
    end_px = np.searchsorted(px_idx, ends)
    highs = np.maximum.reduceat(np.where(has_px, price, -np.inf), starts).tolist()
    lows = np.minimum.reduceat(np.where(has_px, price, np.inf), starts).tolist()

    px_list = price.tolist()
    qty_list = ticks.qty.tolist()
    px_rows = px_idx.tolist()
    crossed = [False] * len(starts)
    if ticks.bid is not None and ticks.ask is not None:
        crossed = np.logical_or.reduceat(ticks.bid >= ticks.ask, starts).tolist()
    spread_rows: list[int] = []
    sp_list: list[float] = []
    sp_first = sp_end = np.zeros(len(starts), dtype=np.int64)
    if ticks.spread_bp is not None:
        sp_idx = np.flatnonzero(~np.isnan(ticks.spread_bp))
        spread_rows, sp_list = sp_idx.tolist(), ticks.spread_bp.tolist()
        sp_first, sp_end = np.searchsorted(sp_idx, starts), np.searchsorted(sp_idx, ends)
    depth_at = np.full(len(starts), -1, dtype=np.int64)
    depth_list: list[float] = []
    if ticks.depth is not None:
        depth_at = _last_in(np.flatnonzero(~np.isnan(ticks.depth)), starts, ends)
        depth_list = ticks.depth.tolist()
    ts_list = ticks.ts.tolist()
    buckets = bucket[starts].tolist()

    closed: list[Bar] = []
    cur = open_bar
    for k, b in enumerate(buckets):
        if b != cur.bucket:
            if cur.bucket >= 0:
                closed.append(cur)
            cur = EMPTY_BAR
        p0, p1 = int(first_px[k]), int(end_px[k])
        rows = px_rows[p0:p1]
        s0, s1 = int(sp_first[k]), int(sp_end[k])
        sp_rows = spread_rows[s0:s1]
        n_px = cur.n_price + len(rows)
        if rows:
            o = cur.open if cur.n_price else px_list[rows[0]]
            h = highs[k] if not cur.n_price else max(cur.high, highs[k])
            lo = lows[k] if not cur.n_price else min(cur.low, lows[k])
            c = px_list[rows[-1]]
        else:
            o, h, lo, c = cur.open, cur.high, cur.low, cur.close
        d = int(depth_at[k])
        cur = Bar(
            bucket=b,
            open=o,
            high=h,
            low=lo,
            close=c,
            n_price=n_px,
            volume=_seq_sum(cur.volume, [qty_list[i] for i in rows]) if rows else cur.volume,
            spread_sum=_seq_sum(cur.spread_sum, [sp_list[i] for i in sp_rows]) if sp_rows else cur.spread_sum,
            spread_n=cur.spread_n + len(sp_rows),
            spread_last=sp_list[sp_rows[-1]] if sp_rows else cur.spread_last,
            depth_last=depth_list[d] if d >= 0 else cur.depth_last,
            crossed=cur.crossed or bool(crossed[k]),
            last_ts=ts_list[int(ends[k]) - 1],
        )
    return closed, cur, late


def close_due(open_bar: Bar, now_ms: int, interval_ms: int) -> tuple[list[Bar], Bar]:
    """Close the open bar if event time ``now_ms`` has reached its end (a quiet market's timer)."""
    if open_bar.bucket >= 0 and now_ms >= (open_bar.bucket + 1) * interval_ms:
        return [open_bar], EMPTY_BAR
    return [], open_bar


def bar_has_price(bar: Bar) -> bool:
    return bar.n_price > 0 and not math.isnan(bar.close)
