"""OHLCV bars -> ticks in a realistic intra-bar order, and the NautilusTrader bar CSV loader.

A bar becomes 4 ticks: open, then the extreme nearer the open (high first if the open is strictly
nearer the high, else low first), then the other extreme, then close — the path a price most
plausibly took. With ``I`` the bar interval, the ticks sit at ``open_time + 0, I/4, I/2, I - 1`` ms,
so the close tick lands just before the next bar's open tick. The bar volume is split into four
equal parts (exact: a Decimal divided by 4 terminates). The aggressor side follows the tick
rule (1 up, -1 down, 0 unchanged or first tick).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from agents.connectors.marketdata import MarketEvent
from agents.connectors.recordings.base import BadRecord, Records, TimeGuard, dec, malformed, non_negative
from chimera.model import Market
from topics.market import TickKind, topic_for_market

TICKS_PER_BAR = 4
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_FOUR = Decimal(4)


def interval_ms_from_name(name: str) -> int:
    """Read the bar interval from a file name such as ``..._1m.csv`` or ``XRP_USDT-5m-futures``."""
    match = re.search(r"[_-](\d+)([smhdw])(?=[_.-])", name)
    if match is None:
        raise ValueError(f"{name}: cannot tell the bar interval from the file name (expected e.g. _1m.)")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _sign(now: Decimal, before: Decimal | None) -> int:
    if before is None or now == before:
        return 0
    return 1 if now > before else -1


def bar_ticks(
    open_ts: int,
    interval_ms: int,
    ohlcv: tuple[Decimal, Decimal, Decimal, Decimal, Decimal],
    symbol: str,
    market: Market,
    prev: Decimal | None,
    kind: TickKind = "k",
) -> list[MarketEvent]:
    """Expand one bar into its 4 ticks (``kind='m'`` puts the path in ``mark`` for mark-price bars)."""
    o, h, low, c, v = ohlcv
    if min(o, h, low, c) <= 0:
        raise BadRecord("prices must be positive")
    if h < max(o, c, low) or low > min(o, c):
        raise BadRecord(f"inconsistent bar: open {o} high {h} low {low} close {c}")
    non_negative(v, "volume")
    path = (o, h, low, c) if (h - o) < (o - low) else (o, low, h, c)
    offsets = (0, interval_ms // 4, interval_ms // 2, interval_ms - 1)
    share = v / _FOUR
    ticks = []
    for px, off in zip(path, offsets, strict=True):
        if kind == "m":
            ticks.append(MarketEvent(open_ts + off, symbol, market, kind, mark=px))
        else:
            ticks.append(MarketEvent(open_ts + off, symbol, market, kind, px, share, _sign(px, prev)))
        prev = px
    return ticks


def _parse_ts(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRecord(f"bad timestamp: {text!r}") from exc
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


def load_bar_csv(
    path: Path,
    symbol: str,
    market: Market,
    interval_ms: int | None = None,
    stamped_at_close: bool = True,
) -> Records:
    """Yield the ticks of a ``timestamp,open,high,low,close,volume`` CSV.

    NautilusTrader stamps a bar with its close time (``ts_event``), so by default a bar stamped
    ``T`` covers ``[T - interval, T)``.
    """
    interval = interval_ms or interval_ms_from_name(path.name)
    topic = topic_for_market(market)
    guard = TimeGuard(strict=True)
    prev: Decimal | None = None
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        need = ("timestamp", "open", "high", "low", "close", "volume")
        if header is None or any(col not in header for col in need):
            raise ValueError(f"{path}: header must have columns {','.join(need)}, got {header}")
        idx = [header.index(col) for col in need]
        for lineno, row in enumerate(reader, start=2):
            try:
                if len(row) != len(header):
                    raise BadRecord(f"expected {len(header)} fields, got {len(row)}")
                stamp = _parse_ts(row[idx[0]])
                open_ts = stamp - interval if stamped_at_close else stamp
                guard.check(open_ts)
                bar = tuple(dec(row[i], col) for i, col in zip(idx[1:], need[1:], strict=True))
                ticks = bar_ticks(open_ts, interval, bar, symbol, market, prev)  # type: ignore[arg-type]
            except BadRecord as exc:
                yield malformed(path, lineno, str(exc), ",".join(row), topic, guard)
                continue
            guard.accept(open_ts)
            prev = ticks[-1].price
            yield from ticks


def iter_bars(
    rows: Iterator[tuple[int, int, tuple[object, ...]]],
    path: Path,
    interval: int,
    symbol: str,
    market: Market,
    kind: TickKind = "k",
) -> Records:
    """Yield ticks from ``(line, open_ts, (open, high, low, close, volume))`` rows (feather, parquet)."""
    topic = topic_for_market(market)
    guard = TimeGuard(strict=True)
    prev: Decimal | None = None
    for lineno, open_ts, values in rows:
        try:
            guard.check(open_ts)
            names = ("open", "high", "low", "close", "volume")
            bar = tuple(dec(x, n) for x, n in zip(values, names, strict=True))
            ticks = bar_ticks(open_ts, interval, bar, symbol, market, prev, kind)  # type: ignore[arg-type]
        except BadRecord as exc:
            yield malformed(path, lineno, str(exc), repr((open_ts, *values)), topic, guard)
            continue
        guard.accept(open_ts)
        prev = ticks[-1].price if kind != "m" else ticks[-1].mark
        yield from ticks
