"""Test kit for the in-process engine: the shipped recordings sliced by event time, bundles, and the
checks every run must pass — each recomputed from the record (the ClickHouse tables), never from
the engine's own bookkeeping."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.config.bundle import Bundle, parse_bundle
from agents.connectors.marketdata import MarketEvent
from agents.connectors.recordings import Record, load_files
from agents.engine import BacktestResult
from agents.engine.engine import wallet_total
from chimera.model import OrderStatus, OrderType
from sinks.clickhouse.backend import ClickHouseBackend
from topics.market import FundingEvent

D = Decimal
ZERO = D(0)
REPO = Path(__file__).resolve().parents[3]
BTC_FILE = REPO / "data/nautilus/btc-perp-20211231-20220201_1m.csv"
XRP_FILES = [
    REPO / "data/freqtrade/XRP_USDT_USDT-5m-futures.feather",
    REPO / "data/freqtrade/XRP_USDT_USDT-8h-funding_rate.feather",
    REPO / "data/freqtrade/XRP_USDT_USDT-8h-mark.feather",
]
DEFAULT_BUNDLE = REPO / "agents/config/default_bundle.json"
DAY = 86_400_000
BTC_START = 1_640_991_600_000  # 2021-12-31 23:00 UTC, the first bar's open
XRP_START = 1_636_934_400_000  # 2021-11-15 00:00 UTC
XRP_END = 1_637_533_800_000  # 2021-11-21 22:35 UTC, after the last candle
TOL = D("1e-8")  # the venue books money to 8 places; S6 keeps funding exact to 12


@functools.cache
def _btc() -> tuple[Record, ...]:
    return tuple(load_files([BTC_FILE]))


@functools.cache
def _xrp() -> tuple[Record, ...]:
    return tuple(load_files(XRP_FILES))


def btc(days: float, start_day: float = 0) -> list[Record]:
    lo, hi = BTC_START + int(start_day * DAY), BTC_START + int((start_day + days) * DAY)
    return [r for r in _btc() if lo <= r.ts < hi]


def xrp(until: int = XRP_END) -> list[Record]:
    """The XRP perpetual week with its marks and funding, up to ``until`` (default: the last candle;
    the funding file runs on four weeks past it)."""
    return [r for r in _xrp() if r.ts < until]


def bundle(**strategy: Any) -> Bundle:
    """The default bundle, with strategy fields replaced."""
    doc = json.loads(DEFAULT_BUNDLE.read_text())
    doc["strategy"].update(strategy)
    return parse_bundle(doc)


XRP_SPEC = {"market": "FUT", "tick_size": "0.0001", "lot_size": "0.1", "min_qty": "0.1", "min_notional": "5"}


def xrp_bundle() -> Bundle:
    """The default bundle trading the XRP perpetual too (the default lists BTCUSDT only), on
    5-minute bars (S2 on 1-minute bars would cut each candle into its four ticks: STALE)."""
    doc = json.loads(DEFAULT_BUNDLE.read_text())
    doc["bundle_id"] = "default-xrp"
    doc["strategy"]["instruments"] = {"XRPUSDT": XRP_SPEC, **doc["strategy"]["instruments"]}
    doc["features"]["interval_ms"] = 300_000  # the XRP candles are 5-minute bars
    return parse_bundle(doc)


def ticks(records: list[Record]) -> int:
    return sum(isinstance(r, MarketEvent) for r in records)


def fundings(records: list[Record]) -> int:
    return sum(isinstance(r, FundingEvent) for r in records)


# ---- recomputation from the record ---------------------------------------------------------------
@dataclass
class Book:
    """Average-cost accounting of one symbol from its fills alone."""

    qty: Decimal = ZERO  # signed
    cost: Decimal = ZERO  # of the open quantity, signed with it
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO  # received (> 0) / paid (< 0)
    fills: int = 0

    def fill(self, side: str, price: Decimal, qty: Decimal, fee: Decimal) -> None:
        signed = qty if side == "BUY" else -qty
        self.fills += 1
        self.fees += fee
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            self.qty += signed
            self.cost += signed * price
            return
        closing = min(abs(signed), abs(self.qty))
        avg = self.cost / self.qty
        sign = 1 if self.qty > 0 else -1
        self.realized += sign * closing * (price - avg)
        self.cost -= sign * closing * avg
        self.qty -= sign * closing
        rest = abs(signed) - closing
        if rest:  # flipped through zero (never expected: exits are reduce-only)
            self.qty, self.cost = signed / abs(signed) * rest, signed / abs(signed) * rest * price

    @property
    def cash(self) -> Decimal:
        return self.realized - self.fees + self.funding


@dataclass
class Recomputed:
    books: dict[str, Book] = field(default_factory=dict)

    @property
    def cash(self) -> Decimal:
        return sum((b.cash for b in self.books.values()), D(0))

    def qty(self, symbol: str) -> Decimal:
        return self.books[symbol].qty if symbol in self.books else D(0)


def recompute(db: ClickHouseBackend) -> Recomputed:
    """Positions and cash from ``fills`` (every trade, in venue order) and ``funding_records``."""
    out = Recomputed()
    rows = db.query(
        "SELECT symbol, side, price, qty, fee, ts, trade_id FROM fills FINAL "
        "ORDER BY ts, length(trade_id), trade_id"
    ).rows
    for symbol, side, price, qty, fee, _ts, _tid in rows:
        out.books.setdefault(symbol, Book()).fill(side, price, qty, fee)
    for symbol, amount in db.query("SELECT symbol, amount_usdt FROM funding_records FINAL").rows:
        out.books.setdefault(symbol, Book()).funding += amount
    return out


def last_snapshots(db: ClickHouseBackend) -> dict[str, dict[str, Any]]:
    """Each position's newest positions_snapshots row."""
    cols = ["status", "qty", "realized_pnl", "fees_paid", "funding_paid", "symbol", "ts"]
    sel = ", ".join(f"argMax({c}, seq) AS {c}" for c in cols)
    res = db.query(f"SELECT pos_id, {sel} FROM positions_snapshots FINAL GROUP BY pos_id")
    return {r[0]: dict(zip(cols, r[1:], strict=True)) for r in res.rows}


