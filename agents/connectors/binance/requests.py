"""Port requests → ccxt unified ``create_order`` arguments and Binance order-list params (pure).

Amounts and prices travel to ccxt as plain decimal strings, never floats, and must already sit on
the instrument's lot and tick grid: ccxt would otherwise truncate (amount) or round (price) them
silently, and the order we record would differ from the one Binance holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from agents.connectors.binance.errors import InvalidRequest
from agents.connectors.port import Instrument, OcoRequest, OrderRequest
from chimera.model import Market, OrderType, Side, TimeInForce

# futures conditional orders go to Binance's algo service (POST /fapi/v1/algoOrder)
ALGO_TYPES = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET})


@dataclass(frozen=True, slots=True)
class CcxtOrderCall:
    symbol: str
    type: str  # ccxt unified: "market" | "limit"
    side: str  # "buy" | "sell"
    amount: str | None
    price: str | None
    params: dict[str, object] = field(default_factory=dict)
    algo: bool = False


def plain(value: Decimal) -> str:
    """Render a Decimal without exponent or trailing zeros ("0.00100000" → "0.001")."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _on_grid(value: Decimal, step: Decimal, what: str, req_id: str) -> str:
    if value <= 0:
        raise InvalidRequest(f"{req_id}: {what} must be positive, got {value}")
    if step > 0 and value % step != 0:
        raise InvalidRequest(f"{req_id}: {what} {value} is not a multiple of {step}")
    return plain(value)


def _qty(req: OrderRequest, inst: Instrument) -> str:
    if req.qty is None:
        raise InvalidRequest(f"{req.client_order_id}: qty is required unless close_position=True")
    if req.qty < inst.min_qty:
        raise InvalidRequest(f"{req.client_order_id}: qty {req.qty} is below min_qty {inst.min_qty}")
    return _on_grid(req.qty, inst.lot_size, "qty", req.client_order_id)


def _price(value: Decimal | None, what: str, req: OrderRequest, inst: Instrument) -> str:
    if value is None:
        raise InvalidRequest(f"{req.client_order_id}: {req.type} needs {what}")
    return _on_grid(value, inst.tick_size, what, req.client_order_id)


def order_call(req: OrderRequest, ccxt_symbol: str, inst: Instrument) -> CcxtOrderCall:
    """Translate one port order into ccxt's ``create_order(symbol, type, side, amount, price, params)``."""
    cid = req.client_order_id
    fut = req.market is Market.FUT
    if not fut and (req.reduce_only or req.close_position):
        raise InvalidRequest(f"{cid}: reduce_only/close_position exist on futures only")
    if req.close_position and req.type not in ALGO_TYPES:
        raise InvalidRequest(f"{cid}: close_position needs STOP_MARKET or TAKE_PROFIT_MARKET")
    side = req.side.value.lower()
    params: dict[str, object] = {"clientOrderId": cid}
    if req.reduce_only and not req.close_position:
        params["reduceOnly"] = True
    tif = req.time_in_force
    post_only = req.type is OrderType.LIMIT_MAKER or tif is TimeInForce.GTX

    if req.type is OrderType.MARKET:
        return CcxtOrderCall(ccxt_symbol, "market", side, _qty(req, inst), None, params)
    if req.type in (OrderType.LIMIT, OrderType.LIMIT_MAKER):
        price = _price(req.price, "price", req, inst)
        if post_only:
            params["postOnly"] = True  # spot → type LIMIT_MAKER, futures → timeInForce GTX
        elif tif is not None:
            params["timeInForce"] = tif.value
        return CcxtOrderCall(ccxt_symbol, "limit", side, _qty(req, inst), price, params)
    if req.type in ALGO_TYPES:
        if not fut:
            raise InvalidRequest(f"{cid}: {req.type} is a futures order; spot uses STOP_LOSS_LIMIT or OCO")
        key = "triggerPrice" if req.type is OrderType.STOP_MARKET else "takeProfitPrice"
        params[key] = _price(req.stop_price, "stop_price", req, inst)
        amount = None
        if req.close_position:
            params["closePosition"] = True
        else:
            amount = _qty(req, inst)
        return CcxtOrderCall(ccxt_symbol, "market", side, amount, None, params, algo=True)
    if req.type is OrderType.STOP_LOSS_LIMIT:
        params["triggerPrice"] = _price(req.stop_price, "stop_price", req, inst)
        if tif is not None:
            params["timeInForce"] = tif.value
        price = _price(req.price, "price", req, inst)
        # on futures ccxt turns limit+trigger into type STOP, which Binance also routes to the algo service
        return CcxtOrderCall(ccxt_symbol, "limit", side, _qty(req, inst), price, params, algo=fut)
    raise InvalidRequest(f"{cid}: unsupported order type {req.type}")


def oco_params(req: OcoRequest, venue_symbol: str, inst: Instrument) -> dict[str, str]:
    """Build ``POST /api/v3/orderList/oco`` params: a LIMIT_MAKER leg and a STOP_LOSS_LIMIT leg.

    For a SELL the take-profit (LIMIT_MAKER) sits above the market and the stop below; for a BUY
    the other way round — Binance names the legs by position ("above"/"below"), not by role.
    """
    cid = req.list_client_order_id
    if req.qty < inst.min_qty:
        raise InvalidRequest(f"{cid}: qty {req.qty} is below min_qty {inst.min_qty}")
    qty = _on_grid(req.qty, inst.lot_size, "qty", cid)
    limit = _on_grid(req.price, inst.tick_size, "price", cid)
    stop = _on_grid(req.stop_price, inst.tick_size, "stop_price", cid)
    stop_limit = _on_grid(req.stop_limit_price, inst.tick_size, "stop_limit_price", cid)
    if req.side is Side.SELL and not req.price > req.stop_price:
        raise InvalidRequest(f"{cid}: a SELL OCO needs price {req.price} above stop_price {req.stop_price}")
    if req.side is Side.BUY and not req.price < req.stop_price:
        raise InvalidRequest(f"{cid}: a BUY OCO needs price {req.price} below stop_price {req.stop_price}")
    maker = {"Type": "LIMIT_MAKER", "Price": limit, "ClientOrderId": req.limit_client_order_id}
    stop_leg = {
        "Type": "STOP_LOSS_LIMIT",
        "StopPrice": stop,
        "Price": stop_limit,
        "TimeInForce": "GTC",
        "ClientOrderId": req.stop_client_order_id,
    }
    above, below = (maker, stop_leg) if req.side is Side.SELL else (stop_leg, maker)
    params = {
        "symbol": venue_symbol,
        "side": req.side.value,
        "quantity": qty,
        "listClientOrderId": cid,
        "newOrderRespType": "RESULT",
    }
    params.update({f"above{k}": v for k, v in above.items()})
    params.update({f"below{k}": v for k, v in below.items()})
    return params
