"""The paper exchange's order record and the checks an order must pass to be accepted.

Errors carry Binance's codes so callers handle SimVenue and Binance the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from agents.connectors.port import (
    DuplicateClientOrderId,
    Fill,
    Instrument,
    OcoRequest,
    OrderRejected,
    OrderRequest,
    OrderState,
    VenueError,
)
from agents.connectors.simvenue.wallets import Reservation
from chimera.model import ClientOrderId, Market, OrderStatus, OrderType, Side, TimeInForce

ZERO = Decimal(0)
LIMIT_TYPES = (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT)
STOP_TYPES = (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET, OrderType.STOP_LOSS_LIMIT)
ALLOWED_TYPES = {
    Market.SPOT: (OrderType.MARKET, OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT),
    Market.FUT: (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET),
}


@dataclass(slots=True)
class SimOrder:
    """Mutable inside the exchange; the outside world only sees :meth:`state` snapshots."""

    req: OrderRequest
    venue_order_id: str
    seq: int
    live_ts: int  # first event time at which the order may act (submission + latency)
    qty: Decimal | None
    ts: int  # time of the last change
    status: OrderStatus = OrderStatus.NEW
    live: bool = False
    triggered: bool = False
    filled_qty: Decimal = ZERO
    notional: Decimal = ZERO
    fills: list[Fill] = field(default_factory=list)
    reservation: Reservation | None = None
    sibling: ClientOrderId | None = None  # the other leg of an OCO
    reason: str = ""
    code: int | None = None
    final: bool = False  # mirrors status.is_final; read on every tick, so a plain attribute
    is_limit: bool = field(init=False)
    is_stop: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_limit = self.req.type in LIMIT_TYPES
        self.is_stop = self.req.type in STOP_TYPES

    @property
    def side(self) -> Side:
        return self.req.side

    @property
    def remaining(self) -> Decimal:
        return ZERO if self.qty is None else self.qty - self.filled_qty

    @property
    def post_only(self) -> bool:
        return self.req.type is OrderType.LIMIT_MAKER or self.req.time_in_force is TimeInForce.GTX

    @property
    def resting_limit(self) -> bool:
        """Live, working as a limit at ``req.price`` (stop-limits only once triggered)."""
        if not self.live or self.final or not self.is_limit:
            return False
        return not self.is_stop or self.triggered

    def state(self) -> OrderState:
        return OrderState(
            client_order_id=self.req.client_order_id,
            venue_order_id=self.venue_order_id,
            symbol=self.req.symbol,
            market=self.req.market,
            side=self.req.side,
            type=self.req.type,
            status=self.status,
            qty=self.qty,
            filled_qty=self.filled_qty,
            avg_price=self.notional / self.filled_qty if self.filled_qty else None,
            price=self.req.price,
            stop_price=self.req.stop_price,
            reduce_only=self.req.reduce_only or self.req.close_position,
            ts=self.ts,
            fills=tuple(self.fills),
        )


def _on_step(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def validate(req: OrderRequest, inst: Instrument, ref_price: Decimal | None) -> None:
    """Raise a clear :class:`VenueError` for a request the venue would refuse outright."""
    if req.type not in ALLOWED_TYPES[req.market]:
        raise VenueError(f"{req.type} is not an order type of {req.market}", code=-1116)
    if req.market is Market.SPOT and (req.reduce_only or req.close_position):
        raise VenueError("reduce_only/close_position exist only on FUT", code=-1106)
    if req.close_position:
        if req.type not in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET):
            raise VenueError("close_position needs STOP_MARKET or TAKE_PROFIT_MARKET", code=-1106)
        if req.qty is not None:
            raise VenueError("close_position takes no qty", code=-1106)
    elif req.qty is None or req.qty <= 0:
        raise VenueError(f"qty must be positive, got {req.qty}", code=-1102)
    if req.type in LIMIT_TYPES and req.price is None:
        raise VenueError(f"{req.type} needs a price", code=-1102)
    if req.type in STOP_TYPES and req.stop_price is None:
        raise VenueError(f"{req.type} needs a stop_price", code=-1102)
    if req.type is OrderType.MARKET and req.price is not None:
        raise VenueError("a MARKET order takes no price", code=-1106)
    if req.time_in_force is TimeInForce.GTX and req.market is Market.SPOT:
        raise VenueError("GTX is a FUT time in force; use LIMIT_MAKER on SPOT", code=-1115)
    for name, price in (("price", req.price), ("stop_price", req.stop_price)):
        if price is not None and (price <= 0 or not _on_step(price, inst.tick_size)):
            raise OrderRejected(
                f"Filter failure: PRICE_FILTER ({name} {price} is not a positive multiple of "
                f"tick {inst.tick_size})",
                code=-1013,
            )
    if req.qty is None:
        return
    if not _on_step(req.qty, inst.lot_size):
        raise OrderRejected(
            f"Filter failure: LOT_SIZE (qty {req.qty} is not a multiple of lot {inst.lot_size})", code=-1013
        )
    if req.qty < inst.min_qty:
        raise OrderRejected(f"Filter failure: LOT_SIZE (qty {req.qty} < min_qty {inst.min_qty})", code=-1013)
    price = req.price if req.type in LIMIT_TYPES else (req.stop_price or ref_price)
    if price is not None and not req.reduce_only and price * req.qty < inst.min_notional:
        raise OrderRejected(
            f"Filter failure: NOTIONAL ({price * req.qty} < min_notional {inst.min_notional})",
            code=-1013 if req.market is Market.SPOT else -4164,
        )


def duplicate_error(market: Market, cid: str) -> VenueError:
    if market is Market.SPOT:
        return DuplicateClientOrderId(f"Duplicate order sent. ({cid})", code=-2010)
    return DuplicateClientOrderId(f"ClientOrderId is duplicated. ({cid})", code=-4116)


def fires_on_rise(order_type: OrderType, side: Side) -> bool:
    """Does this stop fire when the price rises to it (buy stops, sell take-profits)?"""
    if order_type is OrderType.TAKE_PROFIT_MARKET:
        return side is Side.SELL
    return side is Side.BUY


def stop_hit(order_type: OrderType, side: Side, stop: Decimal, last: Decimal) -> bool:
    """Has the last price reached the stop? Stops fire against the position, take-profits with it."""
    return last >= stop if fires_on_rise(order_type, side) else last <= stop


def oco_legs(req: OcoRequest, inst: Instrument, last: Decimal | None) -> tuple[OrderRequest, OrderRequest]:
    """Return the LIMIT_MAKER and STOP_LOSS_LIMIT legs of a spot OCO, refusing a bad one.

    A SELL list needs stop < last < price (a BUY: price < last < stop), as Binance checks.
    """
    limit = OrderRequest(
        req.symbol,
        Market.SPOT,
        req.side,
        OrderType.LIMIT_MAKER,
        req.qty,
        req.limit_client_order_id,
        req.price,
    )
    stop = OrderRequest(
        req.symbol,
        Market.SPOT,
        req.side,
        OrderType.STOP_LOSS_LIMIT,
        req.qty,
        req.stop_client_order_id,
        price=req.stop_limit_price,
        stop_price=req.stop_price,
        time_in_force=TimeInForce.GTC,
    )
    for leg in (limit, stop):
        validate(leg, inst, None)
    lo, hi = (req.stop_price, req.price) if req.side is Side.SELL else (req.price, req.stop_price)
    if not lo < hi or (last is not None and not lo < last < hi):
        raise OrderRejected("The relationship of the prices for the orders is not correct.", code=-2010)
    return limit, stop
