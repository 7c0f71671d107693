"""The micro-batcher and the MarketBatch wire format (pure: no broker)."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from pydantic import ValidationError

from agents.connectors.marketdata import MarketEvent, MicroBatcher
from agents.connectors.recordings import load_file
from agents.connectors.recordings.bars import bar_ticks
from agents.connectors.recordings.base import BadRecord
from agents.connectors.recordings.recorded import batch_events
from chimera.model import Market
from tests.agents.connectors.market_fixtures import DATA, batch_all
from topics.market import FundingEvent, MarketBatch

D = Decimal
FUT, SPOT = Market.FUT, Market.SPOT


def trade(ts: int, price: str = "100", symbol: str = "BTCUSDT", market: Market = FUT) -> MarketEvent:
    return MarketEvent(ts, symbol, market, "t", D(price), D("0.5"), 1)


def test_bar_tick_order_follows_the_extreme_nearer_the_open() -> None:
    near_high = bar_ticks(0, 60_000, (D(100), D(101), D(90), D(95), D(8)), "X", FUT, None)
    assert [t.price for t in near_high] == [D(100), D(101), D(90), D(95)]
    near_low = bar_ticks(0, 60_000, (D(100), D(110), D(99), D(105), D(8)), "X", FUT, D(100))
    assert [t.price for t in near_low] == [D(100), D(99), D(110), D(105)]
    assert [t.side for t in near_low] == [0, -1, 1, -1]
    tie = bar_ticks(0, 60_000, (D(100), D(105), D(95), D(100), D(8)), "X", FUT, None)
    assert [t.price for t in tie] == [D(100), D(95), D(105), D(100)]
    assert [t.ts for t in near_high] == [0, 15_000, 30_000, 59_999]
    assert {t.qty for t in near_high} == {D(2)}
    with pytest.raises(BadRecord, match="inconsistent bar"):
        bar_ticks(0, 60_000, (D(100), D(99), D(90), D(95), D(8)), "X", FUT, None)


def test_batches_close_on_the_event_time_window_and_on_size() -> None:
    batcher = MicroBatcher(window_ms=100, max_ticks=3)
    closed = [b for ts in (0, 10, 20, 30, 99, 130, 131, 250) for b in batcher.add(trade(ts))]
    closed += batcher.flush()
    # a window runs from the batch's first tick: [30, 130) closes when the tick at 130 arrives
    assert [b.ts for b in closed] == [[0, 10, 20], [30, 99], [130, 131], [250]]
    assert [b.seq for b in closed] == [0, 1, 2, 3]
    assert closed[0].price == [100.0] * 3 and closed[0].side == [1, 1, 1]


def test_symbols_batch_separately_and_a_late_tick_closes_others_windows() -> None:
    batcher = MicroBatcher(window_ms=50, max_ticks=100)
    out = (
        batcher.add(trade(0, symbol="A"))
        + batcher.add(trade(10, symbol="B"))
        + batcher.add(trade(20, symbol="A"))
    )
    assert out == []
    out = batcher.add(trade(60, symbol="B"))  # passes both windows: A's and B's close
    assert [(b.symbol, b.ts) for b in out] == [("A", [0, 20]), ("B", [10])]
    same_name_spot = batcher.add(trade(61, symbol="B", market=SPOT)) + batcher.flush()
    assert {(b.symbol, b.market, b.seq) for b in same_name_spot} == {("B", FUT, 1), ("B", SPOT, 0)}


def test_each_batch_says_when_s1_closed_it() -> None:
    """Event clock: a window that ran out closed at its end (the timer, however late the next tick
    shows it), a full batch at its filling tick, the end of input at the latest time seen; live,
    at the caller's clock, never before the batch's last tick."""
    batcher = MicroBatcher(window_ms=100, max_ticks=3)
    closed = [b for ts in (0, 10, 20, 30, 99, 250) for b in batcher.add(trade(ts))]
    closed += batcher.add(trade(260, symbol="B"))
    closed += batcher.flush()
    assert [(b.symbol, b.ts, b.v, b.closed_ts) for b in closed] == [
        ("BTCUSDT", [0, 10, 20], 2, 20),  # full
        ("BTCUSDT", [30, 99], 2, 130),  # its window [30, 130) ended before the tick at 250
        ("BTCUSDT", [250], 2, 260),  # end of input: B's tick at 260 was the last
        ("B", [260], 2, 260),
    ]
    assert [b.close_ts for b in closed] == [b.closed_ts for b in closed]

    live = MicroBatcher(window_ms=100, max_ticks=2)
    assert live.add(trade(1_000), at=990) == []
    [timer] = live.close_due(1_100, at=1_104)  # the connector's timer, on its own clock
    [full] = live.add(trade(1_200), at=1_203) + live.add(trade(1_201), at=1_204)
    live.add(trade(1_300))
    [ahead] = live.flush(at=1_250)  # the exchange's stamp ran ahead of our clock
    assert [(b.ts, b.closed_ts) for b in (timer, full, ahead)] == [
        ([1_000], 1_104),
        ([1_200, 1_201], 1_204),
        ([1_300], 1_300),
    ]


def test_close_due_flushes_a_quiet_symbol_by_the_watermark() -> None:
    batcher = MicroBatcher(window_ms=50, max_ticks=100)
    batcher.add(trade(0, symbol="A"))
    batcher.add(trade(30, symbol="B"))
    assert batcher.close_due(49) == []
    assert [b.symbol for b in batcher.close_due(50)] == ["A"]
    assert [b.symbol for b in batcher.close_due(80)] == ["B"] and batcher.flush() == []


def test_one_symbol_closes_early_before_its_funding_and_the_others_keep_their_window() -> None:
    batcher = MicroBatcher(window_ms=50, max_ticks=100)
    batcher.add(trade(0, symbol="A"))
    batcher.add(trade(10, symbol="B"))
    assert batcher.close_symbol(FUT, "C", 20) == []  # nothing open for it
    [a] = batcher.close_symbol(FUT, "A", 20)
    assert (a.symbol, a.ts, a.close_ts) == ("A", [0], 20)
    assert batcher.close_due(59) == [] and [b.symbol for b in batcher.close_due(60)] == ["B"]
    batcher.add(trade(70, symbol="A"))  # a new window of its own
    assert [(b.symbol, b.ts) for b in batcher.close_due(120)] == [("A", [70])]


def test_event_time_going_back_is_refused() -> None:
    batcher = MicroBatcher(window_ms=10, max_ticks=10)
    batcher.add(trade(100))
    with pytest.raises(ValueError, match="went back"):
        batcher.add(trade(99))


def test_quote_and_book_columns() -> None:
    quote = MarketEvent(1, "X", SPOT, "q", bid=D("99.5"), ask=D("100.5"), bid_qty=D(1), ask_qty=D(2))
    book = MarketEvent(2, "X", SPOT, "b", bids=((D(99), D(1)), (D(98), D(2))), asks=((D(101), D(3)),))
    [batch] = batch_all([trade(0, market=SPOT, symbol="X"), quote, book], window_ms=1_000)
    assert batch.kind == ["t", "q", "b"]
    assert batch.column("mid")[1:].tolist() == [100.0, 100.0]
    assert batch.column("spread_bp")[1] == pytest.approx(100.0)
    assert math.isnan(batch.column("bid")[0]) and batch.column("ask")[2] == 101.0
    assert batch.column("depth_bid")[2] == 3.0 and batch.column("depth_ask")[2] == 3.0
    assert batch.bid_px is not None and batch.ask_sz is not None
    assert np.allclose(batch.bid_px[2], [99.0, 98.0, np.nan, np.nan, np.nan], equal_nan=True)
    assert all(math.isnan(x) for x in batch.bid_px[0])  # rows before the first book are padded
    assert batch.ask_sz[2][0] == 3.0

    [trades_only] = batch_all([trade(0), trade(1)])
    assert trades_only.bid is None and trades_only.bid_px is None
    assert b'"bid"' not in trades_only.encode() and np.isnan(trades_only.column("bid")).all()


def test_deep_books_close_a_replay_sized_batch_before_it_outgrows_a_kafka_message() -> None:
    """``chimera replay`` batches up to thousands of ticks; rows of a 20-level book would make such a
    batch megabytes. The batcher closes at ``max_book_rows`` book rows instead, each batch well
    under the broker's 1 MB default; trade and quote rows still fill to ``max_ticks``."""
    levels = 20
    side = tuple((D(100_000) + D(i) / 7, D(i + 1) / 3) for i in range(levels))
    bids = tuple((p - 50, q) for p, q in side)
    books = [MarketEvent(t, "X", FUT, "b", bids=bids, asks=side) for t in range(5_000)]
    batcher = MicroBatcher(10**9, 4_096, levels)
    out = [b for ev in books for b in batcher.add(ev)] + batcher.flush()
    assert batcher.max_book_rows < 4_096
    assert [len(b) for b in out[:-1]] == [batcher.max_book_rows] * (len(out) - 1)
    assert sum(len(b) for b in out) == 5_000
    assert max(len(b.encode()) for b in out) < 900_000
    trades = MicroBatcher(10**9, 4_096, levels)
    assert [len(b) for t in range(5_000) for b in trades.add(trade(t))] == [4_096]


