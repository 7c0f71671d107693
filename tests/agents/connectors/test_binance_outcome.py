# ruff: noqa: F811 (pytest fixtures are imported, then named as test arguments)
"""A send whose outcome is unknown is resolved by fetching by client id — exactly one create is sent.

Failures are produced where ccxt meets the network (the fake aiohttp session raises or answers
5xx), so ccxt's own error mapping decides what kind of failure our adapter sees.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest
from binance_fixtures import VenueFactory, make_venue  # noqa: F401

from agents.connectors.binance import OrderNotPlaced
from agents.connectors.port import (
    DuplicateClientOrderId,
    InsufficientBalance,
    OrderRejected,
    OrderRequest,
    OutcomeUnknown,
    VenueError,
)
from chimera.model import ClientOrderId, Market, OrderStatus, OrderType, Side, Symbol

CID = ClientOrderId("chm0123456789abcdef01234-0")
FILLED = {
    "orderId": 4087922044,
    "symbol": "BTCUSDT",
    "status": "FILLED",
    "clientOrderId": CID,
    "price": "0.00",
    "avgPrice": "36567.10",
    "origQty": "0.010",
    "executedQty": "0.010",
    "cumQuote": "365.67100",
    "timeInForce": "GTC",
    "type": "MARKET",
    "reduceOnly": False,
    "closePosition": False,
    "side": "BUY",
    "stopPrice": "0.00",
    "origType": "MARKET",
    "updateTime": 1699972836419,
}
NOT_FOUND = (400, {"code": -2013, "msg": "Order does not exist."})
MARKET_BUY = OrderRequest(Symbol("BTCUSDT"), Market.FUT, Side.BUY, OrderType.MARKET, D("0.01"), CID)


@pytest.mark.parametrize(
    "failure",
    [
        TimeoutError(),  # ccxt → RequestTimeout
        aiohttp.ClientConnectionError("connection reset"),  # ccxt → ExchangeNotAvailable
        (503, "<html>503 Service Temporarily Unavailable</html>"),  # ccxt → ExchangeNotAvailable
        (408, {"code": -1007, "msg": "Timeout waiting for response from backend server."}),  # BadResponse
    ],
    ids=["timeout", "connection-reset", "http-503", "binance-1007"],
)
async def test_unknown_outcome_is_fetched_by_client_id_not_resent(
    make_venue: VenueFactory, failure: Any
) -> None:
    rig = await make_venue()
    rig.session.reply("POST", "/fapi/v1/order", failure)
    rig.session.reply("GET", "/fapi/v1/order", (200, FILLED))
    state = await rig.venue.create_order(MARKET_BUY)
    assert len(rig.session.to("POST", "/fapi/v1/order")) == 1
    (fetch,) = rig.session.to("GET", "/fapi/v1/order")
    assert fetch.params == {"symbol": "BTCUSDT", "origClientOrderId": CID}
    assert (state.status, state.filled_qty, state.avg_price) == (OrderStatus.FILLED, D("0.01"), D("36567.1"))


async def test_not_found_is_conclusive_only_after_the_recv_window(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    rig.session.reply("POST", "/fapi/v1/order", TimeoutError())
    rig.session.reply("GET", "/fapi/v1/order", NOT_FOUND)
    with pytest.raises(OrderNotPlaced) as err:
        await rig.venue.create_order(MARKET_BUY)
    fetches = rig.session.to("GET", "/fapi/v1/order")
    # the first "does not exist" came inside the recvWindow: we waited it out and asked again
    assert len(fetches) == 2 and len(rig.session.to("POST", "/fapi/v1/order")) == 1
    assert rig.clock.now_ms() - 1_763_500_000_000 > 10_000 + 1_000
    assert err.value.code == -2013
    # the caller may now send again with the same id; that is a second, deliberate create
    rig.session.routes[("POST", "/fapi/v1/order")] = [(200, FILLED)]
    again = await rig.venue.create_order(MARKET_BUY)
    ids = [r.params["newClientOrderId"] for r in rig.session.to("POST", "/fapi/v1/order")]
    assert ids == [CID, CID] and again.status is OrderStatus.FILLED


async def test_fetches_that_keep_failing_leave_the_outcome_unknown(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    rig.session.reply("POST", "/fapi/v1/order", TimeoutError())
    rig.session.reply("GET", "/fapi/v1/order", TimeoutError())
    with pytest.raises(OutcomeUnknown, match="not re-sent"):
        await rig.venue.create_order(MARKET_BUY)
    assert len(rig.session.to("POST", "/fapi/v1/order")) == 1
    # 5 resolution attempts, each a read retried 3 times on transport errors
    assert len(rig.session.to("GET", "/fapi/v1/order")) == 5 * 3


async def test_conditional_order_outcome_is_fetched_from_the_algo_service(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    algo = {
        "algoId": 3358,
        "clientAlgoId": "chm-stop-9",
        "algoType": "CONDITIONAL",
        "orderType": "STOP_MARKET",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": "0.010",
        "algoStatus": "NEW",
        "triggerPrice": "60000.00",
        "price": "0",
        "reduceOnly": True,
        "closePosition": False,
        "createTime": 1,
        "updateTime": 2,
    }
    rig.session.reply("POST", "/fapi/v1/algoOrder", TimeoutError())
    rig.session.reply("GET", "/fapi/v1/algoOrder", (200, algo))
    req = OrderRequest(
        Symbol("BTCUSDT"),
        Market.FUT,
        Side.SELL,
        OrderType.STOP_MARKET,
        D("0.01"),
        ClientOrderId("chm-stop-9"),
        stop_price=D("60000"),
        reduce_only=True,
    )
    state = await rig.venue.create_order(req)
    assert len(rig.session.to("POST", "/fapi/v1/algoOrder")) == 1
    assert rig.session.to("GET", "/fapi/v1/algoOrder")[0].params == {
        "symbol": "BTCUSDT",
        "clientAlgoId": "chm-stop-9",
    }
    assert (state.type, state.stop_price, state.reduce_only, state.status) == (
        OrderType.STOP_MARKET,
        D("60000"),
        True,
        OrderStatus.NEW,
    )


async def test_fired_conditional_order_reports_the_fills_of_the_order_it_placed(
    make_venue: VenueFactory,
) -> None:
    rig = await make_venue()
    algo = {
        "algoId": 3358,
        "clientAlgoId": "chm-stop-8",
        "orderType": "STOP_MARKET",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "quantity": "0.010",
        "algoStatus": "FINISHED",
        "triggerPrice": "36000.00",
        "reduceOnly": False,
        "actualOrderId": "4087922044",
        "updateTime": 3,
    }
    rig.session.reply("GET", "/fapi/v1/order", NOT_FOUND, (200, FILLED))
    rig.session.reply("GET", "/fapi/v1/algoOrder", (200, algo))
    state = await rig.venue.fetch_order(Market.FUT, Symbol("BTCUSDT"), ClientOrderId("chm-stop-8"))
    by_id = rig.session.to("GET", "/fapi/v1/order")[-1].params
    assert by_id == {"symbol": "BTCUSDT", "orderId": "4087922044"}
    assert (state.client_order_id, state.type, state.status, state.filled_qty, state.stop_price) == (
        "chm-stop-8",
        OrderType.STOP_MARKET,
        OrderStatus.FILLED,
        D("0.01"),
        D("36000"),
    )


REFUSALS: list[tuple[tuple[int, dict[str, Any]], type[VenueError]]] = [
    (
        (400, {"code": -2010, "msg": "Account has insufficient balance for requested action."}),
        InsufficientBalance,
    ),
    ((400, {"code": -2019, "msg": "Margin is insufficient."}), InsufficientBalance),
    ((400, {"code": -4116, "msg": "ClientOrderId is duplicated."}), DuplicateClientOrderId),
    ((400, {"code": -2010, "msg": "Duplicate order sent."}), DuplicateClientOrderId),
    ((400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}), OrderRejected),
    ((400, {"code": -2022, "msg": "ReduceOnly Order is rejected."}), OrderRejected),
    ((401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}), VenueError),
]


@pytest.mark.parametrize(
    ("answer", "error"), REFUSALS, ids=[str(a[1]["code"]) + a[1]["msg"][:12] for a, _ in REFUSALS]
)
async def test_refusals_map_to_port_errors_and_are_not_resolved(
    make_venue: VenueFactory, answer: Any, error: type[VenueError]
) -> None:
    rig = await make_venue()
    rig.session.reply("POST", "/fapi/v1/order", answer)
    with pytest.raises(error) as err:
        await rig.venue.create_order(MARKET_BUY)
    assert type(err.value) is error and err.value.code == answer[1]["code"]
    assert len(rig.session.to("POST", "/fapi/v1/order")) == 1 and not rig.session.to("GET", "/fapi/v1/order")


async def test_reads_retry_transport_errors(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    rig.session.reply(
        "GET",
        "/api/v3/account",
        TimeoutError(),
        (200, {"balances": [{"asset": "USDT", "free": "1.5", "locked": "0"}]}),
    )
    balances = await rig.venue.balances(Market.SPOT)
    assert balances["USDT"].free == D("1.5") and len(rig.session.to("GET", "/api/v3/account")) == 2
    assert rig.sleep.calls == [0.5]


async def test_cancel_with_unknown_outcome_is_verified_by_reading(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    canceled = {
        **FILLED,
        "status": "CANCELED",
        "executedQty": "0.000",
        "avgPrice": "0.00",
        "type": "LIMIT",
        "origType": "LIMIT",
        "price": "30000.00",
    }
    rig.session.reply("DELETE", "/fapi/v1/order", TimeoutError())
    rig.session.reply("GET", "/fapi/v1/order", (200, canceled))
    state = await rig.venue.cancel_order(Market.FUT, Symbol("BTCUSDT"), CID)
    assert state.status is OrderStatus.CANCELED
    assert len(rig.session.to("DELETE", "/fapi/v1/order")) == 1
