# ruff: noqa: F811 (pytest fixtures are imported, then named as test arguments)
"""Spot OCO through ccxt's implicit ``privatePostOrderListOco`` (ccxt has no unified Binance OCO).

No recording covers it, so the request is checked against Binance's documented parameters for
``POST /api/v3/orderList/oco`` (spot REST docs; same list in Binance's own connector,
``OrderListPlaceOcoRequest``): legs named by position, ``above*`` / ``below*``.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from binance_fixtures import VenueFactory, make_venue  # noqa: F401

from agents.connectors.binance import InvalidRequest
from agents.connectors.port import OcoRequest
from chimera.model import ClientOrderId, OrderStatus, OrderType, Side, Symbol

DOCUMENTED = {
    "symbol",
    "listClientOrderId",
    "side",
    "quantity",
    "newOrderRespType",
    "selfTradePreventionMode",
    "aboveType",
    "aboveClientOrderId",
    "aboveIcebergQty",
    "abovePrice",
    "aboveStopPrice",
    "aboveTrailingDelta",
    "aboveTimeInForce",
    "aboveStrategyId",
    "aboveStrategyType",
    "belowType",
    "belowClientOrderId",
    "belowIcebergQty",
    "belowPrice",
    "belowStopPrice",
    "belowTrailingDelta",
    "belowTimeInForce",
    "belowStrategyId",
    "belowStrategyType",
    "recvWindow",
    "timestamp",
    "signature",
}
MANDATORY = {"symbol", "side", "quantity", "aboveType", "belowType", "timestamp", "signature"}


def oco(side: Side, price: str, stop: str, stop_limit: str, qty: str = "0.5") -> OcoRequest:
    return OcoRequest(
        symbol=Symbol("LTCUSDT"),
        side=side,
        qty=D(qty),
        list_client_order_id=ClientOrderId("chm-list-1"),
        limit_client_order_id=ClientOrderId("chm-tp-1"),
        stop_client_order_id=ClientOrderId("chm-sl-1"),
        price=D(price),
        stop_price=D(stop),
        stop_limit_price=D(stop_limit),
    )


def documented_answer(side: str, maker_price: str, stop: str, stop_limit: str) -> dict[str, object]:
    """Binance's documented orderList/oco answer (RESULT): the list and one report per leg."""
    report = {
        "symbol": "LTCUSDT",
        "orderListId": 2,
        "transactTime": 1711062760648,
        "origQty": "0.50000000",
        "executedQty": "0.00000000",
        "cummulativeQuoteQty": "0.00000000",
        "status": "NEW",
        "timeInForce": "GTC",
        "side": side,
    }
    maker = {**report, "orderId": 2, "clientOrderId": "chm-tp-1", "type": "LIMIT_MAKER", "price": maker_price}
    stop_leg = {
        **report,
        "orderId": 3,
        "clientOrderId": "chm-sl-1",
        "type": "STOP_LOSS_LIMIT",
        "price": stop_limit,
        "stopPrice": stop,
    }
    legs = [stop_leg, maker] if side == "SELL" else [maker, stop_leg]
    return {
        "orderListId": 2,
        "contingencyType": "OCO",
        "listStatusType": "EXEC_STARTED",
        "listOrderStatus": "EXECUTING",
        "listClientOrderId": "chm-list-1",
        "transactionTime": 1711062760648,
        "symbol": "LTCUSDT",
        "orders": [
            {"symbol": "LTCUSDT", "orderId": r["orderId"], "clientOrderId": r["clientOrderId"]} for r in legs
        ],
        "orderReports": legs,
    }


async def test_sell_oco_sends_the_documented_order_list_params(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    rig.session.reply(
        "POST", "/api/v3/orderList/oco", (200, documented_answer("SELL", "120.00", "80.00", "79.50"))
    )
    legs = await rig.venue.create_oco(oco(Side.SELL, "120", "80", "79.5"))
    (sent,) = rig.session.to("POST", "/api/v3/orderList/oco")
    raw_keys = {k for k, _ in (p.split("=", 1) for p in (sent.body or "").split("&"))}
    assert raw_keys <= DOCUMENTED and raw_keys >= MANDATORY
    assert sent.params == {
        "symbol": "LTCUSDT",
        "side": "SELL",
        "quantity": "0.5",
        "listClientOrderId": "chm-list-1",
        "newOrderRespType": "RESULT",
        "aboveType": "LIMIT_MAKER",
        "abovePrice": "120",
        "aboveClientOrderId": "chm-tp-1",
        "belowType": "STOP_LOSS_LIMIT",
        "belowStopPrice": "80",
        "belowPrice": "79.5",
        "belowTimeInForce": "GTC",
        "belowClientOrderId": "chm-sl-1",
    }
    by_id = {str(leg.client_order_id): leg for leg in legs}
    assert (by_id["chm-tp-1"].type, by_id["chm-tp-1"].price) == (OrderType.LIMIT_MAKER, D("120"))
    stop = by_id["chm-sl-1"]
    assert (stop.type, stop.price, stop.stop_price, stop.qty, stop.status) == (
        OrderType.STOP_LOSS_LIMIT,
        D("79.5"),
        D("80"),
        D("0.5"),
        OrderStatus.NEW,
    )


async def test_buy_oco_puts_the_stop_above_and_the_maker_below(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    rig.session.reply(
        "POST", "/api/v3/orderList/oco", (200, documented_answer("BUY", "60.00", "90.00", "90.50"))
    )
    await rig.venue.create_oco(oco(Side.BUY, "60", "90", "90.5"))
    params = rig.session.to("POST", "/api/v3/orderList/oco")[0].params
    assert {k: v for k, v in params.items() if k.startswith(("above", "below"))} == {
        "aboveType": "STOP_LOSS_LIMIT",
        "aboveStopPrice": "90",
        "abovePrice": "90.5",
        "aboveTimeInForce": "GTC",
        "aboveClientOrderId": "chm-sl-1",
        "belowType": "LIMIT_MAKER",
        "belowPrice": "60",
        "belowClientOrderId": "chm-tp-1",
    }


@pytest.mark.parametrize(
    ("req", "problem"),
    [
        (oco(Side.SELL, "70", "80", "79.5"), "above stop_price"),
        (oco(Side.BUY, "95", "90", "90.5"), "below stop_price"),
        (oco(Side.SELL, "120.005", "80", "79.5"), "not a multiple of 0.01"),
        (oco(Side.SELL, "120", "80", "79.5", qty="0.0005"), "below min_qty"),
    ],
)
async def test_bad_oco_is_refused_before_sending(
    make_venue: VenueFactory, req: OcoRequest, problem: str
) -> None:
    rig = await make_venue()
    with pytest.raises(InvalidRequest, match=problem):
        await rig.venue.create_oco(req)
    assert not rig.session.to("POST", "/api/v3/orderList/oco")


async def test_oco_with_unknown_outcome_is_resolved_leg_by_leg(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    answer = documented_answer("SELL", "120.00", "80.00", "79.50")
    reports = {r["clientOrderId"]: r for r in answer["orderReports"]}  # type: ignore[attr-defined]
    rig.session.reply("POST", "/api/v3/orderList/oco", TimeoutError())
    rig.session.reply("GET", "/api/v3/order", lambda req: (200, reports[req.params["origClientOrderId"]]))
    legs = await rig.venue.create_oco(oco(Side.SELL, "120", "80", "79.5"))
    assert [leg.client_order_id for leg in legs] == ["chm-tp-1", "chm-sl-1"]
    assert len(rig.session.to("POST", "/api/v3/orderList/oco")) == 1
