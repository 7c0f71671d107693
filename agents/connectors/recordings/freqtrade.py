"""freqtrade's data files: ``PAIR-TF[-futures|-mark|-funding_rate].feather`` candles and
``PAIR-trades.json.gz`` (ccxt trade dicts). Candle ``date`` is the candle's open time.

Pair names follow freqtrade's file spelling: ``XRP_USDT_USDT`` is the USDT-settled perpetual
(market FUT), ``XRP_USDT`` the spot pair.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd

from agents.connectors.marketdata import MarketEvent
from agents.connectors.recordings.bars import interval_ms_from_name, iter_bars
from agents.connectors.recordings.base import (
    BadRecord,
    Records,
    TimeGuard,
    dec,
    int_ms,
    malformed,
    positive,
    symbol_of_pair,
)
from chimera.model import Market
from topics.market import FundingEvent, TickKind, topic_for_market

_CANDLE_COLUMNS = ("date", "open", "high", "low", "close", "volume")


def pair_of_file(path: Path) -> tuple[str, Market]:
    """``XRP_USDT_USDT-5m-futures.feather`` -> ('XRPUSDT', FUT); ``XRP_USDT-5m.feather`` -> SPOT."""
    parts = path.name.split("-", 1)[0].split("_")
    if len(parts) < 2:
        raise ValueError(f"{path.name}: expected a freqtrade pair such as XRP_USDT or XRP_USDT_USDT")
    market = Market.FUT if len(parts) >= 3 else Market.SPOT
    return (parts[0] + parts[1]).upper(), market


def _read_candles(path: Path) -> pd.DataFrame:
    frame = pd.read_feather(path)
    missing = [c for c in _CANDLE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} (have {list(frame.columns)})")
    return frame


def _rows(frame: pd.DataFrame) -> Iterator[tuple[int, int, tuple[object, ...]]]:
    stamps = frame["date"]
    for i, row in enumerate(frame[list(_CANDLE_COLUMNS[1:])].itertuples(index=False, name=None)):
        stamp = stamps.iat[i]
        ts = -1 if pd.isna(stamp) else int(pd.Timestamp(stamp).value // 1_000_000)
        yield i + 1, ts, row


def load_candles(path: Path) -> Records:
    """Futures/spot candles -> bar ticks; ``-mark`` candles -> mark ticks (kind ``m``)."""
    symbol, market = pair_of_file(path)
    kind: TickKind = "m" if path.stem.endswith("-mark") else "k"
    yield from iter_bars(
        _rows(_read_candles(path)), path, interval_ms_from_name(path.name), symbol, market, kind
    )


def load_funding(path: Path) -> Records:
    """``-funding_rate`` candles (rate in ``open``) -> FundingEvent; mark price from a ``-mark`` sibling."""
    symbol, _ = pair_of_file(path)
    interval = interval_ms_from_name(path.name)
    marks: dict[int, Decimal] = {}
    sibling = path.with_name(path.name.replace("-funding_rate", "-mark"))
    if sibling.exists():
        for _, ts, values in _rows(_read_candles(sibling)):
            marks[ts] = dec(values[0], "mark price")
    guard = TimeGuard(strict=True)
    for lineno, ts, values in _rows(_read_candles(path)):
        try:
            if ts < 0:
                raise BadRecord("missing date")
            guard.check(ts)
            rate = dec(values[0], "funding rate")
        except BadRecord as exc:
            yield malformed(path, lineno, str(exc), repr((ts, *values)), "mkt.funding", guard)
            continue
        guard.accept(ts)
        slot = ts - ts % interval  # the schedule; the file's stamps carry a few ms of venue jitter
        yield FundingEvent(symbol=symbol, funding_time=slot, rate=rate, mark_price=marks.get(slot), ts=ts)


def load_trades_json(path: Path) -> Records:
    """ccxt trade dicts (a JSON list, gzipped or not). Prices from the raw venue strings in ``info``."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:
        trades = json.load(fh)
    if not isinstance(trades, list):
        raise ValueError(f"{path}: expected a JSON list of ccxt trades")
    guards: dict[str, TimeGuard] = {}
    for i, trade in enumerate(trades, start=1):
        pair = trade.get("symbol") if isinstance(trade, dict) else None
        market = Market.FUT if isinstance(pair, str) and ":" in pair else Market.SPOT
        guard = guards.setdefault(str(pair), TimeGuard())
        try:
            if not isinstance(trade, dict) or not isinstance(pair, str):
                raise BadRecord("not a ccxt trade dict with a symbol")
            info = trade.get("info") or {}
            ts = int_ms(trade.get("timestamp"))
            guard.check(ts)
            price = positive(dec(info.get("p", trade.get("price")), "price"), "price")
            qty = positive(dec(info.get("q", trade.get("amount")), "amount"), "amount")
            side = {"buy": 1, "sell": -1}.get(trade.get("side") or "")
            if side is None:
                raise BadRecord(f"bad side: {trade.get('side')!r}")
        except BadRecord as exc:
            yield malformed(path, i, str(exc), json.dumps(trade)[:2000], topic_for_market(market), guard)
            continue
        guard.accept(ts)
        yield MarketEvent(ts, symbol_of_pair(pair), market, "t", price, qty, side)
