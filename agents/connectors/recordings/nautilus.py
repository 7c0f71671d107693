"""NautilusTrader test-data files: Binance trades / quotes parquet, depth snapshot + diffs, the
Tardis 25-level book snapshots, and the instrument description.

Parquet prices are float64 on disk; they are read as the shortest decimal that float prints as,
which is the venue's price exactly (venue prices have far fewer than 15 significant digits).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd

from agents.connectors.marketdata import MarketEvent
from agents.connectors.port import Instrument
from agents.connectors.recordings.base import (
    BadRecord,
    Records,
    TimeGuard,
    dec,
    int_ms,
    malformed,
    non_negative,
    positive,
    symbol_of_pair,
)
from chimera.model import Market, Symbol
from topics.market import topic_for_market

BOOK_DEPTH = 25  # levels kept per side on a book event (the batcher keeps its own top-N)


def _symbol_from_name(path: Path) -> str:
    return path.name.split("-", 1)[0].upper()


def _ms(stamp: object) -> int:
    if stamp is None or pd.isna(stamp):
        raise BadRecord("missing timestamp")
    return int(pd.Timestamp(stamp).value // 1_000_000)


def _frame_rows(path: Path, need: tuple[str, ...]) -> Iterator[tuple[int, dict[str, object]]]:
    frame = pd.read_parquet(path)
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} (have {list(frame.columns)})")
    yield from enumerate(frame[list(need)].to_dict("records"), start=1)


def load_trades_parquet(path: Path, market: Market = Market.SPOT) -> Records:
    """``timestamp,trade_id,price,quantity,buyer_maker``; a buyer-maker trade was a sell aggressor."""
    symbol, topic, guard = _symbol_from_name(path), topic_for_market(market), TimeGuard()
    for i, row in _frame_rows(path, ("timestamp", "trade_id", "price", "quantity", "buyer_maker")):
        try:
            ts = _ms(row["timestamp"])
            guard.check(ts)
            price = positive(dec(row["price"], "price"), "price")
            qty = positive(dec(row["quantity"], "quantity"), "quantity")
            maker = str(row["buyer_maker"]).lower()
            if maker not in ("true", "false"):
                raise BadRecord(f"bad buyer_maker: {row['buyer_maker']!r}")
        except BadRecord as exc:
            yield malformed(path, i, str(exc), repr(row), topic, guard)
            continue
        guard.accept(ts)
        yield MarketEvent(ts, symbol, market, "t", price, qty, -1 if maker == "true" else 1)


def load_quotes_parquet(path: Path, market: Market = Market.SPOT) -> Records:
    """``timestamp,symbol,ask_size,ask,bid_size,bid`` best bid/ask updates."""
    topic, guards = topic_for_market(market), dict[str, TimeGuard]()
    for i, row in _frame_rows(path, ("timestamp", "symbol", "ask_size", "ask", "bid_size", "bid")):
        guard = guards.setdefault(str(row["symbol"]), TimeGuard())
        try:
            ts = _ms(row["timestamp"])
            guard.check(ts)
            bid, ask = positive(dec(row["bid"], "bid"), "bid"), positive(dec(row["ask"], "ask"), "ask")
            if bid > ask:
                raise BadRecord(f"crossed quote: bid {bid} > ask {ask}")
            bid_qty = non_negative(dec(row["bid_size"], "bid_size"), "bid_size")
            ask_qty = non_negative(dec(row["ask_size"], "ask_size"), "ask_size")
        except BadRecord as exc:
            yield malformed(path, i, str(exc), repr(row), topic, guard)
            continue
        guard.accept(ts)
        symbol = symbol_of_pair(str(row["symbol"]))
        yield MarketEvent(ts, symbol, market, "q", bid=bid, ask=ask, bid_qty=bid_qty, ask_qty=ask_qty)


def _book_event(
    ts: int, symbol: str, market: Market, bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal]
) -> MarketEvent:
    top_bids = tuple(sorted(bids.items(), reverse=True)[:BOOK_DEPTH])
    top_asks = tuple(sorted(asks.items())[:BOOK_DEPTH])
    return MarketEvent(ts, symbol, market, "b", bids=top_bids, asks=top_asks)


def load_depth(snapshot: Path, updates: Path | None = None, market: Market = Market.FUT) -> Records:
    """Binance depth snapshot + diff updates -> one book event per snapshot / update id.

    Diffs older than the snapshot (``last_update_id`` <= the snapshot's) are dropped, as Binance
    prescribes; a quantity of 0 removes the level. A gap between the snapshot and the first diff is
    not refused: the NautilusTrader sample has one (its diff comes ~10 minutes after the snapshot,
    which holds bids only), so its second book is the snapshot's bids updated plus the diff's asks.
    """
    if updates is None:
        candidate = snapshot.with_name(snapshot.name.replace("-snap", "-update"))
        updates = candidate if candidate.exists() else None
    topic = topic_for_market(market)
    guard = TimeGuard()
    book: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
    symbol, snap_id, group, group_ts = "", -1, None, 0
    for path in [snapshot] + ([updates] if updates else []):
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            for lineno, row in enumerate(reader, start=2):
                try:
                    if None in row or any(v is None for v in row.values()):
                        raise BadRecord("wrong number of fields")
                    ts = int_ms(row["timestamp"])
                    guard.check(ts)
                    last_id = int_ms(row["last_update_id"], "last_update_id")
                    side = row["side"]
                    if side not in book:
                        raise BadRecord(f"bad side: {side!r}")
                    price = positive(dec(row["price"], "price"), "price")
                    qty = non_negative(dec(row["qty"], "qty"), "qty")
                except (BadRecord, KeyError) as exc:
                    yield malformed(path, lineno, str(exc), repr(row), topic, guard)
                    continue
                if row["update_type"] == "snap":
                    snap_id = max(snap_id, last_id)
                elif last_id <= snap_id:
                    continue
                if group is not None and (last_id, ts) != group:
                    yield _book_event(group_ts, symbol, market, book["b"], book["a"])
                guard.accept(ts)
                symbol, group, group_ts = row["symbol"], (last_id, ts), ts
                if qty == 0:
                    book[side].pop(price, None)
                else:
                    book[side][price] = qty
    if group is not None:
        yield _book_event(group_ts, symbol, market, book["b"], book["a"])


def load_tardis_book(path: Path) -> Records:
    """Tardis ``book_snapshot_25`` CSV (timestamps in µs) -> one book event per row."""
    guard = TimeGuard()
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        levels = sum(1 for h in header if h.startswith("asks[") and h.endswith(".price"))
        if header[:3] != ["exchange", "symbol", "timestamp"] or levels == 0:
            raise ValueError(f"{path}: not a Tardis book_snapshot CSV (header {header[:5]}...)")
        col = {h: i for i, h in enumerate(header)}
        for lineno, row in enumerate(reader, start=2):
            market = Market.FUT if "futures" in (row[0] if row else "") else Market.SPOT
            try:
                if len(row) != len(header):
                    raise BadRecord(f"expected {len(header)} fields, got {len(row)}")
                ts = int_ms(row[2]) // 1000
                guard.check(ts)
                sides = {}
                for side in ("bids", "asks"):
                    sides[side] = tuple(
                        (
                            dec(row[col[f"{side}[{k}].price"]], "price"),
                            dec(row[col[f"{side}[{k}].amount"]], "amount"),
                        )
                        for k in range(levels)
                        if row[col[f"{side}[{k}].price"]] != ""
                    )
            except BadRecord as exc:
                yield malformed(path, lineno, str(exc), ",".join(row)[:2000], topic_for_market(market), guard)
                continue
            guard.accept(ts)
            yield MarketEvent(ts, row[1], market, "b", bids=sides["bids"], asks=sides["asks"])


def load_instrument(path: Path) -> Instrument:
    """Parse NautilusTrader's ``CurrencyPair(...)`` / ``CryptoPerpetual(...)`` repr into an Instrument."""
    text = path.read_text()
    fields = dict(re.findall(r"(\w+)=([^,()]+)", text))
    try:
        tick, lot = Decimal(fields["price_increment"]), Decimal(fields["size_increment"])
        min_qty = fields.get("min_quantity", "None")
        min_notional = fields.get("min_notional", "None")
        return Instrument(
            symbol=Symbol(fields["raw_symbol"]),
            market=Market.FUT if text.startswith("CryptoPerpetual") else Market.SPOT,
            base=fields["base_currency"],
            quote=fields["quote_currency"],
            tick_size=tick,
            lot_size=lot,
            min_qty=lot if min_qty == "None" else Decimal(min_qty.split()[0]),
            min_notional=Decimal(0) if min_notional == "None" else Decimal(min_notional.split()[0]),
            maker_fee=Decimal(fields["maker_fee"]),
            taker_fee=Decimal(fields["taker_fee"]),
        )
    except (KeyError, ArithmeticError) as exc:
        raise ValueError(f"{path}: not a NautilusTrader instrument description ({exc!r})") from exc
