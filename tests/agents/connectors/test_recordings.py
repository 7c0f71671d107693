"""Every loader on its real file, checked against the raw file read independently (pandas / csv)."""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agents.connectors.marketdata import Malformed, MarketEvent
from agents.connectors.recordings import detect, load_file, load_files, load_instrument
from chimera.model import Market
from tests.agents.connectors.market_fixtures import BTC_BARS, BTC_MONTH, DATA, broken_copy
from topics.market import FundingEvent

NAUTILUS, FREQTRADE = DATA / "nautilus", DATA / "freqtrade"


def _events(path: Path) -> list[MarketEvent]:
    records = list(load_file(path))
    assert not [r for r in records if isinstance(r, Malformed)]
    return [r for r in records if isinstance(r, MarketEvent)]


def _ms(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1_000_000)


def test_btc_month_gives_four_ticks_per_bar_in_intra_bar_order() -> None:
    ticks = _events(BTC_MONTH)
    assert len(ticks) == 4 * BTC_BARS == 180_124

    raw = pd.read_csv(BTC_MONTH, dtype=str)
    o, h, low, c = (raw[col].astype(float).to_numpy() for col in ("open", "high", "low", "close"))
    high_first = (h - o) < (o - low)
    expected = np.asarray(np.where(high_first[:, None], np.c_[o, h, low, c], np.c_[o, low, h, c])).ravel()
    assert np.array_equal(np.array([float(t.price) for t in ticks]), expected)  # type: ignore[arg-type]

    opens = pd.to_datetime(raw["timestamp"], utc=True).dt.as_unit("ms").astype("int64").to_numpy() - 60_000
    expected_ts = (opens[:, None] + np.array([0, 15_000, 30_000, 59_999])).ravel()
    assert np.array_equal(np.array([t.ts for t in ticks]), expected_ts)
    assert all(t.symbol == "BTCUSDT" and t.market is Market.FUT and t.kind == "k" for t in ticks)

    # exact money: first and last bar against the raw text; volume split sums to the bar volume
    first, last = raw.iloc[0], raw.iloc[-1]
    # the first bar opens at its low (46319), so the low comes first: open, low, high, close
    assert [t.price for t in ticks[:4]] == [Decimal(first[k]) for k in ("open", "low", "high", "close")]
    assert [t.side for t in ticks[:4]] == [0, 0, 1, -1]  # tick rule
    assert sum((t.qty or Decimal(0) for t in ticks[:4]), Decimal(0)) == Decimal(first.volume)
    assert ticks[-1].price == Decimal(last.close) and ticks[-1].ts == opens[-1] + 59_999
    assert ticks[0].ts == 1_640_991_600_000  # 2021-12-31 23:00:00 UTC, the open of the bar stamped 23:01


def test_binance_trades_and_quotes_parquet() -> None:
    trades, raw = (
        _events(NAUTILUS / "btcusdt-trades.parquet"),
        pd.read_parquet(NAUTILUS / "btcusdt-trades.parquet"),
    )
    assert len(trades) == len(raw) == 2_001
    for event, row in ((trades[0], raw.iloc[0]), (trades[-1], raw.iloc[-1])):
        assert event.ts == _ms(row.timestamp)
        assert event.price == Decimal(repr(float(row.price))) and event.qty == Decimal(
            repr(float(row.quantity))
        )
        assert event.side == (-1 if row.buyer_maker == "True" else 1)
    assert trades[0].price == Decimal("39432.48") and trades[0].side == -1
    assert sum(t.side == 1 for t in trades) == (raw.buyer_maker == "False").sum()

    quotes, raw_q = (
        _events(NAUTILUS / "btcusdt-quotes.parquet"),
        pd.read_parquet(NAUTILUS / "btcusdt-quotes.parquet"),
    )
    assert len(quotes) == len(raw_q) == 451
    q0, r0 = quotes[0], raw_q.iloc[0]
    assert (q0.symbol, q0.kind, q0.ts) == ("BTCUSDT", "q", _ms(r0.timestamp))
    assert (q0.bid, q0.ask) == (Decimal("39432.99"), Decimal("39433.62"))
    assert quotes[-1].ask_qty == Decimal(repr(float(raw_q.iloc[-1].ask_size)))


