# ruff: noqa: F811 (pytest fixtures are imported, then named as test arguments)
"""Recorded Binance responses parse through the adapter into exact port objects.

The oracle is ccxt's own ``parsedResponse`` for the same recording: our Decimals must equal the
numbers ccxt reads (taken through ``repr``, so 0.919741 is Decimal("0.919741")), and they must come
from Binance's strings, never from floats.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from binance_fixtures import VenueFactory, make_venue, static_case  # noqa: F401

from agents.connectors.binance import parse
from agents.connectors.port import OrderRequest
from chimera.model import ClientOrderId, Market, OrderStatus, OrderType, Side, Symbol, to_decimal

CCXT_STATUS = {"open": {OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED}, "closed": {OrderStatus.FILLED}}


def num(value: Any) -> D | None:
    return None if value is None else to_decimal(value)


def assert_order_agrees_with_ccxt(state: Any, parsed: dict[str, Any]) -> None:
    assert state.client_order_id == parsed["clientOrderId"]
    assert state.venue_order_id == parsed["id"]
    assert state.side.value.lower() == parsed["side"]
    assert state.status in CCXT_STATUS[parsed["status"]]
    assert state.qty == num(parsed["amount"])
    assert state.filled_qty == num(parsed["filled"])
    assert state.avg_price == num(parsed["average"])
    assert state.ts == parsed["lastUpdateTimestamp"]
    for field in ("qty", "filled_qty", "avg_price", "price"):
        value = getattr(state, field)
        assert value is None or isinstance(value, D)


async def test_spot_closed_market_order(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    case = static_case("response", "fetchOrder", "Fetch spot closed order")
    rig.session.reply("GET", "/api/v3/order", (200, case["httpResponse"]))
    cid = ClientOrderId(case["httpResponse"]["clientOrderId"])
    state = await rig.venue.fetch_order(Market.SPOT, Symbol("LTCUSDT"), cid)
    assert_order_agrees_with_ccxt(state, case["parsedResponse"])
    # a MARKET order reports price 0: the average is quote spent / qty, exactly 9.08 / 0.1
    assert (state.type, state.status, state.avg_price, state.price) == (
        OrderType.MARKET,
        OrderStatus.FILLED,
        D("90.8"),
        None,
    )
    assert rig.session.to("GET", "/api/v3/order")[0].params == {"symbol": "LTCUSDT", "origClientOrderId": cid}


async def test_spot_open_post_only_order(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    case = static_case("response", "fetchOpenOrders", "Fetch spot open orders")
    rig.session.reply("GET", "/api/v3/openOrders", (200, case["httpResponse"]))
    (state,) = await rig.venue.open_orders(Market.SPOT, Symbol("LTCUSDT"))
    assert_order_agrees_with_ccxt(state, case["parsedResponse"][0])
    assert (state.type, state.price, state.qty) == (OrderType.LIMIT_MAKER, D("50"), D("0.2"))
    assert case["parsedResponse"][0]["postOnly"] is True


async def test_futures_post_only_order_is_limit_maker(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    case = static_case("response", "fetchOpenOrder", "swap open order")
    rig.session.reply("GET", "/fapi/v1/order", (200, case["httpResponse"]))
    cid = ClientOrderId(case["httpResponse"]["clientOrderId"])
    state = await rig.venue.fetch_order(Market.FUT, Symbol("LTCUSDT"), cid)
    assert_order_agrees_with_ccxt(state, case["parsedResponse"])
    # GTX on futures is Binance's post-only; ccxt says postOnly=True, we say LIMIT_MAKER
    assert (state.type, state.price, state.reduce_only) == (OrderType.LIMIT_MAKER, D("50"), False)
    assert case["parsedResponse"]["postOnly"] is True


def test_created_orders_parse_exactly() -> None:
    spot = static_case("response", "createOrder", "spot +selfTradePrevention +iceberg")
    state = parse.order_state(spot["httpResponse"], Market.SPOT, Symbol("SOLUSDT"))
    assert_order_agrees_with_ccxt(state, spot["parsedResponse"])
    assert (state.price, state.qty, state.status) == (D("241"), D("0.05"), OrderStatus.NEW)
    swap = static_case("response", "createOrders", "create swap orders")
    (raw,), (parsed,) = swap["httpResponse"], swap["parsedResponse"]
    state = parse.order_state(raw, Market.FUT, Symbol("BTCUSDT"))
    assert_order_agrees_with_ccxt(state, parsed)
    assert (state.side, state.price, state.qty) == (Side.SELL, D("110001"), D("0.2"))


async def test_linear_positions(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    case = static_case("response", "fetchPositions", "Fetch linear positions without symbols")
    flat = {**case["httpResponse"][0], "symbol": "ETHUSDT", "positionAmt": "0.000", "notional": "0"}
    rig.session.reply("GET", "/fapi/v3/positionRisk", (200, [*case["httpResponse"], flat]))
    (pos,) = await rig.venue.positions()  # the flat ETHUSDT row is not a position
    parsed = case["parsedResponse"][0]
    assert pos.symbol == "BTCUSDT"
    assert pos.qty == num(parsed["contracts"]) == D("0.009")  # long: positive
    assert (pos.entry_price, pos.mark_price) == (num(parsed["entryPrice"]), num(parsed["markPrice"]))
    assert pos.unrealized_pnl == num(parsed["unrealizedPnl"])
    assert pos.liquidation_price == D("64846.9875379") == num(parsed["liquidationPrice"])
    assert pos.margin == num(parsed["initialMargin"])
    # v3 has no leverage field: notional / initial margin = 607.52416678 / 7.59405208 → 80x
    assert pos.leverage == 80


async def test_spot_and_futures_balances(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    spot = static_case("response", "fetchBalance", "Spot balance")
    swap = static_case("response", "fetchBalance", "Linear swap balance")
    rig.session.reply("GET", "/api/v3/account", (200, spot["httpResponse"]))
    rig.session.reply("GET", "/fapi/v3/account", (200, swap["httpResponse"]))
    spot_bal = await rig.venue.balances(Market.SPOT)
    fut_bal = await rig.venue.balances(Market.FUT)
    assert set(spot_bal) == {"LTC", "ETH"}  # BTC is empty
    for asset, bal in spot_bal.items():
        ccxt_bal = spot["parsedResponse"][asset]
        assert (bal.free, bal.locked, bal.total) == tuple(num(ccxt_bal[k]) for k in ("free", "used", "total"))
    assert spot_bal["LTC"].free == D("0.919741")
    usdt = fut_bal["USDT"]
    assert (usdt.free, usdt.locked, usdt.total) == (D("31.022612"), D("0"), D("31.022612"))
    assert usdt.total == num(swap["parsedResponse"]["USDT"]["total"])


async def test_funding_rate_and_history_from_documented_payloads(make_venue: VenueFactory) -> None:
    """No funding response is recorded; these are Binance's documented payload shapes."""
    rig = await make_venue()
    premium = {
        "symbol": "BTCUSDT",
        "markPrice": "11793.63104562",
        "indexPrice": "11781.80495970",
        "estimatedSettlePrice": "11781.16138815",
        "lastFundingRate": "0.00038246",
        "interestRate": "0.00010000",
        "nextFundingTime": 1597392000000,
        "time": 1597370495002,
    }
    history = [
        {"symbol": "BTCUSDT", "fundingRate": "-0.00003740", "fundingTime": 1570636800000, "markPrice": ""},
        {
            "symbol": "BTCUSDT",
            "fundingRate": "-0.03750000",
            "fundingTime": 1570608000000,
            "markPrice": "34287.54",
        },
    ]
    rig.session.reply("GET", "/fapi/v1/premiumIndex", (200, premium))
    rig.session.reply("GET", "/fapi/v1/fundingRate", (200, history))
    now = await rig.venue.funding_rate(Symbol("BTCUSDT"))
    past = await rig.venue.funding_history(Symbol("BTCUSDT"), since_ms=1570600000000)
    assert (now.rate, now.funding_time, now.mark_price) == (
        D("0.00038246"),
        1597392000000,
        D("11793.63104562"),
    )
    assert [(f.funding_time, f.rate, f.mark_price) for f in past] == [
        (1570608000000, D("-0.0375"), D("34287.54")),
        (1570636800000, D("-0.0000374"), None),
    ]
    assert rig.session.to("GET", "/fapi/v1/fundingRate")[0].params == {
        "symbol": "BTCUSDT",
        "startTime": "1570600000000",
    }


