"""SimExchange USDT-M perpetuals: positions, margin, reduce-only, stops, post-only, liquidation.

Leverage 10, maintenance margin rate 0.005, fees 0.0002 maker / 0.0004 taker; no slippage unless
said, so a market order with no book fills at the last trade.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from simvenue_fixtures import BTC, D, make_exchange, order

from agents.connectors.port import DuplicateClientOrderId, Fill, OrderRejected
from agents.connectors.simvenue import SimExchange
from chimera.model import ClientOrderId, Market, OrderStatus

FUT = Market.FUT


def wallet(ex: SimExchange) -> tuple[Decimal, Decimal]:
    bal = ex.balances(FUT)["USDT"]
    return bal.free, bal.locked


def long_01_at_40000(ex: SimExchange) -> None:
    ex.on_trade(BTC, FUT, 1_000, D("40000.0"), D("1"))
    state = ex.submit(order("open", "BUY", "MARKET", "0.1", market="FUT"))
    assert state.status is OrderStatus.FILLED


def test_open_add_reduce_and_flip_move_margin_pnl_and_entry() -> None:
    ex = make_exchange(market_slippage="0")
    ex.on_quote(BTC, FUT, 1_000, [(D("39999.9"), D("5"))], [(D("40000.0"), D("5"))])
    ex.submit(order("o1", "BUY", "MARKET", "0.1", market="FUT"))
    # margin 4000 / 10 = 400, fee 4000 x 0.0004 = 1.6
    assert wallet(ex) == (D("9598.4"), D("400"))
    [pos] = ex.positions()
    assert (pos.qty, pos.entry_price, pos.liquidation_price, pos.margin) == (
        D("0.1"), D("40000"), D("36200.0"), D("400"),  # 40000 x (1 - 0.1 + 0.005)
    )  # fmt: skip
    assert pos.mark_price == D("39999.95")  # mid of the book
    ex.on_quote(BTC, FUT, 2_000, [(D("40999.9"), D("5"))], [(D("41000.0"), D("5"))])
    ex.submit(order("o2", "BUY", "MARKET", "0.1", market="FUT"))
    [pos] = ex.positions()
    assert (pos.qty, pos.entry_price, pos.liquidation_price) == (D("0.2"), D("40500"), D("36652.5"))
    assert wallet(ex) == (D("9186.76"), D("810"))  # - 410 margin - 1.64 fee
    ex.on_quote(BTC, FUT, 3_000, [(D("42000.0"), D("5"))], [(D("42000.1"), D("5"))])
    ex.submit(order("o3", "SELL", "MARKET", "0.15", market="FUT"))
    # realised (42000 - 40500) x 0.15 = 225; margin back 810 x 0.75 = 607.5; fee 6300 x 0.0004 = 2.52
    assert wallet(ex) == (D("10016.74"), D("202.5"))
    assert ex.positions()[0].qty == D("0.05")
    ex.submit(order("o4", "SELL", "MARKET", "0.1", market="FUT"))  # not reduce-only: flips short
    # close 0.05: +75 and 202.5 back; open 0.05 short: 210 margin; fee 4200 x 0.0004 = 1.68
    assert wallet(ex) == (D("10082.56"), D("210"))
    [pos] = ex.positions()
    assert (pos.qty, pos.entry_price, pos.liquidation_price) == (D("-0.05"), D("42000"), D("45990.0"))


def test_reduce_only_is_clipped_to_the_position_and_never_flips() -> None:
    ex = make_exchange(market_slippage="0")
    long_01_at_40000(ex)
    state = ex.submit(order("r1", "SELL", "MARKET", "0.3", market="FUT", reduce_only=True))
    assert (state.status, state.qty, state.filled_qty) == (OrderStatus.FILLED, D("0.1"), D("0.1"))
    assert ex.positions() == []
    assert wallet(ex) == (D("9996.8"), 0)  # two taker fees of 1.6, no PnL
    with pytest.raises(OrderRejected, match="ReduceOnly") as err:
        ex.submit(order("r2", "SELL", "MARKET", "0.1", market="FUT", reduce_only=True))
    assert err.value.code == -2022


def test_reduce_only_on_the_growing_side_is_rejected() -> None:
    ex = make_exchange(market_slippage="0")
    long_01_at_40000(ex)
    with pytest.raises(OrderRejected, match="ReduceOnly"):
        ex.submit(order("r1", "BUY", "LIMIT", "0.1", market="FUT", price="39000.0", reduce_only=True))


def test_resting_reduce_only_limit_fills_what_is_left_then_expires() -> None:
    ex = make_exchange(market_slippage="0")
    long_01_at_40000(ex)
    ex.submit(order("tp", "SELL", "LIMIT", "0.1", market="FUT", price="41000.0", reduce_only=True))
    ex.submit(order("cut", "SELL", "MARKET", "0.06", market="FUT"))
    ex.on_trade(BTC, FUT, 2_000, D("41000.0"), D("1"))
    state = ex.order(FUT, BTC, ClientOrderId("tp"))
    assert (state.status, state.filled_qty) == (OrderStatus.EXPIRED, D("0.04"))
    assert ex.positions() == []  # closed, not flipped short
    assert state.fills[0].fee == D("0.32800000")  # 1640 x 0.0002 maker


def test_stop_market_triggers_on_last_price_crossing_the_stop() -> None:
    ex = make_exchange(market_slippage="0")
    long_01_at_40000(ex)
    ex.submit(order("sl", "SELL", "STOP_MARKET", "0.1", market="FUT", stop="39000.0", reduce_only=True))
    ex.on_trade(BTC, FUT, 2_000, D("39000.1"), D("1"))
    assert ex.order(FUT, BTC, ClientOrderId("sl")).status is OrderStatus.NEW
    ex.on_trade(BTC, FUT, 3_000, D("38990.0"), D("1"))
    state = ex.order(FUT, BTC, ClientOrderId("sl"))
    assert state.status is OrderStatus.FILLED
    assert [(f.price, f.fee, f.ts) for f in state.fills] == [(D("38990.0"), D("1.55960000"), 3_000)]
    # 10000 - 1.6 - 101 (loss) - 1.5596
    assert wallet(ex) == (D("9895.8404"), 0)


def test_stop_that_would_trigger_at_once_is_rejected() -> None:
    ex = make_exchange(market_slippage="0")
    long_01_at_40000(ex)
    state = ex.submit(order("sl", "SELL", "STOP_MARKET", "0.1", market="FUT", stop="40100.0"))
    assert state.status is OrderStatus.REJECTED
    assert ex.reason(FUT, ClientOrderId("sl")) == ("Order would immediately trigger.", -2021)


def test_take_profit_close_position_closes_whatever_is_open() -> None:
    ex = make_exchange(market_slippage="0")
    long_01_at_40000(ex)
    ex.submit(
        order("tp", "SELL", "TAKE_PROFIT_MARKET", None, market="FUT", stop="41000.0", close_position=True)
    )
    ex.submit(order("add", "BUY", "MARKET", "0.05", market="FUT"))
    ex.on_trade(BTC, FUT, 2_000, D("40999.9"), D("1"))
    assert ex.positions()[0].qty == D("0.15")
    ex.on_trade(BTC, FUT, 3_000, D("41000.0"), D("1"))
    state = ex.order(FUT, BTC, ClientOrderId("tp"))
    assert (state.status, state.qty, state.filled_qty) == (OrderStatus.FILLED, D("0.15"), D("0.15"))
    assert ex.positions() == []
    # fees 1.6 + 0.8 + 2.46 (6150 x 0.0004); PnL (41000 - 40000) x 0.15 = 150
    assert wallet(ex) == (D("10145.14"), 0)


def test_reduce_only_stop_with_no_position_left_expires() -> None:
    ex = make_exchange(market_slippage="0")
    long_01_at_40000(ex)
    ex.submit(order("sl", "SELL", "STOP_MARKET", "0.1", market="FUT", stop="39000.0", reduce_only=True))
    ex.submit(order("out", "SELL", "MARKET", "0.1", market="FUT"))
    ex.on_trade(BTC, FUT, 2_000, D("38000.0"), D("1"))
    assert ex.order(FUT, BTC, ClientOrderId("sl")).status is OrderStatus.EXPIRED
    assert ex.positions() == []


def test_gtx_post_only_that_would_take_expires() -> None:
    ex = make_exchange(market_slippage="0")
    ex.on_trade(BTC, FUT, 1_000, D("40000.0"), D("1"))
    taker = ex.submit(order("g1", "BUY", "LIMIT", "0.1", market="FUT", price="40000.0", tif="GTX"))
    assert taker.status is OrderStatus.EXPIRED and taker.fills == ()
    assert wallet(ex) == (D("10000"), 0)
    maker = ex.submit(order("g2", "BUY", "LIMIT", "0.1", market="FUT", price="39999.9", tif="GTX"))
    assert maker.status is OrderStatus.NEW
    # reserved 0.1 x (39999.9 / 10 + 39999.9 x 0.0004) = 0.1 x 4015.98996
    assert wallet(ex) == (D("9598.401004"), D("401.598996"))
    ex.on_trade(BTC, FUT, 2_000, D("39999.9"), D("1"))
    filled = ex.order(FUT, BTC, ClientOrderId("g2"))
    assert (filled.status, filled.fills[0].fee, filled.fills[0].is_maker) == (
        OrderStatus.FILLED, D("0.79999800"), True,  # 3999.99 x 0.0002
    )  # fmt: skip
    # margin 3999.99 / 10 = 399.999 stays locked; 10000 - 399.999 - 0.799998
    assert wallet(ex) == (D("9599.201002"), D("399.999"))


def test_liquidation_price_and_liquidation_on_mark() -> None:
    ex = make_exchange(market_slippage="0")
    long_01_at_40000(ex)
    ex.on_mark_price(BTC, 2_000, D("36200.1"))
    assert ex.positions()[0].liquidation_price == D("36200.0")
    events = ex.on_mark_price(BTC, 3_000, D("36199.0"))
    assert ex.positions() == []
    [liq] = [e for e in events if isinstance(e, Fill)]
    assert (liq.client_order_id, liq.price, liq.qty, liq.side, liq.ts) == (
        "autoclose-3000-BTCUSDT-2", D("36200.0"), D("0.1"), "SELL", 3_000,
    )  # fmt: skip
    assert ex.order(FUT, BTC, liq.client_order_id).status is OrderStatus.FILLED
    assert wallet(ex) == (D("9598.4"), 0)  # the 400 margin is gone
    # once mark events arrive, trades no longer move the mark
    ex.submit(order("again", "SELL", "MARKET", "0.1", market="FUT"))
    ex.on_trade(BTC, FUT, 4_000, D("44000.0"), D("1"))
    assert ex.positions()[0].qty == D("-0.1")


def test_short_is_liquidated_when_trades_lift_the_mark() -> None:
    ex = make_exchange(market_slippage="0")
    ex.on_trade(BTC, FUT, 1_000, D("40000.0"), D("1"))
    ex.submit(order("short", "SELL", "MARKET", "0.1", market="FUT"))
    assert ex.positions()[0].liquidation_price == D("43800.0")  # 40000 x (1 + 0.1 - 0.005)
    ex.on_trade(BTC, FUT, 2_000, D("43799.9"), D("1"))
    assert ex.positions()[0].qty == D("-0.1")
    ex.on_trade(BTC, FUT, 3_000, D("43800.0"), D("1"))
    assert ex.positions() == []
    assert wallet(ex) == (D("9598.4"), 0)


def test_duplicate_client_order_id_is_refused_like_binance_futures() -> None:
    ex = make_exchange()
    ex.on_trade(BTC, FUT, 1_000, D("40000.0"), D("1"))
    ex.submit(order("dup", "BUY", "LIMIT", "0.01", market="FUT", price="39000.0"))
    with pytest.raises(DuplicateClientOrderId, match="ClientOrderId is duplicated") as err:
        ex.submit(order("dup", "SELL", "LIMIT", "0.01", market="FUT", price="41000.0"))
    assert err.value.code == -4116
    # the same id on the other market is another order
    assert ex.submit(order("dup", "BUY", "LIMIT", "0.01", price="39000.00")).status is OrderStatus.NEW


def test_futures_filters_and_order_types() -> None:
    ex = make_exchange()
    with pytest.raises(OrderRejected, match="PRICE_FILTER"):
        ex.submit(order("f1", "BUY", "LIMIT", "0.01", market="FUT", price="40000.05"))
    with pytest.raises(OrderRejected, match="LOT_SIZE"):
        ex.submit(order("f2", "BUY", "LIMIT", "0.0105", market="FUT", price="40000.0"))
    with pytest.raises(OrderRejected, match="NOTIONAL") as err:
        ex.submit(order("f3", "BUY", "LIMIT", "0.001", market="FUT", price="4000.0"))
    assert err.value.code == -4164
    with pytest.raises(Exception, match="LIMIT_MAKER is not an order type of FUT"):
        ex.submit(order("f4", "BUY", "LIMIT_MAKER", "0.01", market="FUT", price="40000.0"))


def test_reduce_only_limit_that_loses_its_position_in_flight_expires_the_rest() -> None:
    ex = make_exchange(market_slippage="0", latency_ms=100)
    ex.on_trade(BTC, FUT, 1_000, D("40000.0"), D("1"))
    ex.submit(order("open", "BUY", "MARKET", "0.1", market="FUT"))
    ex.on_trade(BTC, FUT, 1_100, D("40000.0"), D("1"))
    assert ex.positions()[0].qty == D("0.1")
    ex.submit(order("cut", "SELL", "MARKET", "0.05", market="FUT"))
    ro = ex.submit(order("ro", "SELL", "LIMIT", "0.08", market="FUT", price="39000.0", reduce_only=True))
    assert ro.qty == D("0.08")  # 0.1 was open when it was sent
    ex.on_quote(
        BTC, FUT, 1_200, [(D("40100.0"), D("1"))], [(D("40100.1"), D("1"))]
    )  # a quote: no trade to match
    state = ex.order(FUT, BTC, ClientOrderId("ro"))
    assert (state.status, state.filled_qty, state.fills[0].price) == (
        OrderStatus.EXPIRED,
        D("0.05"),
        D("40100.0"),
    )
    assert ex.positions() == []


def test_take_profit_buy_closes_a_short_when_the_price_falls_to_it() -> None:
    ex = make_exchange(market_slippage="0")
    ex.on_trade(BTC, FUT, 1_000, D("40000.0"), D("1"))
    ex.submit(order("short", "SELL", "MARKET", "0.1", market="FUT"))
    ex.submit(order("tp", "BUY", "TAKE_PROFIT_MARKET", "0.1", market="FUT", stop="39000.0", reduce_only=True))
    ex.submit(order("sl", "BUY", "STOP_MARKET", "0.1", market="FUT", stop="41000.0", reduce_only=True))
    ex.on_trade(BTC, FUT, 2_000, D("39000.1"), D("1"))
    assert ex.positions()[0].qty == D("-0.1")
    ex.on_trade(BTC, FUT, 3_000, D("38999.0"), D("1"))
    assert ex.order(FUT, BTC, ClientOrderId("tp")).status is OrderStatus.FILLED
    assert ex.positions() == []
    # PnL (40000 - 38999) x 0.1 = 100.1; fees 1.6 + 1.55996
    assert wallet(ex) == (D("10096.94004"), 0)
    ex.on_trade(BTC, FUT, 4_000, D("41000.0"), D("1"))  # the stop finds no short left
    assert ex.order(FUT, BTC, ClientOrderId("sl")).status is OrderStatus.EXPIRED


def test_leverage_and_maintenance_margin_come_from_config() -> None:
    ex = make_exchange(market_slippage="0", leverage={BTC: 20}, maintenance_margin_rate="0.01")
    long_01_at_40000(ex)
    [pos] = ex.positions()
    # margin 4000 / 20 = 200; liquidation 40000 x (1 - 0.05 + 0.01) = 38400
    assert (pos.leverage, pos.margin, pos.liquidation_price) == (20, D("200"), D("38400.0"))
    assert wallet(ex) == (D("9798.4"), D("200"))


def test_liquidation_price_rounds_to_the_tick_on_the_early_side() -> None:
    ex = make_exchange(market_slippage="0", leverage={BTC: 3})
    ex.on_trade(BTC, FUT, 1_000, D("40000.0"), D("1"))
    ex.submit(order("long", "BUY", "MARKET", "0.003", market="FUT"))
    # 40000 x (1 - 1/3 + 0.005) = 26866.66…7 → up to 26866.7; margin 120 / 3 = 40
    [pos] = ex.positions()
    assert (pos.liquidation_price, pos.margin) == (D("26866.7"), D("40"))
