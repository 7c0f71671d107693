"""Window statistics whose value depends only on the window's contents, never on how the series
was split into batches: sums run left to right over each window (vectorised across windows)
instead of NumPy's pairwise reduction, whose rounding depends on the array's length."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def rolling_std(history: np.ndarray, n_new: int, window: int) -> np.ndarray:
    """Sample std (ddof=1) of each of the last ``n_new`` windows of ``history``; NaN when short.

    ``history`` ends with the ``n_new`` values whose windows are wanted.
    """
    if n_new == 0:
        return np.empty(0)
    need = window - 1 + n_new
    pad = max(0, need - len(history))
    h = history[len(history) - (need - pad) :]
    if pad:
        h = np.concatenate((np.full(pad, np.nan), h))
    if n_new == 1:  # one window: a 1-D sum, which add.reduce would do pairwise
        mean1 = np.add.accumulate(h)[-1] / window
        d = h - mean1
        return np.sqrt(np.add.accumulate(d * d)[-1:] / (window - 1))
    # windows as COLUMNS of a C-ordered (window, n_new) array: add.reduce over axis 0 adds one row at
    # a time to all columns, i.e. each window strictly left to right (as add.accumulate along a row
    # would, at a third of its cost: the reduction axis is never the inner loop NumPy sums pairwise)
    w = h[np.arange(window)[:, None] + np.arange(n_new)[None, :]]
    mean = np.add.reduce(w, axis=0) / window
    dev = w - mean
    return np.sqrt(np.add.reduce(dev * dev, axis=0) / (window - 1))


def rho_series(
    spans: tuple[list[int], list[int], list[float]],
    n_new: int,
    ref_spans: tuple[tuple[int, ...], tuple[int, ...], tuple[float, ...]],
    window: int,
    min_pairs: int,
) -> list[float]:
    """Pearson ρ for each of the last ``n_new`` returns of ``spans`` (bucket, previous bucket,
    return) against the reference returns spanning the same two bars, over the pairs found among
    the last ``window`` returns; NaN below ``min_pairs`` pairs."""
    buckets, prevs, rets = spans
    if not ref_spans[2] or n_new == 0:
        return [math.nan] * n_new
    ref_by_span = dict(zip(zip(ref_spans[0], ref_spans[1], strict=True), ref_spans[2], strict=True))
    total = len(rets)
    first = max(0, total - n_new - window + 1)
    ys = [ref_by_span.get(k, math.nan) for k in zip(buckets[first:], prevs[first:], strict=True)]
    pad = np.full(max(0, n_new + window - 1 - len(ys)), np.nan)
    xw = sliding_window_view(np.concatenate((pad, rets[first:])), window)
    yw = sliding_window_view(np.concatenate((pad, ys)), window)
    both = ~(np.isnan(xw) | np.isnan(yw))
    n = both.sum(axis=1)
    # sequential sums over each window, with unpaired slots as 0.0, as in rolling_std
    x0, y0 = np.where(both, xw, 0.0), np.where(both, yw, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.add.accumulate(x0, axis=1)[:, -1] / n
        my = np.add.accumulate(y0, axis=1)[:, -1] / n
        dx = np.where(both, xw - mx[:, None], 0.0)
        dy = np.where(both, yw - my[:, None], 0.0)
        sxy = np.add.accumulate(dx * dy, axis=1)[:, -1]
        sxx = np.add.accumulate(dx * dx, axis=1)[:, -1]
        syy = np.add.accumulate(dy * dy, axis=1)[:, -1]
        rho = sxy / np.sqrt(sxx * syy)
    rho[(n < min_pairs) | (sxx == 0.0) | (syy == 0.0)] = np.nan
    return list(rho.tolist())
