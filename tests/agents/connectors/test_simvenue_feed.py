"""Replaying real recordings through the loaders into SimExchange (freqtrade XRP perp + funding)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from simvenue_fixtures import REPO, D, make_config

from agents.connectors.marketdata import MarketEvent
from agents.connectors.port import OrderRequest
from agents.connectors.recordings import load_files
from agents.connectors.simvenue import SimExchange
from agents.connectors.simvenue.feed import apply
from chimera.model import ClientOrderId, Market, OrderStatus, OrderType, Side, Symbol
from topics.market import FundingEvent

FREQTRADE = REPO / "data" / "freqtrade"
H8 = 8 * 3_600_000
XRP = {
    "symbol": "XRPUSDT",
    "market": "FUT",
    "base": "XRP",
    "tick_size": "0.0001",
    "lot_size": "0.1",
    "min_qty": "0.1",
    "min_notional": "5",
}


def records() -> list[MarketEvent | FundingEvent]:
    files = [
        FREQTRADE / "XRP_USDT_USDT-5m-futures.feather",
        FREQTRADE / "XRP_USDT_USDT-8h-funding_rate.feather",
    ]
    for f in files:
        if not f.exists():
            pytest.fail(f"missing recording {f}")
    out = list(load_files(files))
    assert all(isinstance(r, MarketEvent | FundingEvent) for r in out)
    return out  # type: ignore[return-value]


def expected_payments(
    recs: list[MarketEvent | FundingEvent], qty: Decimal
) -> list[tuple[int, Decimal, Decimal]]:
    """Worked out from the raw records, independently of the exchange: at each 00/08/16 h boundary,
    rate = the crossing record's own rate when it is the funding row of this boundary, else the
    latest rate seen before; mark = the mark published with that own rate (the -mark file beside
    the rates), else the last trade before the crossing record; a long pays qty·mark·rate."""
    out = []
    last_price: Decimal | None = None
    rate: Decimal | None = None
    prev_ts = recs[0].ts
    for r in recs[1:]:
        boundary = (prev_ts // H8 + 1) * H8
        while boundary <= r.ts:
            own = r.rate if isinstance(r, FundingEvent) and r.funding_time == boundary else None
            use = own if own is not None else rate
            mark = r.mark_price if own is not None and isinstance(r, FundingEvent) else None
            mark = mark or last_price
            if use is not None and mark is not None:
                amount = (-qty * mark * use).quantize(D("0.00000001"), rounding=ROUND_HALF_EVEN)
                out.append((boundary, use, amount))
            boundary += H8
        prev_ts = r.ts
        if isinstance(r, FundingEvent):
            rate = r.rate
        elif r.price is not None:
            last_price = r.price
    return out


def test_replay_of_recorded_bars_and_funding_settles_every_8h() -> None:
    recs = records()
    ex = SimExchange(make_config(instruments=[XRP], leverage={"XRPUSDT": 1}, market_slippage="0"))
    apply(ex, recs[0])
    first = recs[0]
    assert isinstance(first, MarketEvent) and first.price == D("1.1893")
    req = OrderRequest(
        Symbol("XRPUSDT"), Market.FUT, Side.BUY, OrderType.MARKET, D("1000"), ClientOrderId("x")
    )
    assert ex.submit(req).status is OrderStatus.FILLED
    # margin 1189.3 at leverage 1; fee 1189.3 x 0.0004 = 0.47572
    assert ex.balances(Market.FUT)["USDT"].free == D("8810.22428")
    for r in recs[1:]:
        apply(ex, r)
    got = [(p.funding_time, p.rate, p.amount) for p in ex.funding_payments()]
    want = expected_payments(recs, D("1000"))
    assert len(want) > 80  # Nov 18 → Dec 18, three a day
    assert got == want
    assert ex.balances(Market.FUT)["USDT"].free == D("8810.22428") + sum(a for _, _, a in want)
    [pos] = ex.positions()
    assert (pos.qty, pos.entry_price) == (D("1000"), D("1.1893"))
