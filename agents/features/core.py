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
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import TypedDict

import numpy as np

from agents.features.bars import BarColumns, aggregate, close_due
from agents.features.config import FeatureConfig
from agents.features.dqc import flags_of
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


@dataclass(frozen=True, slots=True)
class EventColumns:
    """A batch's feature events as columns: ``values`` holds one list per :data:`FEATURES` name, in
    that order, NaN where the event says null. What :meth:`events` turns into dicts, and what
    ``agents.features.encode.encode_columns`` writes to the wire without them."""

    symbol: str
    config_rev: str
    t0: list[int]
    signal_id: list[str]
    values: list[list[float] | list[int]]
    dqc: list[list[str]]

    @classmethod
    def empty(cls, symbol: str, config_rev: str) -> EventColumns:
        return cls(symbol, config_rev, [], [], [[] for _ in FEATURES], [])

    def __len__(self) -> int:
        return len(self.t0)

    def events(self) -> list[FeatureEvent]:
        symbol, rev = self.symbol, self.config_rev
        return [
            {
                "signal_id": sid,
                "t0": t0,
                "symbol": symbol,
                "features": dict(zip(FEATURES, [v if v == v else None for v in row])),  # noqa: B905
                "dqc": flags,
                "config_rev": rev,
            }
            for sid, t0, flags, row in zip(
                self.signal_id, self.t0, self.dqc, zip(*self.values, strict=True), strict=True
            )
        ]


def _signal_ids(symbol: str, t0s: list[int], rev: str) -> list[str]:
    """``chimera.model.signal_id_for(symbol, t0, rev)`` of each ``t0``, inlined: through the generic
    ``stable_hash`` it was a quarter of the core's time per bar (a test holds the two equal)."""
    head, tail, prefix = f"{symbol}\x1f".encode(), f"\x1f{rev}".encode(), f"sig-{symbol}-"
    blake2b = hashlib.blake2b
    return [
        f"{prefix}{t}-{blake2b(b'%b%d%b' % (head, t, tail), digest_size=16).digest()[:4].hex()}" for t in t0s
    ]


def step(
    state: FeatureState, ticks: TickArrays, cfg: FeatureConfig
) -> tuple[FeatureState, list[FeatureEvent]]:
    """Fold a batch of the symbol's own ticks in; emit one feature event per bar that closed."""
    state, cols = step_columns(state, ticks, cfg)
    return state, cols.events()


