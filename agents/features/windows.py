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


def pearson(x: list[float], y: list[float]) -> float:
    """Pearson correlation of two equal-length lists; NaN when either is constant."""
    n = len(x)
    mx = math.fsum(x) / n
    my = math.fsum(y) / n
    sxy = sxx = syy = 0.0
    for a, b in zip(x, y, strict=True):
        da, db = a - mx, b - my
        sxy += da * db
        sxx += da * da
        syy += db * db
    if sxx == 0.0 or syy == 0.0:
        return math.nan
    return sxy / math.sqrt(sxx * syy)


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
    out: list[float] = []
    total = len(rets)
    for end in range(total - n_new + 1, total + 1):
        xs: list[float] = []
        ys: list[float] = []
        for i in range(max(0, end - window), end):
            y = ref_by_span.get((buckets[i], prevs[i]))
            if y is not None:
                xs.append(rets[i])
                ys.append(y)
        out.append(pearson(xs, ys) if len(xs) >= min_pairs else math.nan)
    return out
