"""Per-symbol state of the feature core: small frozen records that round-trip exactly through JSON.

A Faust table stores ``FeatureState.to_dict()``; floats are written as JSON numbers (``repr`` is
the shortest string that reads back as the same float64) and NaN as ``null``, so
``from_dict(json.loads(json.dumps(s.to_dict(), allow_nan=False)))`` equals ``s`` bit for bit.
Compare states by ``to_dict()``: ``==`` on the records follows float rules, where NaN != NaN.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, fields
from typing import Any

NAN = math.nan
STATE_VERSION = 1


def _encode(obj: object, kinds: dict[str, str]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for name, kind in kinds.items():
        v = getattr(obj, name)
        if kind == "float":
            d[name] = None if v != v else v  # v != v only for NaN
        elif kind == "floats":
            d[name] = [None if x != x else x for x in v]
        elif kind == "ints":  # bar ids, mostly consecutive: deltas write as "1"
            d[name] = [v[0], *(b - a for a, b in itertools.pairwise(v))] if v else []
        else:
            d[name] = v
    return d


def _decode(d: dict[str, Any], kinds: dict[str, str]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for name, kind in kinds.items():
        v = d[name]
        if kind == "float":
            kw[name] = NAN if v is None else float(v)
        elif kind == "floats":
            kw[name] = tuple(NAN if x is None else float(x) for x in v)
        elif kind == "ints":
            kw[name] = tuple(itertools.accumulate(int(x) for x in v))
        elif kind == "bool":
            kw[name] = bool(v)
        else:
            kw[name] = int(v)
    return kw


_SPELLING = {
    "float": "float",
    "int": "int",
    "bool": "bool",
    "tuple[float, ...]": "floats",
    "tuple[int, ...]": "ints",
}


def _kinds(cls: type) -> dict[str, str]:
    """Field name -> how it is written; a nested ``Bar`` is written by its own ``to_dict``."""
    kinds = {f.name: _SPELLING.get(str(f.type), "") for f in fields(cls) if str(f.type) != "Bar"}
    unknown = [name for name, kind in kinds.items() if not kind]
    if unknown:
        raise TypeError(f"{cls.__name__} fields {unknown} have no JSON spelling")
    return kinds


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar's aggregates; ``bucket`` is ``open_ts // interval_ms`` (-1: no bar open).

    ``n_price`` counts the rows with a price; a bucket without one never becomes a bar.
    Sums are accumulated tick by tick in arrival order, so a bar split across batches sums the same.
    """

    bucket: int = -1
    open: float = NAN
    high: float = NAN
    low: float = NAN
    close: float = NAN
    n_price: int = 0
    volume: float = 0.0
    spread_sum: float = 0.0
    spread_n: int = 0
    spread_last: float = NAN
    depth_last: float = NAN
    crossed: bool = False
    last_ts: int = -1

    def to_dict(self) -> dict[str, Any]:
        return _encode(self, _BAR_KINDS)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Bar:
        return cls(**_decode(d, _BAR_KINDS))


_BAR_KINDS = _kinds(Bar)
EMPTY_BAR = Bar()


@dataclass(frozen=True, slots=True)
class SeriesState:
    """What one series remembers of its closed bars: the last close, recursive indicators, and the
    last ``history`` log returns keyed by the (bucket, previous bucket) they span."""

    open_bar: Bar = EMPTY_BAR
    bars: int = 0
    prev_bucket: int = -1
    prev_close: float = NAN
    tr_sum: float = 0.0  # sum of the first atr_n true ranges, for the ATR seed
    atr: float = NAN
    ema_fast: float = NAN
    ema_slow: float = NAN
    sigma: float = NAN  # per-bar std of the rv window ending at the last closed bar
    ret_bucket: tuple[int, ...] = ()
    ret_prev: tuple[int, ...] = ()
    ret: tuple[float, ...] = ()
    late_ticks: int = 0  # ticks dropped because their bar had already closed
    late_unreported: int = 0  # of those, how many no emitted event has flagged yet

    def to_dict(self) -> dict[str, Any]:
        d = _encode(self, _SERIES_KINDS)
        d["open_bar"] = self.open_bar.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesState:
        return cls(open_bar=Bar.from_dict(d["open_bar"]), **_decode(d, _SERIES_KINDS))


_SERIES_KINDS = _kinds(SeriesState)


@dataclass(frozen=True, slots=True)
class FeatureState:
    """A symbol's whole feature state: its own series and the reference series ρ is measured against."""

    symbol: str
    main: SeriesState = field(default_factory=SeriesState)
    ref: SeriesState = field(default_factory=SeriesState)

    def to_dict(self) -> dict[str, Any]:
        main, ref = self.main.to_dict(), self.ref.to_dict()
        return {"v": STATE_VERSION, "symbol": self.symbol, "main": main, "ref": ref}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureState:
        if d.get("v") != STATE_VERSION:
            raise ValueError(f"feature state version {d.get('v')!r} is not {STATE_VERSION}")
        return cls(
            symbol=str(d["symbol"]),
            main=SeriesState.from_dict(d["main"]),
            ref=SeriesState.from_dict(d["ref"]),
        )