async def test_markets_become_instruments_from_exchange_filters(make_venue: VenueFactory) -> None:
    rig = await make_venue(load=False)
    instruments = await rig.venue.load_markets()
    again = await rig.venue.load_markets()  # ccxt caches: no second exchangeInfo
    assert instruments == again
    assert (
        len(rig.session.to("GET", "/api/v3/exchangeInfo"))
        == len(rig.session.to("GET", "/fapi/v1/exchangeInfo"))
        == 1
    )
    btc_spot, btc_fut = (
        instruments[(Market.SPOT, Symbol("BTCUSDT"))],
        instruments[(Market.FUT, Symbol("BTCUSDT"))],
    )
    assert (btc_spot.tick_size, btc_spot.lot_size, btc_spot.min_qty, btc_spot.min_notional) == (
        D("0.01"),
        D("0.00001"),
        D("0.00001"),
        D("5"),
    )
    assert (btc_fut.tick_size, btc_fut.lot_size, btc_fut.min_qty, btc_fut.min_notional) == (
        D("0.1"),
        D("0.001"),
        D("0.001"),
        D("5"),
    )
    assert (btc_spot.maker_fee, btc_fut.maker_fee, btc_fut.taker_fee) == (
        D("0.001"),
        D("0.0002"),
        D("0.0005"),
    )
    assert len(instruments) == 6 and {k[0] for k in instruments} == {Market.SPOT, Market.FUT}
    # ccxt's own precision agrees (TICK_SIZE mode: the step itself, as a float)
    client = rig.venue._rest[Market.FUT]
    assert to_decimal(client.markets["BTC/USDT:USDT"]["precision"]["price"]) == btc_fut.tick_size
    assert client.enableRateLimit is True


