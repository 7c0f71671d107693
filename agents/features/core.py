"""S2's pure core: ``step(state, ticks, cfg) -> (state, feature events)``, one event per closed bar.

Definitions (all over closed bars, in event time; intervals without a priced tick make no bar and
no return is invented for them — the next bar's return spans the gap and is flagged GAP):

- ``ret_1``: ``log(close / previous close)``; null on a symbol's first bar.
- ``atr``: Wilder's ATR over ``atr_n`` bars. True range is ``max(H-L, |H-C_prev|, |L-C_prev|)``,
  and ``H-L`` on the first bar. The first ATR, on bar ``atr_n``, is the mean of the first
  ``atr_n`` true ranges; then ``ATR = (ATR_prev * (n-1) + TR) / n``. Null before.
- ``rv``: sample std (ddof=1) of the last ``rv_window`` returns, times ``sqrt(365 d / interval)``
  when ``rv_annualise``. Null until ``rv_window`` returns exist.
- ``rho``: Pearson correlation of this symbol's returns with the reference series' returns over
  the pairs, among this symbol's last ``rho_window`` returns, whose reference return spans the same
  two bars; null below ``rho_min_pairs`` pairs. A reference bar closes on a later reference tick
  or once this symbol's event time passes its end, so the shell must feed a time window's
  reference ticks before the symbol's own (up to ``REF_LEAD_WINDOWS`` rho windows ahead); a
  reference fed late only loses pairs.
- ``ema_fast`` / ``ema_slow``: ``EMA += a * (close - EMA)`` with ``a = 2 / (span + 1)``, seeded with
  the first close (pandas ``ewm(span, adjust=False)``).
- ``spread_bp`` (last in bar), ``spread_bp_mean`` (mean over the bar's book rows), ``depth`` (last
  summed top-k bid+ask size in the bar); null when the bar saw no book row.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from dataclasses import replace
from typing import TypedDict

import numpy as np

from agents.features.bars import BarColumns, aggregate, close_due
from agents.features.config import FeatureConfig
from agents.features.dqc import flags_for
from agents.features.state import FeatureState, SeriesState
from agents.features.ticks import TickArrays
from agents.features.windows import rho_series, rolling_std


class FeatureEvent(TypedDict):
    """What S2 publishes on ``feat.events`` (keyed by symbol) and records in ``signals``."""

    signal_id: str
    t0: int  # bar close, epoch ms
    symbol: str
    features: dict[str, float | int | None]  # keys: FEATURES; null while a window warms up
    dqc: list[str]  # Dqc values
    config_rev: str


REF_LEAD_WINDOWS = 10  # how many rho windows the reference may run ahead before losing pairs
# the keys of an event's ``features``, in the order _close_main builds their values (NaN -> None)
FEATURES = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "n_ticks",
    "ret_1",
    "atr",
    "rv",
    "rho",
    "spread_bp",
    "spread_bp_mean",
    "depth",
    "ema_fast",
    "ema_slow",
    "gap_bars",
)


def _signal_id(symbol: str, t0: int, rev: str) -> str:
    """``chimera.model.signal_id_for(symbol, t0, rev)``, inlined: it is a quarter of the core's time
    per bar through the generic ``stable_hash`` (a test holds the two equal)."""
    digest = hashlib.blake2b(f"{symbol}\x1f{t0}\x1f{rev}".encode(), digest_size=16).hexdigest()
    return f"sig-{symbol}-{t0}-{digest[:8]}"


def step(
    state: FeatureState, ticks: TickArrays, cfg: FeatureConfig
) -> tuple[FeatureState, list[FeatureEvent]]:
    """Fold a batch of the symbol's own ticks in; emit one feature event per bar that closed."""
    ref = state.ref
    if len(ticks) and ref.open_bar.bucket >= 0:
        # event time is the venue's for both series: a reference bar that ended before this batch's
        # last tick is complete (its ticks were fed first), so it joins the pairs of this batch's bars
        ref_closed, ref_open = close_due(ref.open_bar, int(ticks.ts[-1]), cfg.interval_ms)
        if ref_closed.bucket:
            ref = _close_reference(replace(ref, open_bar=ref_open), ref_closed, state.main, cfg)
    main = state.main
    closed, open_bar, late = aggregate(main.open_bar, ticks, cfg.interval_ms, main.prev_bucket + 1)
    main = replace(
        main,
        open_bar=open_bar,
        late_ticks=main.late_ticks + late,
        late_unreported=main.late_unreported + late,
    )
    if not closed.bucket:
        return replace(state, main=main, ref=ref), []
    main, events = _close_main(state.symbol, main, closed, ref, cfg)
    return replace(state, main=main, ref=_prune_reference(ref, main, cfg)), events


