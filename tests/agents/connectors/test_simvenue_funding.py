"""SimExchange funding: settled in event time at 00:00, 08:00 and 16:00 UTC with the latest rate."""

from __future__ import annotations

from simvenue_fixtures import BTC, D, make_exchange, order

from agents.connectors.simvenue import FundingPayment
from chimera.model import Market, Symbol

FUT = Market.FUT
DAY = 1_640_995_200_000  # 2022-01-01 00:00:00 UTC
H8 = 8 * 3_600_000
SYM = Symbol(BTC)


def test_funding_is_settled_when_event_time_crosses_each_8h_boundary() -> None:
    ex = make_exchange(market_slippage="0")
    ex.on_trade(BTC, FUT, DAY + 1_000, D("40000.0"), D("1"))
    ex.submit(order("long", "BUY", "MARKET", "0.1", market="FUT"))
    assert ex.balances(FUT)["USDT"].free == D("9598.4")
    ex.on_funding_rate(BTC, DAY + 2_000, D("0.0001"), DAY + H8)
    ex.on_trade(BTC, FUT, DAY + H8 - 1, D("40100.0"), D("1"))  # 07:59:59.999: not yet
    assert ex.funding_payments() == []
    events = ex.on_trade(BTC, FUT, DAY + H8, D("40200.0"), D("1"))  # 08:00:00.000
    # the long pays 0.1 x 40100 (mark before the event) x 0.0001 = 0.401
    paid = FundingPayment(SYM, DAY + H8, D("0.0001"), D("0.1"), D("40100.0"), D("-0.401"))
    assert events[:1] == [paid]
    assert ex.balances(FUT)["USDT"].free == D("9597.999")
    ex.on_funding_rate(BTC, DAY + H8 + 1, D("-0.0002"), DAY + 2 * H8)
    ex.on_trade(BTC, FUT, DAY + 2 * H8 + 1, D("40300.0"), D("1"))
    # negative rate: the long receives 0.1 x 40200 x 0.0002 = 0.804
    ex.advance(DAY + 4 * H8)  # no market data for 16 h: 00:00 and 08:00 next day, mark 40300
    assert ex.funding_payments() == [
        paid,
        FundingPayment(SYM, DAY + 2 * H8, D("-0.0002"), D("0.1"), D("40200.0"), D("0.804")),
        FundingPayment(SYM, DAY + 3 * H8, D("-0.0002"), D("0.1"), D("40300.0"), D("0.806")),
        FundingPayment(SYM, DAY + 4 * H8, D("-0.0002"), D("0.1"), D("40300.0"), D("0.806")),
    ]
    assert ex.balances(FUT)["USDT"].free == D("9600.415")  # 9597.999 + 0.804 + 0.806 + 0.806


def test_short_receives_a_positive_rate_and_flat_books_pay_nothing() -> None:
    ex = make_exchange(market_slippage="0")
    ex.on_trade(BTC, FUT, DAY + 1_000, D("40000.0"), D("1"))
    ex.on_funding_rate(BTC, DAY + 1_000, D("0.0003"), DAY + H8)
    ex.advance(DAY + H8)  # no position yet: nothing
    assert ex.funding_payments() == []
    ex.submit(order("short", "SELL", "MARKET", "0.2", market="FUT"))
    free = ex.balances(FUT)["USDT"].free
    ex.advance(DAY + 2 * H8)
    [pay] = ex.funding_payments(BTC)
    assert (pay.funding_time, pay.amount) == (DAY + 2 * H8, D("2.4"))  # 0.2 x 40000 x 0.0003
    assert ex.balances(FUT)["USDT"].free - free == D("2.4")


def test_no_rate_known_means_no_settlement() -> None:
    ex = make_exchange(market_slippage="0")
    ex.on_trade(BTC, FUT, DAY + 1_000, D("40000.0"), D("1"))
    ex.submit(order("long", "BUY", "MARKET", "0.1", market="FUT"))
    ex.advance(DAY + 3 * H8)
    assert ex.funding_payments() == []


def test_a_rate_published_with_its_mark_is_settled_at_that_mark() -> None:
    # the recorded mark at the settlement instant (freqtrade's -mark file beside the rates), not the
    # last trade the venue saw before it; a later slot with no rate of its own falls back on the
    # latest rate and the venue's own mark when it crossed the slot
    ex = make_exchange(market_slippage="0")
    ex.on_trade(BTC, FUT, DAY + 1_000, D("40000.0"), D("1"))
    ex.submit(order("long", "BUY", "MARKET", "0.1", market="FUT"))
    ex.on_trade(BTC, FUT, DAY + H8 - 1, D("40100.0"), D("1"))
    ex.on_funding_rate(BTC, DAY + H8 + 17, D("0.0001"), DAY + H8, mark=D("40150.0"))
    ex.on_trade(BTC, FUT, DAY + 2 * H8 - 1, D("40300.0"), D("1"))
    ex.advance(DAY + 2 * H8 + 10_000)  # past the grace: 16:00 is paid with the latest rate
    assert ex.funding_payments() == [
        FundingPayment(SYM, DAY + H8, D("0.0001"), D("0.1"), D("40150.0"), D("-0.4015")),
        FundingPayment(SYM, DAY + 2 * H8, D("0.0001"), D("0.1"), D("40300.0"), D("-0.403")),
    ]