async def test_spot_market_order_full_answer_carries_exact_fills(make_venue: VenueFactory) -> None:
    """Binance's documented FULL answer to a spot MARKET order (fills priced one by one)."""
    rig = await make_venue()
    full = {
        "symbol": "BTCUSDT",
        "orderId": 28,
        "orderListId": -1,
        "clientOrderId": "chm-mkt-9",
        "transactTime": 1507725176595,
        "price": "0.00000000",
        "origQty": "0.00300000",
        "executedQty": "0.00300000",
        "cummulativeQuoteQty": "120.00030000",
        "status": "FILLED",
        "timeInForce": "GTC",
        "type": "MARKET",
        "side": "BUY",
        "workingTime": 1507725176595,
        "fills": [
            {
                "price": "40000.00000000",
                "qty": "0.00200000",
                "commission": "0.00000200",
                "commissionAsset": "BTC",
                "tradeId": 56,
            },
            {
                "price": "40000.30000000",
                "qty": "0.00100000",
                "commission": "0.00000100",
                "commissionAsset": "BTC",
                "tradeId": 57,
            },
        ],
    }
    rig.session.reply("POST", "/api/v3/order", (200, full))
    req = OrderRequest(
        Symbol("BTCUSDT"), Market.SPOT, Side.BUY, OrderType.MARKET, D("0.003"), ClientOrderId("chm-mkt-9")
    )
    state = await rig.venue.create_order(req)
    sent = rig.session.to("POST", "/api/v3/order")[0].params
    # quantity, not quoteOrderQty: ccxt only spends quote when given a price
    assert {k: sent[k] for k in ("type", "quantity", "newOrderRespType")} == {
        "type": "MARKET",
        "quantity": "0.003",
        "newOrderRespType": "FULL",
    }
    assert "quoteOrderQty" not in sent and "price" not in sent
    assert (state.status, state.filled_qty, state.avg_price) == (OrderStatus.FILLED, D("0.003"), D("40000.1"))
    assert [(f.trade_id, f.price, f.qty, f.fee, f.fee_asset) for f in state.fills] == [
        ("56", D("40000"), D("0.002"), D("0.000002"), "BTC"),
        ("57", D("40000.3"), D("0.001"), D("0.000001"), "BTC"),
    ]
    assert sum(f.qty for f in state.fills) == state.filled_qty


async def test_spot_cancel_answer_reports_our_id_not_the_cancel_id(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    answer = {
        "symbol": "LTCUSDT",
        "origClientOrderId": "chm-lim-4",
        "orderId": 4,
        "orderListId": -1,
        "clientOrderId": "cancelMyOrder1",
        "transactTime": 1684804350068,
        "price": "50.00000000",
        "origQty": "1.00000000",
        "executedQty": "0.25000000",
        "cummulativeQuoteQty": "12.50000000",
        "status": "CANCELED",
        "timeInForce": "GTC",
        "type": "LIMIT",
        "side": "BUY",
    }
    rig.session.reply("DELETE", "/api/v3/order", (200, answer))
    state = await rig.venue.cancel_order(Market.SPOT, Symbol("LTCUSDT"), ClientOrderId("chm-lim-4"))
    assert rig.session.to("DELETE", "/api/v3/order")[0].params == {
        "symbol": "LTCUSDT",
        "origClientOrderId": "chm-lim-4",
    }
    assert (state.client_order_id, state.status, state.filled_qty, state.avg_price, state.ts) == (
        "chm-lim-4",
        OrderStatus.CANCELED,
        D("0.25"),
        D("50"),
        1684804350068,
    )


async def test_binance_venue_satisfies_the_port(make_venue: VenueFactory) -> None:
    from agents.connectors.port import Venue

    rig = await make_venue(load=False)
    assert isinstance(rig.venue, Venue) and rig.venue.name == "binance"
