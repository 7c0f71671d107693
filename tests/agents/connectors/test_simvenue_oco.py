"""SimExchange spot OCO: one leg executing (even partly) ends the other; funds are locked once."""

from __future__ import annotations

import pytest
from simvenue_fixtures import BTC, D, make_exchange

from agents.connectors.port import OcoRequest, OrderRejected
from agents.connectors.simvenue import SimExchange
from chimera.model import ClientOrderId, Market, OrderStatus, OrderType, Side, Symbol

SPOT = Market.SPOT


def sell_oco(ex: SimExchange, qty: str = "0.5") -> None:
    ex.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("1"))
    legs = ex.submit_oco(
        OcoRequest(
            symbol=Symbol(BTC),
            side=Side.SELL,
            qty=D(qty),
            list_client_order_id=ClientOrderId("list1"),
            limit_client_order_id=ClientOrderId("tp1"),
            stop_client_order_id=ClientOrderId("sl1"),
            price=D("41000.00"),
            stop_price=D("39000.00"),
            stop_limit_price=D("38900.00"),
        )
    )
    assert [(s.type, s.status) for s in legs] == [
        (OrderType.LIMIT_MAKER, OrderStatus.NEW),
        (OrderType.STOP_LOSS_LIMIT, OrderStatus.NEW),
    ]


def status(ex: SimExchange, cid: str) -> OrderStatus:
    return ex.order(SPOT, BTC, ClientOrderId(cid)).status


def test_oco_locks_the_base_once() -> None:
    ex = make_exchange()
    sell_oco(ex)
    bal = ex.balances(SPOT)["BTC"]
    assert (bal.free, bal.locked) == (D("0.5"), D("0.5"))


def test_partial_fill_of_the_limit_leg_ends_the_stop_leg() -> None:
    ex = make_exchange()
    sell_oco(ex)
    ex.on_trade(BTC, SPOT, 2_000, D("41000.00"), D("0.2"))
    assert status(ex, "tp1") is OrderStatus.PARTIALLY_FILLED
    assert status(ex, "sl1") is OrderStatus.EXPIRED
    assert ex.balances(SPOT)["BTC"].locked == D("0.3")
    assert ex.balances(SPOT)["USDT"].free == D("18191.8")  # 10000 + 8200 - 8.2
    ex.on_trade(BTC, SPOT, 3_000, D("38000.00"), D("5"))  # the expired stop does not wake up
    assert status(ex, "sl1") is OrderStatus.EXPIRED
    ex.on_trade(BTC, SPOT, 4_000, D("41000.00"), D("1"))
    assert status(ex, "tp1") is OrderStatus.FILLED
    btc, usdt = ex.balances(SPOT)["BTC"], ex.balances(SPOT)["USDT"]
    assert (btc.free, btc.locked) == (D("0.5"), 0)
    assert (usdt.free, usdt.locked) == (D("30479.5"), 0)  # 18191.8 + 12300 - 12.3


def test_stop_leg_triggers_on_last_price_and_ends_the_limit_leg() -> None:
    ex = make_exchange()
    sell_oco(ex)
    ex.on_trade(BTC, SPOT, 2_000, D("39000.01"), D("1"))
    assert status(ex, "sl1") is OrderStatus.NEW
    ex.on_trade(BTC, SPOT, 3_000, D("38950.00"), D("1"))
    assert status(ex, "tp1") is OrderStatus.EXPIRED
    stop = ex.order(SPOT, BTC, ClientOrderId("sl1"))
    # no book: 38950 x (1 - 0.0005) = 38930.525 → 38930.52, above the 38900 limit → taker
    assert [(f.price, f.qty, f.fee, f.is_maker) for f in stop.fills] == [
        (D("38930.52"), D("0.5"), D("19.46526000"), False)
    ]
    assert stop.status is OrderStatus.FILLED
    assert ex.balances(SPOT)["USDT"].free == D("29445.79474")  # 10000 + 19465.26 - 19.46526
    assert ex.balances(SPOT)["BTC"].locked == 0


def test_cancelling_one_leg_cancels_the_list_and_frees_the_base() -> None:
    ex = make_exchange()
    sell_oco(ex)
    ex.cancel(SPOT, BTC, ClientOrderId("sl1"))
    assert (status(ex, "tp1"), status(ex, "sl1")) == (OrderStatus.CANCELED, OrderStatus.CANCELED)
    bal = ex.balances(SPOT)["BTC"]
    assert (bal.free, bal.locked) == (D("1"), 0)


def test_oco_prices_on_the_wrong_side_are_refused() -> None:
    ex = make_exchange()
    ex.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("1"))
    bad = OcoRequest(
        Symbol(BTC), Side.SELL, D("0.1"), ClientOrderId("l"), ClientOrderId("a"), ClientOrderId("b"),
        price=D("39500.00"), stop_price=D("39000.00"), stop_limit_price=D("38900.00"),
    )  # fmt: skip
    with pytest.raises(OrderRejected, match="relationship of the prices") as err:
        ex.submit_oco(bad)
    assert err.value.code == -2010
    assert ex.balances(SPOT)["BTC"].locked == 0


def test_buy_oco_reserves_quote_at_the_worse_leg() -> None:
    ex = make_exchange()
    ex.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("1"))
    ex.submit_oco(
        OcoRequest(
            Symbol(BTC), Side.BUY, D("0.1"), ClientOrderId("l"), ClientOrderId("a"), ClientOrderId("b"),
            price=D("39000.00"), stop_price=D("41000.00"), stop_limit_price=D("41100.00"),
        )
    )  # fmt: skip
    usdt = ex.balances(SPOT)["USDT"]
    assert (usdt.free, usdt.locked) == (D("5885.89"), D("4114.11"))  # 0.1 x 41100 x 1.001
    ex.on_trade(BTC, SPOT, 2_000, D("38999.00"), D("1"))  # limit leg fills in full at 39000
    assert ex.order(SPOT, BTC, ClientOrderId("a")).status is OrderStatus.FILLED
    assert ex.order(SPOT, BTC, ClientOrderId("b")).status is OrderStatus.EXPIRED
    usdt = ex.balances(SPOT)["USDT"]
    assert (usdt.free, usdt.locked) == (D("6096.1"), 0)  # 10000 - 3900 - 3.9