def unprotected(result: BacktestResult) -> list[str]:
    """Open venue positions without a resting reduce-only stop covering them."""
    assert result.final is not None
    bad = []
    for pos in result.final.positions:
        stops = [
            o
            for o in result.final.open_orders
            if o.symbol == pos.symbol
            and o.type is OrderType.STOP_MARKET
            and o.reduce_only
            and o.status is OrderStatus.NEW
        ]
        if sum((o.qty or D(0) for o in stops), D(0)) < abs(pos.qty):
            bad.append(f"{pos.symbol} {pos.qty}: stops {[(o.qty, o.stop_price) for o in stops]}")
    return bad


def dumps(items: list[Any]) -> list[str]:
    return [i.model_dump_json() for i in items]


def check_cash(res: BacktestResult, db: ClickHouseBackend) -> None:
    """Positions and cash recomputed from ``fills`` and ``funding_records`` equal the venue's
    wallet and positions and S6's books."""
    rc = recompute(db)
    assert res.final is not None
    change = wallet_total(res) - res.initial_usdt
    assert change == rc.cash  # to the last of the venue's 8 decimals
    venue = {p.symbol: p.qty for p in res.final.positions}
    assert {s: b.qty for s, b in rc.books.items() if b.qty} == venue
    snaps = last_snapshots(db)
    # S6 books each settlement exactly, the venue to 8 places: half a unit apart at most, each
    tol = TOL + len(res.funding) * D("0.5e-8")
    assert abs(sum((v["realized_pnl"] for v in snaps.values()), D(0)) - change) <= tol
