"""SimExchange spot: market, limit, post-only, filters, duplicates, latency, real trades.

Expected amounts are worked out by hand in the comments (fees 0.001 maker and taker).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from simvenue_fixtures import BTC, D, make_exchange, order, real_trades

from agents.connectors.port import DuplicateClientOrderId, Fill, InsufficientBalance, OrderRejected
from chimera.model import ClientOrderId, Market, OrderStatus

SPOT = Market.SPOT


def usdt(ex: object, market: Market = SPOT) -> tuple[Decimal, Decimal]:
    bal = ex.balances(market)["USDT"]  # type: ignore[attr-defined]
    return bal.free, bal.locked


def btc(ex: object) -> tuple[Decimal, Decimal]:
    bal = ex.balances(SPOT)["BTC"]  # type: ignore[attr-defined]
    return bal.free, bal.locked


def test_market_buy_walks_the_book_and_pays_taker_fees() -> None:
    ex = make_exchange()
    ex.on_quote(
        BTC,
        SPOT,
        1_000,
        [(D("39990.00"), D("0.5"))],
        [(D("40000.00"), D("0.01")), (D("40001.50"), D("0.02"))],
    )
    state = ex.submit(order("m1", "BUY", "MARKET", "0.025"))
    assert state.status is OrderStatus.FILLED
    assert [(f.price, f.qty, f.fee, f.is_maker) for f in state.fills] == [
        (D("40000.00"), D("0.01"), D("0.40000000"), False),  # 400.00 x 0.001
        (D("40001.50"), D("0.015"), D("0.60002250"), False),  # 600.0225 x 0.001
    ]
    assert state.avg_price == D("40000.9")  # 1000.0225 / 0.025
    # 10000 - 400 - 600.0225 - 0.4 - 0.6000225
    assert usdt(ex) == (D("8998.9774775"), 0)
    assert btc(ex) == (D("1.025"), 0)
    # the book was consumed: the next buy finds only 0.005 at 40001.50, the rest at 40001.50 + 0.05%
    nxt = ex.submit(order("m2", "BUY", "MARKET", "0.006"))
    assert [(f.price, f.qty) for f in nxt.fills] == [(D("40001.50"), D("0.005")), (D("40021.51"), D("0.001"))]


def test_market_sell_without_a_book_fills_at_last_trade_minus_slippage() -> None:
    ex = make_exchange()
    ex.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("0.1"))
    state = ex.submit(order("s1", "SELL", "MARKET", "0.1"))
    # 40000 x (1 - 0.0005) = 39980.00
    assert [(f.price, f.qty, f.fee) for f in state.fills] == [(D("39980.00"), D("0.1"), D("3.99800000"))]
    assert usdt(ex) == (D("13994.002"), 0)  # 10000 + 3998 - 3.998
    assert btc(ex) == (D("0.9"), 0)


def test_market_buy_with_no_market_data_expires() -> None:
    ex = make_exchange()
    state = ex.submit(order("m1", "BUY", "MARKET", "0.01"))
    assert state.status is OrderStatus.EXPIRED and state.filled_qty == 0
    assert usdt(ex) == (D("10000"), 0)


def test_limit_rests_then_fills_partially_by_traded_quantity_as_maker() -> None:
    ex = make_exchange()
    ex.on_trade(BTC, SPOT, 1_000, D("39500.00"), D("1"))
    state = ex.submit(order("l1", "BUY", "LIMIT", "0.2", price="39000.00"))
    assert state.status is OrderStatus.NEW
    # reservation: 0.2 x 39000 x 1.001 = 7807.8
    assert usdt(ex) == (D("2192.2"), D("7807.8"))
    assert ex.drain() == [state]  # what the submission did, once
    assert ex.on_trade(BTC, SPOT, 2_000, D("39000.01"), D("5")) == []  # above the limit: nothing
    events = ex.on_trade(BTC, SPOT, 3_000, D("39000.00"), D("0.05"))  # at the limit: 0.05 only
    fills = [e for e in events if isinstance(e, Fill)]
    assert [(f.price, f.qty, f.fee, f.is_maker) for f in fills] == [
        (D("39000.00"), D("0.05"), D("1.95000000"), True)  # 1950 x 0.001
    ]
    part = ex.order(SPOT, BTC, ClientOrderId("l1"))
    assert part.status is OrderStatus.PARTIALLY_FILLED and part.filled_qty == D("0.05")
    assert usdt(ex) == (D("2192.2"), D("5855.85"))  # 0.15 x 39039 still reserved
    ex.on_trade(BTC, SPOT, 4_000, D("38990.00"), D("0.5"))  # through the limit: fills at the limit
    done = ex.order(SPOT, BTC, ClientOrderId("l1"))
    assert done.status is OrderStatus.FILLED
    assert [(f.price, f.qty, f.fee) for f in done.fills][1] == (D("39000.00"), D("0.15"), D("5.85000000"))
    assert usdt(ex) == (D("2192.2"), 0)  # 10000 - 7800 - 7.8
    assert btc(ex) == (D("1.2"), 0)
    assert ex.open_orders(SPOT) == []


def test_resting_sell_fills_only_when_a_trade_prints_at_its_price() -> None:
    ex = make_exchange()
    ex.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("1"))
    ex.submit(order("l1", "SELL", "LIMIT", "0.05", price="40100.00"))
    assert btc(ex) == (D("0.95"), D("0.05"))
    ex.on_trade(BTC, SPOT, 2_000, D("40099.99"), D("3"))
    assert ex.order(SPOT, BTC, ClientOrderId("l1")).filled_qty == 0
    ex.on_trade(BTC, SPOT, 3_000, D("40100.00"), D("0.02"))
    state = ex.order(SPOT, BTC, ClientOrderId("l1"))
    assert (state.status, state.filled_qty) == (OrderStatus.PARTIALLY_FILLED, D("0.02"))
    assert btc(ex) == (D("0.95"), D("0.03"))
    assert usdt(ex) == (D("10801.1980"), 0)  # 10000 + 802 - 0.802


def test_marketable_limit_takes_the_book_up_to_its_price_then_rests() -> None:
    ex = make_exchange()
    ex.on_quote(
        BTC, SPOT, 1_000, [(D("39999.00"), D("1"))], [(D("40000.00"), D("0.01")), (D("40005.00"), D("1"))]
    )
    state = ex.submit(order("l1", "BUY", "LIMIT", "0.03", price="40002.00"))
    assert state.status is OrderStatus.PARTIALLY_FILLED
    assert [(f.price, f.qty, f.is_maker) for f in state.fills] == [(D("40000.00"), D("0.01"), False)]
    assert ex.open_orders(SPOT)[0].client_order_id == "l1"


def test_limit_maker_that_would_cross_is_rejected_and_releases_funds() -> None:
    ex = make_exchange()
    ex.on_quote(BTC, SPOT, 1_000, [(D("39999.99"), D("1"))], [(D("40000.00"), D("1"))])
    state = ex.submit(order("pm1", "BUY", "LIMIT_MAKER", "0.1", price="40000.00"))
    assert state.status is OrderStatus.REJECTED and state.fills == ()
    assert ex.reason(SPOT, ClientOrderId("pm1")) == ("Order would immediately match and take.", -2010)
    assert usdt(ex) == (D("10000"), 0)
    ok = ex.submit(order("pm2", "BUY", "LIMIT_MAKER", "0.1", price="39999.99"))
    assert ok.status is OrderStatus.NEW
    assert usdt(ex) == (D("5996.001001"), D("4003.998999"))  # 0.1 x (39999.99 + 39.99999)


@pytest.mark.parametrize(
    ("qty", "price", "needle"),
    [
        ("0.01", "40000.005", "PRICE_FILTER"),
        ("0.0000015", "40000.00", "LOT_SIZE"),
        ("0.000001", "40000.00", "LOT_SIZE"),  # under min_qty 0.00001
        ("0.0001", "40000.00", "NOTIONAL"),  # 4 USDT < 5
    ],
)
def test_filter_failures_are_rejected_with_a_reason(qty: str, price: str, needle: str) -> None:
    ex = make_exchange()
    with pytest.raises(OrderRejected, match=needle) as err:
        ex.submit(order("f1", "BUY", "LIMIT", qty, price=price))
    assert err.value.code == -1013
    assert ex.open_orders(SPOT) == [] and usdt(ex) == (D("10000"), 0)


def test_duplicate_client_order_id_is_refused_like_binance_spot() -> None:
    ex = make_exchange()
    ex.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("1"))
    ex.submit(order("dup", "BUY", "MARKET", "0.01"))  # filled, still known to the venue
    with pytest.raises(DuplicateClientOrderId, match="Duplicate order sent") as err:
        ex.submit(order("dup", "BUY", "LIMIT", "0.01", price="39000.00"))
    assert err.value.code == -2010
    assert len(ex.order(SPOT, BTC, ClientOrderId("dup")).fills) == 1


def test_insufficient_balance_is_refused_before_anything_is_locked() -> None:
    ex = make_exchange()
    with pytest.raises(InsufficientBalance):
        ex.submit(order("big", "SELL", "LIMIT", "1.5", price="40000.00"))
    with pytest.raises(InsufficientBalance):
        ex.submit(order("big2", "BUY", "LIMIT", "0.3", price="40000.00"))  # 12012 > 10000
    assert btc(ex) == (D("1"), 0) and usdt(ex) == (D("10000"), 0)


def test_latency_delays_the_order_to_the_first_event_after_it() -> None:
    ex = make_exchange(latency_ms=100)
    ex.on_quote(BTC, SPOT, 1_000, [(D("39999.00"), D("1"))], [(D("40000.00"), D("1"))])
    state = ex.submit(order("m1", "BUY", "MARKET", "0.01"))
    assert state.status is OrderStatus.NEW and state.fills == ()
    assert ex.drain() == [state]
    assert ex.on_quote(BTC, SPOT, 1_099, [(D("40009.00"), D("1"))], [(D("40010.00"), D("1"))]) == []
    events = ex.on_trade(BTC, SPOT, 1_100, D("40010.00"), D("0.001"))
    fills = [e for e in events if isinstance(e, Fill)]
    assert [(f.price, f.qty, f.ts) for f in fills] == [(D("40010.00"), D("0.01"), 1_100)]
    # an order cancelled while in flight never trades
    ex.submit(order("m2", "BUY", "MARKET", "0.01"))
    assert ex.cancel(SPOT, BTC, ClientOrderId("m2")).status is OrderStatus.CANCELED
    ex.on_trade(BTC, SPOT, 1_300, D("40010.00"), D("1"))
    assert ex.order(SPOT, BTC, ClientOrderId("m2")).fills == ()


def test_limit_buy_fills_on_real_binance_trades() -> None:
    trades = real_trades(12)
    ex = make_exchange()
    ts, price, qty = trades[0]
    ex.on_trade(BTC, SPOT, ts, price, qty)
    ex.submit(order("real", "BUY", "LIMIT", "0.01", price="39432.37"))
    for ts, price, qty in trades[1:]:
        ex.on_trade(BTC, SPOT, ts, price, qty)
    state = ex.order(SPOT, BTC, ClientOrderId("real"))
    assert state.status is OrderStatus.FILLED
    # prints at/through 39432.37: #7 0.000563, #9 0.006029, #10 (39432.36) 0.000777, #11 (39430.63) rest
    assert [(f.qty, f.fee, f.ts) for f in state.fills] == [
        (D("0.000563"), D("0.02220042"), 1610064000610),  # 22.20042431 x 0.001
        (D("0.006029"), D("0.23773776"), 1610064000673),  # 237.73775873 x 0.001
        (D("0.000777"), D("0.03063895"), 1610064000673),  # 30.63895149 x 0.001
        (D("0.002631"), D("0.10374657"), 1610064000673),  # 103.74656547 x 0.001
    ]
    assert {f.price for f in state.fills} == {D("39432.37")}
    assert usdt(ex) == (D("9605.2819763"), 0)  # 10000 - 394.3237 - 0.3943237
    assert btc(ex) == (D("1.01"), 0)


def test_ioc_takes_what_it_can_and_fok_all_or_nothing() -> None:
    ex = make_exchange()
    book = ([(D("39999.00"), D("1"))], [(D("40000.00"), D("0.01")), (D("40010.00"), D("1"))])
    ex.on_quote(BTC, SPOT, 1_000, *book)
    fok = ex.submit(order("fok", "BUY", "LIMIT", "0.02", price="40005.00", tif="FOK"))
    assert (fok.status, fok.filled_qty) == (OrderStatus.EXPIRED, 0)
    ioc = ex.submit(order("ioc", "BUY", "LIMIT", "0.02", price="40005.00", tif="IOC"))
    assert (ioc.status, ioc.filled_qty) == (OrderStatus.EXPIRED, D("0.01"))
    assert usdt(ex) == (D("9599.6"), 0)  # 10000 - 400 - 0.4
    ex.on_quote(BTC, SPOT, 2_000, *book)
    fok2 = ex.submit(order("fok2", "BUY", "LIMIT", "0.02", price="40010.00", tif="FOK"))
    assert [(f.price, f.qty) for f in fok2.fills] == [(D("40000.00"), D("0.01")), (D("40010.00"), D("0.01"))]
    assert fok2.status is OrderStatus.FILLED


def test_stop_loss_limit_triggers_then_rests_as_a_maker_limit() -> None:
    ex = make_exchange()
    ex.on_quote(BTC, SPOT, 1_000, [(D("39999.00"), D("1"))], [(D("40001.00"), D("1"))])
    ex.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("1"))
    ex.submit(order("sl", "SELL", "STOP_LOSS_LIMIT", "0.1", price="39500.00", stop="39800.00"))
    ex.on_trade(BTC, SPOT, 2_000, D("39800.01"), D("1"))
    assert ex.order(SPOT, BTC, ClientOrderId("sl")).status is OrderStatus.NEW
    # gap down through the stop AND the limit: the limit (39500) is not marketable against 39400
    ex.on_trade(BTC, SPOT, 3_000, D("39400.00"), D("1"))
    assert ex.order(SPOT, BTC, ClientOrderId("sl")).filled_qty == 0
    ex.on_trade(BTC, SPOT, 4_000, D("39500.00"), D("0.04"))
    state = ex.order(SPOT, BTC, ClientOrderId("sl"))
    assert [(f.price, f.qty, f.is_maker, f.fee) for f in state.fills] == [
        (D("39500.00"), D("0.04"), True, D("1.58000000"))  # 1580 x 0.001
    ]
    assert state.status is OrderStatus.PARTIALLY_FILLED


def test_bad_market_data_is_refused_by_name() -> None:
    ex = make_exchange()
    with pytest.raises(ValueError, match="price and qty must be positive"):
        ex.on_trade(BTC, SPOT, 1_000, D("-1"), D("1"))
    with pytest.raises(ValueError, match="levels must be positive"):
        ex.on_quote(BTC, SPOT, 1_000, [(D("40000.00"), D("0"))], [])
    with pytest.raises(ValueError, match="mark at 5 must be positive"):
        ex.on_mark_price(BTC, 5, D("0"))