def step_columns(
    state: FeatureState, ticks: TickArrays, cfg: FeatureConfig
) -> tuple[FeatureState, EventColumns]:
    """:func:`step` with the closed bars' events as columns (what the shell encodes, no dict per event)."""
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
        return replace(state, main=main, ref=ref), EventColumns.empty(state.symbol, cfg.config_rev)
    main, cols = _close_main(state.symbol, main, closed, ref, cfg)
    return replace(state, main=main, ref=_prune_reference(ref, main, cfg)), cols


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
    main, cols = _close_main(state.symbol, main, closed, ref, cfg)
    return replace(state, main=main, ref=_prune_reference(ref, main, cfg)), cols.events()


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
) -> tuple[SeriesState, EventColumns]:
    bars = closed.priced()
    if not bars.bucket:  # intervals of book rows only: no bar closed
        return s, EventColumns.empty(symbol, cfg.config_rev)
    n_atr, a_fast, a_slow = cfg.atr_n, 2.0 / (cfg.ema_fast + 1), 2.0 / (cfg.ema_slow + 1)
    # the per-bar columns by comprehensions over Python floats, the recursions (EMAs, ATR) by
    # accumulate: the same operations in the same order as one bar at a time, so the same bits
    # whatever the batch split (math.log, not NumPy's SIMD log, whose last bit may differ)
    bucket, high, low, close = bars.bucket, bars.high, bars.low, bars.close
    prev_c, prev_b = [s.prev_close, *close[:-1]], [s.prev_bucket, *bucket[:-1]]
    log = math.log
    ret_c = [log(c / p) for c, p in zip(close, prev_c, strict=True)]
    gap_c = [b - p - 1 for b, p in zip(bucket, prev_b, strict=True)]
    tr_c = [max(h - lo, abs(h - p), abs(lo - p)) for h, lo, p in zip(high, low, prev_c, strict=True)]
    first = s.bars == 0  # the symbol's first bar: no return, no gap, H-L its true range, seeds the EMAs
    ef0, es0 = (close[0], close[0]) if first else (s.ema_fast, s.ema_slow)
    if first:
        ret_c[0], gap_c[0], tr_c[0] = math.nan, 0, high[0] - low[0]
    later = close[1:] if first else close
    ef_c = list(accumulate(later, lambda e, c: e + a_fast * (c - e), initial=ef0))
    es_c = list(accumulate(later, lambda e, c: e + a_slow * (c - e), initial=es0))
    if not first:
        ef_c, es_c = ef_c[1:], es_c[1:]
    nb, tr_sum, atr = s.bars, s.tr_sum, s.atr
    atr_c: list[float] = []
    for tr in tr_c:
        nb += 1
        if nb < n_atr:
            tr_sum += tr
        elif nb == n_atr:
            tr_sum += tr
            atr = tr_sum / n_atr
        else:
            atr = (atr * (n_atr - 1) + tr) / n_atr
        atr_c.append(atr)
    k = 1 if first else 0
    n_hist = len(s.ret)
    buckets, prevs, rets = [*s.ret_bucket, *bucket[k:]], [*s.ret_prev, *prev_b[k:]], [*s.ret, *ret_c[k:]]
    pb, pc, ef, es = bucket[-1], close[-1], ef_c[-1], es_c[-1]

    n_new = len(rets) - n_hist
    sig: list[float] = rolling_std(np.asarray(rets, dtype=np.float64), n_new, cfg.rv_window).tolist()
    ref_spans = (ref.ret_bucket, ref.ret_prev, ref.ret)
    rho = rho_series((buckets, prevs, rets), n_new, ref_spans, cfg.rho_window, cfg.rho_min_pairs)
    if n_new < len(ret_c):  # the symbol's first bar has no return, so no rv or rho window either
        sig, rho = [math.nan, *sig], [math.nan, *rho]
    interval, annual = cfg.interval_ms, cfg.annualisation
    t0 = [(b + 1) * interval for b in bars.bucket]
    # sigma of the rv window ending at the bar before (OUTLIER's yardstick): the carried one first,
    # then each bar's own (the symbol's first bar has none and leaves it as it was)
    sigma_prev = [s.sigma, *sig[:-1]]
    if first and len(sig) > 1:
        sigma_prev[1] = s.sigma
    late = [s.late_unreported] + [0] * (len(t0) - 1)  # the first event reports the late ticks
    quiet = [t - last for t, last in zip(t0, bars.last_ts, strict=True)]
    flags = flags_of(quiet, gap_c, bars.crossed, ret_c, sigma_prev, late, atr_c, sig, cfg)
    values: list[list[float] | list[int]] = [
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        bars.n_price,
        ret_c,
        atr_c,
        [x * annual for x in sig],
        rho,
        bars.spread_last,
        [t / n if n else math.nan for t, n in zip(bars.spread_sum, bars.spread_n, strict=True)],
        bars.depth_last,
        ef_c,
        es_c,
        gap_c,
    ]
    rev = cfg.config_rev
    cols = EventColumns(symbol, rev, t0, _signal_ids(symbol, t0, rev), values, flags)
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
        sigma=sig[-1],
        ret_bucket=tuple(buckets[-keep:]),
        ret_prev=tuple(prevs[-keep:]),
        ret=tuple(rets[-keep:]),
        late_unreported=0,
    )
    return new, cols