def test_depth_snapshot_then_diff_gives_the_book_after_the_diff() -> None:
    books = _events(NAUTILUS / "btcusdt-depth-snap.csv")
    assert len(books) == 2  # the snapshot, then the one diff group
    with (NAUTILUS / "btcusdt-depth-snap.csv").open() as fh:
        snap = list(csv.DictReader(fh))
    with (NAUTILUS / "btcusdt-depth-update.csv").open() as fh:
        diff = list(csv.DictReader(fh))
    book = {"b": {Decimal(r["price"]): Decimal(r["qty"]) for r in snap if r["side"] == "b"}, "a": {}}
    assert books[0].bids == tuple(sorted(book["b"].items(), reverse=True)[:25]) and books[0].asks == ()
    for r in diff:
        book[r["side"]][Decimal(r["price"])] = Decimal(r["qty"])
    live = {s: {p: q for p, q in lv.items() if q} for s, lv in book.items()}
    assert books[1].bids == tuple(sorted(live["b"].items(), reverse=True)[:25])
    assert books[1].asks == tuple(sorted(live["a"].items())[:25])
    assert books[1].ts == int(diff[0]["timestamp"]) and books[1].market is Market.FUT
    assert books[1].asks[0][0] == min(p for p, q in live["a"].items())


def test_tardis_book_snapshots() -> None:
    path = NAUTILUS / "binance-futures_book_snapshot_25_BTCUSDT.csv"
    books, raw = _events(path), pd.read_csv(path, dtype=str)
    assert len(books) == len(raw) == 10
    first = raw.iloc[0]
    assert books[0].ts == int(first.timestamp) // 1000 and books[0].market is Market.FUT
    assert len(books[0].bids) == len(books[0].asks) == 25
    assert books[0].bids[24] == (Decimal(first["bids[24].price"]), Decimal(first["bids[24].amount"]))
    assert books[-1].asks[0] == (
        Decimal(raw.iloc[-1]["asks[0].price"]),
        Decimal(raw.iloc[-1]["asks[0].amount"]),
    )


def test_instrument_description() -> None:
    inst = load_instrument(NAUTILUS / "btcusdt-instrument.txt")
    assert (inst.symbol, inst.market, inst.base, inst.quote) == ("BTCUSDT", Market.SPOT, "BTC", "USDT")
    assert (inst.tick_size, inst.lot_size) == (Decimal("0.01"), Decimal("0.000001"))
    assert inst.maker_fee == inst.taker_fee == Decimal("0.001")


def test_ccxt_trades_json_uses_the_venue_strings() -> None:
    path = FREQTRADE / "XRP_OLD-trades.json.gz"
    trades = _events(path)
    raw = json.loads(gzip.decompress(path.read_bytes()))
    assert len(trades) == len(raw) == 12_477
    for event, row in ((trades[0], raw[0]), (trades[-1], raw[-1])):
        assert (event.ts, event.symbol, event.market) == (row["timestamp"], "XRPETH", Market.SPOT)
        assert event.price == Decimal(row["info"]["p"]) and event.qty == Decimal(row["info"]["q"])
        assert event.side == (1 if row["side"] == "buy" else -1)


def test_freqtrade_candles_mark_and_funding() -> None:
    candles = pd.read_feather(FREQTRADE / "XRP_USDT_USDT-5m-futures.feather")
    ticks = _events(FREQTRADE / "XRP_USDT_USDT-5m-futures.feather")
    assert len(ticks) == 4 * len(candles) == 7_996
    assert ticks[0].ts == _ms(candles.date.iloc[0]) and ticks[0].price == Decimal("1.1893")
    assert ticks[-1].ts == _ms(candles.date.iloc[-1]) + 299_999
    assert ticks[-1].price == Decimal(repr(float(candles.close.iloc[-1])))
    assert {(t.symbol, t.market) for t in ticks} == {("XRPUSDT", Market.FUT)}

    marks = _events(FREQTRADE / "XRP_USDT_USDT-8h-mark.feather")
    assert len(marks) == 4 * 91 and all(t.kind == "m" and t.price is None for t in marks)

    raw_f = pd.read_feather(FREQTRADE / "XRP_USDT_USDT-8h-funding_rate.feather")
    raw_m = pd.read_feather(FREQTRADE / "XRP_USDT_USDT-8h-mark.feather")
    funding = list(load_file(FREQTRADE / "XRP_USDT_USDT-8h-funding_rate.feather"))
    assert len(funding) == 91 and all(isinstance(f, FundingEvent) for f in funding)
    f0 = funding[0]
    assert isinstance(f0, FundingEvent)
    assert f0.ts == _ms(raw_f.date.iloc[0]) == 1_637_193_600_017
    assert f0.funding_time == 1_637_193_600_000 and f0.rate == Decimal("0.0001")
    assert f0.mark_price == Decimal(repr(float(raw_m.open.iloc[0])))


