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
    pad = max(0, window - 1 + n_new - len(history))
    h = np.concatenate((np.full(pad, np.nan), history[len(history) - (window - 1 + n_new - pad) :]))
    w = sliding_window_view(h, window)
    # add.accumulate runs strictly left to right along each row; add.reduce would sum pairwise
    mean = np.add.accumulate(w, axis=1)[:, -1] / window
    dev = w - mean[:, None]
    ss = np.add.accumulate(dev * dev, axis=1)[:, -1]
    return np.sqrt(ss / (window - 1))


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