def step_reference(state: FeatureState, ticks: TickArrays, cfg: FeatureConfig) -> FeatureState:
    """Fold a batch of the reference series' ticks in (its bars only feed ``rho``)."""
    ref = state.ref
    closed, open_bar, late = aggregate(ref.open_bar, ticks, cfg.interval_ms, ref.prev_bucket + 1)
    ref = replace(ref, open_bar=open_bar, late_ticks=ref.late_ticks + late)
    return replace(state, ref=_close_reference(ref, closed, state.main, cfg))


def advance(state: FeatureState, now_ms: int, cfg: FeatureConfig) -> tuple[FeatureState, list[FeatureEvent]]:
    """Close bars whose interval event time ``now_ms`` has passed, e.g. from a timer in a quiet market."""
    ref = state.ref
    ref_closed, ref_open = close_due(ref.open_bar, now_ms, cfg.interval_ms)
    if ref_closed.bucket:
        ref = _close_reference(replace(ref, open_bar=ref_open), ref_closed, state.main, cfg)
    closed, open_bar = close_due(state.main.open_bar, now_ms, cfg.interval_ms)
    main = replace(state.main, open_bar=open_bar)
    if not closed.bucket:
        return replace(state, main=main, ref=ref), []
    main, events = _close_main(state.symbol, main, closed, ref, cfg)
    return replace(state, main=main, ref=_prune_reference(ref, main, cfg)), events


def _close_reference(
    ref: SeriesState, closed: BarColumns, main: SeriesState, cfg: FeatureConfig
) -> SeriesState:
    buckets, prevs, rets = list(ref.ret_bucket), list(ref.ret_prev), list(ref.ret)
    pb, pc, n = ref.prev_bucket, ref.prev_close, ref.bars
    bars = closed.priced()
    for bucket, close in zip(bars.bucket, bars.close, strict=True):
        if n:
            buckets.append(bucket)
            prevs.append(pb)
            rets.append(math.log(close / pc))
        pb, pc, n = bucket, close, n + 1
    new = replace(
        ref,
        bars=n,
        prev_bucket=pb,
        prev_close=pc,
        ret_bucket=tuple(buckets),
        ret_prev=tuple(prevs),
        ret=tuple(rets),
    )
    return _prune_reference(new, main, cfg)


def _prune_reference(ref: SeriesState, main: SeriesState, cfg: FeatureConfig) -> SeriesState:
    """Keep the reference returns a later rho window of the symbol can still pair with: from the
    oldest return of its newest window on, however far ahead, up to ``REF_LEAD_WINDOWS`` windows."""
    w = cfg.rho_window - 1
    oldest = main.ret_bucket[-w] if len(main.ret_bucket) >= w else -1
    cut = max(bisect.bisect_left(ref.ret_bucket, oldest), len(ref.ret) - REF_LEAD_WINDOWS * cfg.rho_window)
    if cut <= 0:
        return ref
    return replace(ref, ret_bucket=ref.ret_bucket[cut:], ret_prev=ref.ret_prev[cut:], ret=ref.ret[cut:])


