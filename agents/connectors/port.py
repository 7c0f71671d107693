"""The venue port: everything services need from an exchange, as one async interface.

SimVenue (paper) and the Binance/ccxt adapter both implement :class:`Venue`. Money is Decimal,
ids are the typed ids of ``chimera.model``; nothing here knows about Kafka, Redis or ClickHouse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, runtime_checkable

from chimera.model import ClientOrderId, Market, OrderStatus, OrderType, Side, Symbol, TimeInForce


class VenueError(Exception):
    """A venue refused a request; ``code`` is the venue's own error code when it has one."""

    def __init__(self, message: str, code: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code


class DuplicateClientOrderId(VenueError):
    """The client_order_id was used before (Binance -2010 / -4116 'Duplicate order sent')."""


class OrderNotFound(VenueError):
    pass


class OrderRejected(VenueError):
    """The venue refused the order (filter failure -1013, post-only would take -2010, reduce-only -2022)."""


class InsufficientBalance(VenueError):
    pass


class OutcomeUnknown(VenueError):
    """The request may or may not have reached the venue (timeout, 5xx): resolve by fetching."""


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: Symbol
    market: Market
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    maker_fee: Decimal
    taker_fee: Decimal


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: Symbol
    market: Market
    side: Side
    type: OrderType
    qty: Decimal | None  # None only with close_position=True
    client_order_id: ClientOrderId
    price: Decimal | None = None  # limit price
    stop_price: Decimal | None = None  # trigger for STOP_MARKET / TAKE_PROFIT_MARKET / STOP_LOSS_LIMIT
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False
    close_position: bool = False


@dataclass(frozen=True, slots=True)
class OcoRequest:
    """Spot OCO: a LIMIT_MAKER take-profit leg above and a STOP_LOSS_LIMIT leg below (for a SELL)."""

    symbol: Symbol
    side: Side
    qty: Decimal
    list_client_order_id: ClientOrderId
    limit_client_order_id: ClientOrderId
    stop_client_order_id: ClientOrderId
    price: Decimal  # limit (take-profit) leg
    stop_price: Decimal
    stop_limit_price: Decimal


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str
    client_order_id: ClientOrderId
    symbol: Symbol
    market: Market
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    ts: int


@dataclass(frozen=True, slots=True)
class OrderState:
    client_order_id: ClientOrderId
    venue_order_id: str
    symbol: Symbol
    market: Market
    side: Side
    type: OrderType
    status: OrderStatus
    qty: Decimal | None
    filled_qty: Decimal
    avg_price: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    ts: int
    fills: tuple[Fill, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class Position:
    symbol: Symbol
    qty: Decimal  # signed: >0 long, <0 short
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    liquidation_price: Decimal | None
    leverage: int
    margin: Decimal


@dataclass(frozen=True, slots=True)
class FundingRate:
    symbol: Symbol
    rate: Decimal
    funding_time: int  # epoch ms of the settlement this rate applies to
    mark_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TransferResult:
    transfer_id: str
    venue_tran_id: str
    asset: str
    amount: Decimal
    from_wallet: Market
    to_wallet: Market
    ok: bool
    message: str = ""


@runtime_checkable
class Venue(Protocol):
    """One async interface to an exchange (spot + USDT-M perpetuals)."""

    name: str

    async def load_markets(self) -> dict[tuple[Market, Symbol], Instrument]: ...

    async def balances(self, market: Market) -> dict[str, Balance]: ...

    async def positions(self) -> list[Position]: ...

    async def open_orders(self, market: Market, symbol: Symbol | None = None) -> list[OrderState]: ...

    async def create_order(self, req: OrderRequest) -> OrderState: ...

    async def create_oco(self, req: OcoRequest) -> list[OrderState]: ...

    async def cancel_order(
        self, market: Market, symbol: Symbol, client_order_id: ClientOrderId
    ) -> OrderState: ...

    async def fetch_order(
        self, market: Market, symbol: Symbol, client_order_id: ClientOrderId
    ) -> OrderState: ...

    async def transfer(
        self, asset: str, amount: Decimal, from_wallet: Market, to_wallet: Market, transfer_id: str
    ) -> TransferResult: ...

    async def funding_rate(self, symbol: Symbol) -> FundingRate: ...

    async def funding_history(self, symbol: Symbol, since_ms: int | None = None) -> list[FundingRate]: ...

    # an async generator: declared without ``async`` so implementations written with ``yield`` match
    def watch_trades(self, market: Market, symbol: Symbol) -> AsyncIterator[dict[str, object]]: ...

    async def close(self) -> None: ...