def test_wire_round_trip_is_exact_for_every_real_price() -> None:
    records = [*load_file(DATA / "nautilus" / "binance-futures_book_snapshot_25_BTCUSDT.csv")]
    records += [*load_file(DATA / "freqtrade" / "XRP_OLD-trades.json.gz")][:500]
    events = [e for e in records if isinstance(e, MarketEvent)]
    batches = [MarketBatch.decode(b.encode()) for b in batch_all(events, window_ms=60_000, max_ticks=64)]
    back = [e for b in batches for e in batch_events(b)]
    book_levels = MicroBatcher(1, 1).levels
    expected = [
        MarketEvent(
            e.ts,
            e.symbol,
            e.market,
            e.kind,
            e.price,
            e.qty,
            e.side,
            bids=e.bids[:book_levels],
            asks=e.asks[:book_levels],
        )
        for e in events
        if isinstance(e, MarketEvent)
    ]

    def by_symbol(evs: list[MarketEvent]) -> list[MarketEvent]:
        return sorted(evs, key=lambda e: (e.symbol, e.ts))  # stable: one symbol keeps its order

    assert by_symbol(back) == by_symbol(expected)  # Decimal prices survive float64 + JSON exactly


def test_invalid_batches_are_refused_with_the_reason() -> None:
    good = batch_all([trade(0), trade(5)])[0].model_dump()
    with pytest.raises(ValidationError, match="column 'price' has 1 rows, ts has 2"):
        MarketBatch(**{**good, "price": [1.0]})
    with pytest.raises(ValidationError, match="not monotonic"):
        MarketBatch(**{**good, "ts": [5, 0], "first_ts": 5, "last_ts": 0})
    with pytest.raises(ValidationError, match="kind"):
        MarketBatch.decode(MarketBatch(**good).encode().replace(b'"t"', b'"z"', 1))
    with pytest.raises(ValidationError, match="v"):
        MarketBatch(**{**good, "v": 3})
    with pytest.raises(ValidationError, match="closed_ts is the v2 field"):
        MarketBatch(**{**good, "v": 1})


def test_funding_event_keeps_money_exact() -> None:
    event = FundingEvent(
        symbol="XRPUSDT", funding_time=0, rate=D("0.00010000"), mark_price=D("1.0959"), ts=17
    )
    assert FundingEvent.decode(event.encode()) == event
    assert b'"rate":"0.00010000"' in event.encode()