def _close_main(
    symbol: str, s: SeriesState, closed: BarColumns, ref: SeriesState, cfg: FeatureConfig
) -> tuple[SeriesState, list[FeatureEvent]]:
    bars = closed.priced()
    n_atr, a_fast, a_slow = cfg.atr_n, 2.0 / (cfg.ema_fast + 1), 2.0 / (cfg.ema_slow + 1)
    nb, pb, pc, tr_sum = s.bars, s.prev_bucket, s.prev_close, s.tr_sum
    atr, ef, es = s.atr, s.ema_fast, s.ema_slow
    buckets, prevs, rets = list(s.ret_bucket), list(s.ret_prev), list(s.ret)
    n_hist = len(rets)
    per_bar: list[tuple[float, int, float, float, float]] = []
    for bucket, h, lo, c in zip(bars.bucket, bars.high, bars.low, bars.close, strict=True):
        if nb == 0:
            tr, ret, gap = h - lo, math.nan, 0
            ef = es = c
        else:
            tr = max(h - lo, abs(h - pc), abs(lo - pc))
            ret, gap = math.log(c / pc), bucket - pb - 1
            buckets.append(bucket)
            prevs.append(pb)
            rets.append(ret)
            ef += a_fast * (c - ef)
            es += a_slow * (c - es)
        nb += 1
        if nb < n_atr:
            tr_sum += tr
        elif nb == n_atr:
            tr_sum += tr
            atr = tr_sum / n_atr
        else:
            atr = (atr * (n_atr - 1) + tr) / n_atr
        per_bar.append((ret, gap, atr, ef, es))
        pb, pc = bucket, c

    n_new = len(rets) - n_hist
    sig = rolling_std(np.asarray(rets, dtype=np.float64), n_new, cfg.rv_window).tolist()
    ref_spans = (ref.ret_bucket, ref.ret_prev, ref.ret)
    rho = rho_series((buckets, prevs, rets), n_new, ref_spans, cfg.rho_window, cfg.rho_min_pairs)
    events: list[FeatureEvent] = []
    sigma_prev, late, r, annual = s.sigma, s.late_unreported, 0, cfg.annualisation
    rev, interval = cfg.config_rev, cfg.interval_ms
    for i, (ret, gap, atr_v, ef_v, es_v) in enumerate(per_bar):
        sigma = rho_v = math.nan
        if ret == ret:  # not NaN: the bar has a return
            sigma, rho_v = sig[r], rho[r]
            r += 1
        t0 = (bars.bucket[i] + 1) * interval
        quiet_ms = t0 - bars.last_ts[i]
        flags = flags_for(quiet_ms, gap, bars.crossed[i], ret, sigma_prev, late, atr_v, sigma, cfg)
        late = 0
        spread_n = bars.spread_n[i]
        values = (
            bars.open[i],
            bars.high[i],
            bars.low[i],
            bars.close[i],
            bars.volume[i],
            bars.n_price[i],
            ret,
            atr_v,
            sigma * annual,
            rho_v,
            bars.spread_last[i],
            bars.spread_sum[i] / spread_n if spread_n else math.nan,
            bars.depth_last[i],
            ef_v,
            es_v,
            gap,
        )
        events.append(
            {
                "signal_id": _signal_id(symbol, t0, rev),
                "t0": t0,
                "symbol": symbol,
                "features": dict(zip(FEATURES, [v if v == v else None for v in values])),  # noqa: B905
                "dqc": flags,
                "config_rev": rev,
            }
        )
        if ret == ret:
            sigma_prev = sigma
    keep = cfg.history
    new = replace(
        s,
        bars=nb,
        prev_bucket=pb,
        prev_close=pc,
        tr_sum=tr_sum,
        atr=atr,
        ema_fast=ef,
        ema_slow=es,
        sigma=sigma_prev,
        ret_bucket=tuple(buckets[-keep:]),
        ret_prev=tuple(prevs[-keep:]),
        ret=tuple(rets[-keep:]),
        late_unreported=late if not events else 0,
    )
    return new, events
