"""Binance order payloads → port ``OrderState`` / ``Fill`` with exact Decimals (pure).

ccxt's unified order holds floats; Binance's raw payload (ccxt keeps it under ``info``) holds
decimal strings, so every amount here is read from the raw payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from agents.connectors.port import Fill, OrderState, VenueError
from chimera.model import ClientOrderId, Market, OrderStatus, OrderType, Side, Symbol, TimeInForce

_STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "CANCELLED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.NEW,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    # algo (conditional) orders: waiting for the trigger, or fired. A fired one's own record says
    # nothing of fills; the venue reads the order it placed (``actualOrderId``) instead
    "TRIGGERING": OrderStatus.NEW,
    "TRIGGERED": OrderStatus.NEW,
    "FINISHED": OrderStatus.NEW,
}
# an algo order that fired: its fills live on the order it created (``actualOrderId``)
ALGO_FIRED = frozenset({"TRIGGERED", "FINISHED"})

_TYPE = {
    "MARKET": OrderType.MARKET,
    "LIMIT": OrderType.LIMIT,
    "LIMIT_MAKER": OrderType.LIMIT_MAKER,
    "STOP_MARKET": OrderType.STOP_MARKET,
    "TAKE_PROFIT_MARKET": OrderType.TAKE_PROFIT_MARKET,
    "STOP_LOSS_LIMIT": OrderType.STOP_LOSS_LIMIT,
    "STOP": OrderType.STOP_LOSS_LIMIT,  # futures stop-limit
}


def dec(value: object) -> Decimal:
    """Parse a Binance decimal string exactly; trailing zeros dropped, never an exponent."""
    if isinstance(value, float):
        raise TypeError(f"refusing a float amount {value!r}: read the raw string instead")
    out = Decimal(str(value)).normalize()
    return out.quantize(Decimal(1)) if out.as_tuple().exponent > 0 else out  # type: ignore[operator]


def dec_or_none(value: object) -> Decimal | None:
    """A positive amount, or None where Binance writes 0 / "" for "not set"."""
    if value is None or value == "":
        return None
    out = dec(value)
    return out if out > 0 else None


def _first(raw: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = raw.get(key)
        if value not in (None, "", 0, "0"):
            return value
    return None


def order_type(raw: Mapping[str, Any]) -> OrderType:
    name = str(_first(raw, "origType", "orderType", "type") or "")
    if name == "LIMIT" and raw.get("timeInForce") == TimeInForce.GTX.value:
        return OrderType.LIMIT_MAKER  # futures post-only
    try:
        return _TYPE[name]
    except KeyError:
        cid = _first(raw, "clientOrderId", "clientAlgoId")
        raise VenueError(f"order {cid}: unsupported type {name!r}") from None


def order_status(raw: Mapping[str, Any]) -> OrderStatus:
    name = str(_first(raw, "status", "algoStatus") or "")
    try:
        return _STATUS[name]
    except KeyError:
        cid = _first(raw, "clientOrderId", "clientAlgoId")
        raise VenueError(f"order {cid}: unknown status {name!r}") from None


def _avg_price(raw: Mapping[str, Any], filled: Decimal) -> Decimal | None:
    avg = dec_or_none(raw.get("avgPrice"))  # futures
    if avg is not None or filled == 0:
        return avg
    quote = dec_or_none(_first(raw, "cummulativeQuoteQty", "cumQuote"))  # spot: quote spent / qty
    return None if quote is None else dec(quote / filled)


def fills(
    raw: Mapping[str, Any], cid: ClientOrderId, symbol: Symbol, market: Market, ts: int
) -> tuple[Fill, ...]:
    """The immediate fills a spot FULL response carries (taker fills: they matched on arrival)."""
    side = Side(str(raw["side"]))
    return tuple(
        Fill(
            trade_id=str(f["tradeId"]),
            client_order_id=cid,
            symbol=symbol,
            market=market,
            side=side,
            price=dec(f["price"]),
            qty=dec(f["qty"]),
            fee=dec(f["commission"]),
            fee_asset=str(f["commissionAsset"]),
            is_maker=False,
            ts=ts,
        )
        for f in raw.get("fills") or ()
    )


def order_state(raw: Mapping[str, Any], market: Market, symbol: Symbol, default_ts: int = 0) -> OrderState:
    """Build an OrderState from a raw Binance order (spot, futures or futures algo)."""
    # a spot cancel answers with the cancel's own id in clientOrderId and ours in origClientOrderId
    cid = ClientOrderId(str(_first(raw, "origClientOrderId", "clientAlgoId", "clientOrderId") or ""))
    if not cid:
        raise VenueError(f"{symbol}: order payload without a client order id: {sorted(raw)}")
    filled = dec(_first(raw, "executedQty") or "0")
    ts = int(_first(raw, "updateTime", "transactTime", "workingTime", "time", "createTime") or default_ts)
    close_position = str(raw.get("closePosition", "")).lower() == "true"
    return OrderState(
        client_order_id=cid,
        venue_order_id=str(_first(raw, "orderId", "algoId") or ""),
        symbol=symbol,
        market=market,
        side=Side(str(raw["side"])),
        type=order_type(raw),
        status=order_status(raw),
        qty=None if close_position else dec_or_none(_first(raw, "origQty", "quantity")),
        filled_qty=filled,
        avg_price=_avg_price(raw, filled),
        price=dec_or_none(raw.get("price")),
        stop_price=dec_or_none(_first(raw, "stopPrice", "triggerPrice")),
        reduce_only=str(raw.get("reduceOnly", "")).lower() == "true" or close_position,
        ts=ts,
        fills=fills(raw, cid, symbol, market, ts),
    )


def oco_states(raw: Mapping[str, Any], symbol: Symbol, default_ts: int = 0) -> list[OrderState]:
    """The two legs of a spot order list (``orderReports``), in the venue's order."""
    reports = raw.get("orderReports") or []
    if len(reports) != 2:
        raise VenueError(f"{symbol}: OCO answer without its two order reports: {sorted(raw)}")
    ts = int(raw.get("transactionTime") or default_ts)
    return [order_state(r, Market.SPOT, symbol, ts) for r in reports]
