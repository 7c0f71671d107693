# ruff: noqa: F811 (pytest fixtures are imported, then named as test arguments)
"""The HTTP request each port call makes equals the request ccxt's own recordings say Binance gets."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from binance_fixtures import VenueFactory, assert_matches_recording, make_venue, split_request, static_case  # noqa: F401

from agents.connectors.port import OrderRequest
from chimera.model import ClientOrderId, Market, OrderType, Side, Symbol, TimeInForce

FUT_ORDER = {
    "orderId": 652509009,
    "symbol": "LTCUSDT",
    "status": "NEW",
    "clientOrderId": "CID",
    "price": "55.00",
    "avgPrice": "0.00",
    "origQty": "0.100",
    "executedQty": "0.000",
    "cumQuote": "0.00000",
    "timeInForce": "GTC",
    "type": "LIMIT",
    "reduceOnly": False,
    "closePosition": False,
    "side": "BUY",
    "stopPrice": "0.00",
    "origType": "LIMIT",
    "updateTime": 1699380630765,
}
SPOT_ORDER = {
    "symbol": "LTCUSDT",
    "orderId": 3811057334,
    "orderListId": -1,
    "clientOrderId": "CID",
    "transactTime": 1699380855570,
    "price": "50.00000000",
    "origQty": "0.20000000",
    "executedQty": "0.00000000",
    "cummulativeQuoteQty": "0.00000000",
    "status": "NEW",
    "timeInForce": "GTC",
    "type": "LIMIT",
    "side": "BUY",
    "fills": [],
}
ALGO_ORDER = {
    "algoId": 3386,
    "clientAlgoId": "CID",
    "algoType": "CONDITIONAL",
    "orderType": "STOP",
    "symbol": "LTCUSDT",
    "side": "BUY",
    "quantity": "0.21",
    "algoStatus": "NEW",
    "triggerPrice": "101",
    "price": "51",
    "reduceOnly": False,
    "closePosition": False,
    "createTime": 1763537060906,
    "updateTime": 1763537060906,
}


def answer(template: dict[str, Any], **fields: Any) -> Any:
    """Echo the sent client id back, as Binance does."""

    def reply(req: Any) -> tuple[int, dict[str, Any]]:
        params = req.params
        cid = params.get("newClientOrderId") or params.get("clientAlgoId") or params.get("origClientOrderId")
        key = "clientAlgoId" if "clientAlgoId" in template else "clientOrderId"
        return 200, {**template, key: cid, **fields}

    return reply


def order(
    market: Market, symbol: str, side: Side, kind: OrderType, qty: str | None, cid: str, **kw: Any
) -> OrderRequest:
    return OrderRequest(
        Symbol(symbol), market, side, kind, None if qty is None else D(qty), ClientOrderId(cid), **kw
    )


CREATE_CASES = [
    (
        "Swap market buy order",
        order(Market.FUT, "LTCUSDT", Side.BUY, OrderType.MARKET, "0.1", "chm-mkt-1"),
        FUT_ORDER,
    ),
    (
        "Swap limit buy order",
        order(Market.FUT, "LTCUSDT", Side.BUY, OrderType.LIMIT, "0.1", "chm-lim-1", price=D("55")),
        FUT_ORDER,
    ),
    (
        "Spot limit buy order",
        order(Market.SPOT, "LTCUSDT", Side.BUY, OrderType.LIMIT, "0.2", "chm-lim-2", price=D("50")),
        SPOT_ORDER,
    ),
    (
        "Spot limit buy with postOnly",
        order(Market.SPOT, "LTCUSDT", Side.BUY, OrderType.LIMIT_MAKER, "0.2", "chm-po-1", price=D("50")),
        SPOT_ORDER,
    ),
    (
        "Swap limit buy with postOnly",
        order(Market.FUT, "LTCUSDT", Side.BUY, OrderType.LIMIT_MAKER, "0.2", "chm-po-2", price=D("50")),
        FUT_ORDER,
    ),
    (
        "Swap limit buy with postOnly",
        order(
            Market.FUT,
            "LTCUSDT",
            Side.BUY,
            OrderType.LIMIT,
            "0.2",
            "chm-po-3",
            price=D("50"),
            time_in_force=TimeInForce.GTX,
        ),
        FUT_ORDER,
    ),
    (
        "Swap limit buy with reduce only (closing short position)",
        order(
            Market.FUT,
            "LTCUSDT",
            Side.BUY,
            OrderType.LIMIT,
            "0.2",
            "chm-ro-1",
            price=D("60"),
            reduce_only=True,
        ),
        FUT_ORDER,
    ),
    (
        "Spot limit buy with triggerPrice",
        order(
            Market.SPOT,
            "LTCUSDT",
            Side.BUY,
            OrderType.STOP_LOSS_LIMIT,
            "0.2",
            "chm-sl-1",
            price=D("50"),
            stop_price=D("100"),
        ),
        SPOT_ORDER,
    ),
    (
        "Swap limit buy with triggerPrice",
        order(
            Market.FUT,
            "LTCUSDT",
            Side.BUY,
            OrderType.STOP_LOSS_LIMIT,
            "0.21",
            "chm-sl-2",
            price=D("51"),
            stop_price=D("101"),
        ),
        ALGO_ORDER,
    ),
]


@pytest.mark.parametrize(("description", "req", "template"), CREATE_CASES)
async def test_create_order_request_equals_recording(
    make_venue: VenueFactory, description: str, req: OrderRequest, template: dict[str, Any]
) -> None:
    rig = await make_venue()
    case = static_case("request", "createOrder", description)
    path, _ = split_request(case["url"], None)
    rig.session.reply("POST", path, answer(template))
    state = await rig.venue.create_order(req)
    creates = rig.session.to("POST", path)
    assert len(creates) == 1
    assert_matches_recording(creates[0], case, req.client_order_id)
    assert state.client_order_id == req.client_order_id


async def test_stop_market_reduce_only_follows_the_recorded_stop_loss_market_shape(
    make_venue: VenueFactory,
) -> None:
    """No linear STOP_MARKET is recorded; the inverse one fixes the shape ccxt sends to the algo service.

    Same unified call (market + stop-loss trigger): type STOP_MARKET, triggerPrice, algoType
    CONDITIONAL — on /fapi instead of /dapi, our symbol, plus our reduceOnly.
    """
    rig = await make_venue()
    rig.session.reply("POST", "/fapi/v1/algoOrder", answer({**ALGO_ORDER, "orderType": "STOP_MARKET"}))
    req = order(
        Market.FUT,
        "LTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        "1",
        "chm-stop-1",
        stop_price=D("1000"),
        reduce_only=True,
    )
    await rig.venue.create_order(req)
    case = static_case("request", "createOrder", "Swap inverse market sell with stopLossPrice")
    linear = dict(
        case,
        url=case["url"].replace("/dapi/", "/fapi/"),
        output=case["output"].replace("ETHUSD_PERP", "LTCUSDT"),
    )
    (sent,) = rig.session.to("POST", "/fapi/v1/algoOrder")
    assert_matches_recording(sent, linear, "chm-stop-1", extra={"reduceOnly": "true"})


async def test_close_position_and_take_profit_market_go_to_the_algo_service(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    rig.session.reply("POST", "/fapi/v1/algoOrder", answer({**ALGO_ORDER, "orderType": "STOP_MARKET"}))
    close_all = order(
        Market.FUT,
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        None,
        "chm-cp-1",
        stop_price=D("60000.5"),
        close_position=True,
    )
    take = order(
        Market.FUT,
        "BTCUSDT",
        Side.SELL,
        OrderType.TAKE_PROFIT_MARKET,
        "0.01",
        "chm-tp-1",
        stop_price=D("70000"),
        reduce_only=True,
    )
    await rig.venue.create_order(close_all)
    await rig.venue.create_order(take)
    first, second = (r.params for r in rig.session.to("POST", "/fapi/v1/algoOrder"))
    # Binance: closePosition closes everything; it takes neither quantity nor reduceOnly
    assert {k: first[k] for k in ("symbol", "side", "type", "triggerPrice", "closePosition", "algoType")} == {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "triggerPrice": "60000.5",
        "closePosition": "true",
        "algoType": "CONDITIONAL",
    }
    assert "quantity" not in first and "reduceOnly" not in first and first["clientAlgoId"] == "chm-cp-1"
    assert {k: second[k] for k in ("type", "triggerPrice", "quantity", "reduceOnly", "clientAlgoId")} == {
        "type": "TAKE_PROFIT_MARKET",
        "triggerPrice": "70000",
        "quantity": "0.01",
        "reduceOnly": "true",
        "clientAlgoId": "chm-tp-1",
    }


async def test_cancel_and_fetch_by_client_id_equal_recordings(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    rig.session.reply("DELETE", "/fapi/v1/order", answer({**FUT_ORDER, "status": "CANCELED"}))
    rig.session.reply("GET", "/fapi/v1/order", answer(FUT_ORDER))
    cid = ClientOrderId("myid123")
    canceled = await rig.venue.cancel_order(Market.FUT, Symbol("LTCUSDT"), cid)
    fetched = await rig.venue.fetch_order(Market.FUT, Symbol("LTCUSDT"), cid)
    assert_matches_recording(
        rig.session.to("DELETE", "/fapi/v1/order")[0],
        static_case("request", "cancelOrderWithClientOrderId", "cancel order with clientOrderId"),
    )
    assert_matches_recording(
        rig.session.to("GET", "/fapi/v1/order")[0],
        static_case("request", "fetchOrderWithClientOrderId", "fetch order with clientOrderId"),
    )
    assert (canceled.client_order_id, canceled.status.value) == ("myid123", "CANCELED")
    assert fetched.client_order_id == "myid123"


async def test_conditional_order_is_cancelled_and_read_by_client_algo_id(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    rig.session.reply("POST", "/fapi/v1/algoOrder", answer({**ALGO_ORDER, "symbol": "ETHUSDT"}))
    rig.session.reply(
        "DELETE", "/fapi/v1/algoOrder", (200, {"algoId": 3386, "clientAlgoId": "x", "code": "200"})
    )
    rig.session.reply("GET", "/fapi/v1/algoOrder", answer({**ALGO_ORDER, "algoStatus": "CANCELED"}))
    req = order(
        Market.FUT, "ETHUSDT", Side.BUY, OrderType.STOP_MARKET, "1", "chm-algo-1", stop_price=D("3000")
    )
    await rig.venue.create_order(req)
    state = await rig.venue.cancel_order(Market.FUT, Symbol("ETHUSDT"), req.client_order_id)
    # the recorded inverse case fixes the parameter shape: symbol + clientAlgoId, nothing else
    case = static_case(
        "request", "cancelOrderWithClientOrderId", "cancel inverse swap conditional order by client order id"
    )
    recorded_keys = set(rig.session.to("DELETE", "/fapi/v1/algoOrder")[0].params)
    assert recorded_keys == {"symbol", "clientAlgoId"}
    assert set(split_request(case["url"], None)[1]) == recorded_keys
    assert rig.session.to("DELETE", "/fapi/v1/algoOrder")[0].params["clientAlgoId"] == "chm-algo-1"
    assert rig.session.to("GET", "/fapi/v1/algoOrder")[0].params == {
        "symbol": "ETHUSDT",
        "clientAlgoId": "chm-algo-1",
    }
    assert state.status.value == "CANCELED"


READ_CASES = [
    ("fetchOpenOrders", "Swap open orders", "open_orders", (Market.FUT, Symbol("LTCUSDT")), 0, []),
    (
        "fetchOpenOrders",
        "linear swap conditional fetchOpenOrders",
        "open_orders",
        (Market.FUT, Symbol("BTCUSDT")),
        1,
        [],
    ),
    ("fetchOpenOrders", "Spot one orders", "open_orders", (Market.SPOT, Symbol("LTCUSDT")), 0, []),
    ("fetchPositions", "fetch default positions", "positions", (), 0, []),
    ("fetchBalance", "Spot fetch balance", "balances", (Market.SPOT,), 0, {"balances": []}),
    ("fetchBalance", "Swap fetchBalance", "balances", (Market.FUT,), 0, {"assets": []}),
    (
        "fetchFundingRate",
        "fundingRate",
        "funding_rate",
        (Symbol("BTCUSDT"),),
        0,
        {"symbol": "BTCUSDT", "markPrice": "1", "lastFundingRate": "0.0001", "nextFundingTime": 1, "time": 1},
    ),
    ("fetchFundingRateHistory", "fundingRateHistory", "funding_history", (Symbol("BTCUSDT"),), 0, []),
]


@pytest.mark.parametrize(("method", "description", "call", "args", "nth", "payload"), READ_CASES)
async def test_read_request_equals_recording(
    make_venue: VenueFactory,
    method: str,
    description: str,
    call: str,
    args: tuple[Any, ...],
    nth: int,
    payload: Any,
) -> None:
    rig = await make_venue()
    for path in (
        "/fapi/v1/openOrders",
        "/fapi/v1/openAlgoOrders",
        "/api/v3/openOrders",
        "/fapi/v3/positionRisk",
        "/fapi/v1/fundingRate",
    ):
        rig.session.reply("GET", path, (200, []))
    rig.session.reply("GET", "/api/v3/account", (200, payload))
    rig.session.reply("GET", "/fapi/v3/account", (200, payload))
    rig.session.reply("GET", "/fapi/v1/premiumIndex", (200, payload))
    before = len(rig.session.sent)
    await getattr(rig.venue, call)(*args)
    sent = rig.session.sent[before:]
    assert_matches_recording(sent[nth], static_case("request", method, description))


async def test_transfer_request_equals_recording(make_venue: VenueFactory) -> None:
    rig = await make_venue(binance_testnet=False)  # demo trading has no sapi wallet endpoints
    rig.session.reply("POST", "/sapi/v1/asset/transfer", (200, {"tranId": 13526853623}))
    result = await rig.venue.transfer("USDT", D("1"), Market.SPOT, Market.FUT, "tr-1")
    (sent,) = rig.session.to("POST", "/sapi/v1/asset/transfer")
    assert_matches_recording(sent, static_case("request", "transfer", "Transfer from spot to linear"))
    assert (result.venue_tran_id, result.amount, result.ok) == ("13526853623", D("1"), True)
