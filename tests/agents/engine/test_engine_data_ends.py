"""A perpetual whose recording ends before the run does is closed where its data ends
(``agents.engine.ends``), not held through the gap.

The input is shaped as the shipped demo's: XRP's candles cut while a short is open (2021-11-18
07:20 UTC; found by running the week, the data are fixed), XRP's mark and funding series running
on four weeks past that, then a day of the BTC month six weeks later, on one bundle trading both.
"""

from __future__ import annotations

from decimal import Decimal

from conftest import RunFactory
from engine_kit import btc, check_cash, last_snapshots, xrp, xrp_bundle

from agents.connectors.marketdata import MarketEvent
from agents.connectors.recordings import Record
from agents.engine.ends import END_OF_DATA, END_OF_RUN, DataEnds
from chimera.model import Market
from topics.market import FundingEvent

CUT = 1_637_220_000_000  # 2021-11-18 07:20 UTC: a short opened at 04:59 is still open
WINDOW = 100  # EngineConfig.batch_window_ms, the live S1 window


def xrp_cut_then_btc() -> list[Record]:
    """XRP's price ticks up to CUT, all its marks and funding rates, then the first BTC day."""
    series = [
        r for r in xrp(until=2**62) if not (isinstance(r, MarketEvent) and r.kind != "m" and r.ts > CUT)
    ]
    return sorted(series, key=lambda r: r.ts) + btc(days=1)


def last_price(records: list[Record], symbol: str) -> MarketEvent:
    return max(
        (r for r in records if isinstance(r, MarketEvent) and r.symbol == symbol and r.kind != "m"),
        key=lambda r: r.ts,
    )


def test_only_the_marks_and_rates_after_a_series_last_price_are_trimmed() -> None:
    records = xrp_cut_then_btc()
    ends = DataEnds(records, WINDOW)
    xrp_end = last_price(records, "XRPUSDT").ts
    assert ends.last == {(Market.FUT, "XRPUSDT"): xrp_end, (Market.FUT, "BTCUSDT"): records[-1].ts}
    kept = ends.trim(records)
    late = [r for r in records if r.symbol == "XRPUSDT" and r.ts > xrp_end]
    assert late and all(isinstance(r, FundingEvent) or r.kind == "m" for r in late)  # type: ignore[union-attr]
    assert len(kept) == len(records) - len(late) and ends.dropped[Market.FUT, "XRPUSDT"] == len(late)
    assert [r for r in records if r not in late] == kept  # the rest as it was, in its order
    assert ends.due(xrp_end + WINDOW - 1) == [] and ends.due(xrp_end + WINDOW) == ["XRPUSDT"]
    assert ends.due(records[-1].ts + WINDOW) == ["BTCUSDT"] and ends.due(2**62) == []  # each once


async def test_a_position_open_when_its_data_ends_is_closed_there_not_held_to_the_run_end(
    run: RunFactory,
) -> None:
    records = xrp_cut_then_btc()
    end = last_price(records, "XRPUSDT")
    done = await run(records, xrp_bundle(), regime="NORMAL", data_ends=True)
    res, db = done.result, done.db
    assert res.final is not None and not res.dead_letters
    (close,) = [i for i in res.intents if i.reason == END_OF_DATA]
    assert close.symbol == "XRPUSDT" and close.reduce_only and close.side.value == "BUY"  # a short's
    (fill,) = [f for r, f in res.fills if r.intent_id == close.intent_id]
    assert fill.qty == close.qty and fill.ts <= end.ts + WINDOW < records[-1].ts
    # at the series' last price (plus the venue's taker slippage on it), not at a later mark
    assert (
        fill.price >= end.price
        and abs(fill.slippage_bps - float((fill.price / end.price - 1) * 10_000)) < 1e-6
    )
    snaps = last_snapshots(db)
    xrp_closed = [v for v in snaps.values() if v["symbol"] == "XRPUSDT"]
    assert xrp_closed and {v["status"] for v in xrp_closed} == {"CLOSED"}
    assert max(v["ts"] for v in xrp_closed) <= end.ts + WINDOW
    # no funding settled after XRP's last price, and nothing held into BTC's day
    assert res.funding and max(p.funding_time for p in res.funding) <= end.ts
    assert {i.symbol for i in res.intents if i.reason == END_OF_RUN} <= {"BTCUSDT"}
    assert any(v["symbol"] == "BTCUSDT" for v in snaps.values())  # BTC traded after it
    assert res.final.gate.budget_inuse == 0 and sum(res.final.gate.concurrency.values()) == 0
    check_cash(res, db)

    # without the end, the same short is held six weeks and paid funding from marks after it
    held = await run(records, xrp_bundle(), regime="NORMAL")
    late = [p for p in held.result.funding if p.funding_time > end.ts]
    assert late and sum((p.amount for p in late), Decimal(0)) != 0
    (kept,) = [i for i in held.result.intents if i.reason == END_OF_RUN and i.symbol == "XRPUSDT"]
    assert kept.pos_id == close.pos_id
