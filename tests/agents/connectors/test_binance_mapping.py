"""Pure mapping rules: bad orders refused before sending, exact decimals, error classification."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import ccxt
import pytest

from agents.connectors.binance import InvalidRequest
from agents.connectors.binance.errors import binance_code, is_unknown_outcome, scrub, to_port_error
from agents.connectors.binance.parse import dec, order_state
from agents.connectors.binance.requests import order_call, plain
from agents.connectors.port import Instrument, OrderNotFound, OrderRequest, OutcomeUnknown
from chimera.model import ClientOrderId, Market, OrderType, Side, Symbol, TimeInForce

LTC = Instrument(
    Symbol("LTCUSDT"),
    Market.FUT,
    "LTC",
    "USDT",
    D("0.01"),
    D("0.001"),
    D("0.001"),
    D("5"),
    D("0.0002"),
    D("0.0004"),
)


def req(kind: OrderType, qty: str | None = "0.1", market: Market = Market.FUT, **kw: Any) -> OrderRequest:
    return OrderRequest(
        Symbol("LTCUSDT"), market, Side.BUY, kind, None if qty is None else D(qty), ClientOrderId("c-1"), **kw
    )


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (req(OrderType.LIMIT, "0.1234", price=D("50")), "not a multiple of 0.001"),
        (req(OrderType.LIMIT, "0.1", price=D("50.005")), "not a multiple of 0.01"),
        (req(OrderType.MARKET, "0.0001"), "below min_qty"),
        (req(OrderType.LIMIT, "0.1"), "needs price"),
        (req(OrderType.STOP_MARKET, "0.1"), "needs stop_price"),
        (req(OrderType.STOP_MARKET, "0.1", market=Market.SPOT, stop_price=D("40")), "futures order"),
        (req(OrderType.LIMIT, "0.1", market=Market.SPOT, price=D("50"), reduce_only=True), "futures only"),
        (req(OrderType.LIMIT, None, price=D("50"), close_position=True), "close_position needs"),
        (req(OrderType.MARKET, None), "qty is required"),
        (req(OrderType.MARKET, "-1"), "below min_qty"),
    ],
)
def test_bad_orders_are_refused_with_the_reason(bad: OrderRequest, problem: str) -> None:
    with pytest.raises(InvalidRequest, match=problem):
        order_call(bad, "LTC/USDT:USDT", LTC)


def test_amounts_go_to_ccxt_as_plain_decimal_strings() -> None:
    call = order_call(
        req(OrderType.LIMIT, "0.100", price=D("55.10"), time_in_force=TimeInForce.IOC), "X", LTC
    )
    assert (call.amount, call.price, call.params) == (
        "0.1",
        "55.1",
        {"clientOrderId": "c-1", "timeInForce": "IOC"},
    )
    assert plain(D("1E+3")) == "1000" and plain(D("0.00001000")) == "0.00001"


def test_decimals_come_from_strings_only() -> None:
    assert dec("0.00100000") == D("0.001") and str(dec("1E+2")) == "100" and str(dec("0E-8")) == "0"
    with pytest.raises(TypeError, match="float"):
        dec(0.1)


def test_unsupported_venue_order_types_are_named() -> None:
    raw = {"clientOrderId": "c-9", "side": "BUY", "type": "TRAILING_STOP_MARKET", "status": "NEW"}
    with pytest.raises(Exception, match="TRAILING_STOP_MARKET"):
        order_state(raw, Market.FUT, Symbol("LTCUSDT"))


def test_error_classification() -> None:
    timeout = ccxt.RequestTimeout("binance POST https://fapi.binance.com/fapi/v1/order?signature=abc")
    assert is_unknown_outcome(timeout) and isinstance(to_port_error(timeout, "x"), OutcomeUnknown)
    assert "signature" not in str(to_port_error(timeout, "x"))
    gone = ccxt.OrderNotFound('binance {"code":-2013,"msg":"Order does not exist."}')
    assert binance_code(gone) == (-2013, "Order does not exist.")
    assert isinstance(to_port_error(gone, "x"), OrderNotFound) and not is_unknown_outcome(gone)
    unknown = ccxt.BadResponse(
        'binance {"code":-1007,"msg":"Timeout waiting for response from backend server."}'
    )
    assert is_unknown_outcome(unknown)
    assert scrub("key AAA in https://x/y?a=1 and AAA", "AAA") == "key *** in https://x/y and ***"