def test_multi_file_merge_keeps_each_symbol_in_time_order() -> None:
    paths = [FREQTRADE / "XRP_USDT_USDT-5m-futures.feather", FREQTRADE / "XRP_USDT_USDT-8h-mark.feather"]
    merged = [r for r in load_files(paths) if isinstance(r, MarketEvent)]
    assert len(merged) == 7_996 + 364
    stamps = [e.ts for e in merged]
    assert stamps == sorted(stamps)


def test_malformed_records_are_reported_and_loading_goes_on(tmp_path: Path) -> None:
    bad = broken_copy(
        BTC_MONTH,
        tmp_path / "btc-perp-broken_1m.csv",
        lines=101,
        edits={
            10: "2021-12-31 23:09:00.000000,46,3OO,46200.0,46300.0,1.0",  # a letter O in a number
            20: "2021-12-31 23:19:00.000000,46300.0,46400.0,46200.0",  # the volume column is missing
            30: "2021-12-31 23:01:00.000000,46300.0,46400.0,46200.0,46300.0,1.0",  # back in time
            40: "2021-12-31 23:39:00.000000,46300.0,46100.0,46200.0,46300.0,1.0",  # high below low
        },
    )
    records = list(load_file(bad))
    errors = [r for r in records if isinstance(r, Malformed)]
    assert [(e.line, e.topic) for e in errors] == [
        (10, "mkt.perp"),
        (20, "mkt.perp"),
        (30, "mkt.perp"),
        (40, "mkt.perp"),
    ]
    assert "bad" in errors[0].reason and "expected 6 fields" in errors[1].reason
    assert "not monotonic" in errors[2].reason and "inconsistent bar" in errors[3].reason
    assert str(errors[0]).startswith(f"{bad}:10: ")
    assert sum(isinstance(r, MarketEvent) for r in records) == 4 * (100 - 4)


def test_unknown_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown recording format"):
        detect(tmp_path / "prices.xlsx")
    with pytest.raises(ValueError, match="depth-snap"):
        detect(NAUTILUS / "btcusdt-depth-update.csv")
    not_bars = tmp_path / "other_1m.csv"
    not_bars.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="header must have columns"):
        list(load_file(not_bars))


def test_malformed_feather_rows_and_trade_dicts_are_reported(tmp_path: Path) -> None:
    frame = pd.read_feather(FREQTRADE / "XRP_USDT_USDT-5m-futures.feather").head(50).copy()
    frame.loc[4, "close"] = float("nan")  # row 5: a missing number
    frame.loc[9, "date"] = frame.loc[2, "date"]  # row 10: back in time
    broken = tmp_path / "XRP_USDT_USDT-5m-futures.feather"
    frame.to_feather(broken)
    records = list(load_file(broken))
    errors = [(r.line, r.reason) for r in records if isinstance(r, Malformed)]
    assert errors == [(5, "missing close"), (10, errors[1][1])] and "not monotonic" in errors[1][1]
    assert sum(isinstance(r, MarketEvent) for r in records) == 4 * 48

    trades = json.loads(gzip.decompress((FREQTRADE / "XRP_OLD-trades.json.gz").read_bytes()))[:20]
    trades[3]["info"]["p"] = "0.0014x"
    trades[7]["side"] = "sideways"
    path = tmp_path / "XRP_OLD-trades.json"
    path.write_text(json.dumps(trades))
    records = list(load_file(path))
    assert [(r.line, r.reason) for r in records if isinstance(r, Malformed)] == [
        (4, "bad price: '0.0014x'"),
        (8, "bad side: 'sideways'"),
    ]
    assert sum(isinstance(r, MarketEvent) for r in records) == 18
