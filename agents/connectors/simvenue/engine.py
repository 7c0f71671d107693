"""Order execution of the paper exchange: activation, triggers, taking, resting fills, liquidation.

:class:`Engine` holds the exchange state; :class:`~agents.connectors.simvenue.exchange.SimExchange`
adds the public calls. Every change is appended to ``_out`` (order snapshots, fills, funding).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import ParamSpec, TypeVar

from agents.connectors.port import Fill, Instrument, OrderRequest, OrderState
from agents.connectors.simvenue.config import SimVenueConfig
from agents.connectors.simvenue.funding import FundingBook, FundingPayment
from agents.connectors.simvenue.market import Level, MarketState
from agents.connectors.simvenue.orders import STOP_TYPES, SimOrder, fires_on_rise, stop_hit
from agents.connectors.simvenue.positions import PositionBook
from agents.connectors.simvenue.wallets import USDT_STEP, ZERO, Wallets, money
from chimera.model import ClientOrderId, Market, OrderStatus, OrderType, Side, Symbol, TimeInForce

Key = tuple[Market, Symbol]
INF, NEG_INF = Decimal("Infinity"), Decimal("-Infinity")
INSUFFICIENT_SPOT = "Account has insufficient balance for requested action."


SimEvent = OrderState | Fill | FundingPayment


# The arithmetic context every public call runs in, whatever the caller's thread has set: ccxt,
# for one, switches the thread's context to ROUND_HALF_UP when it formats a number.
EXACT = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
P = ParamSpec("P")
R = TypeVar("R")


def exact(method: Callable[P, R]) -> Callable[P, R]:
    """Run ``method`` in :data:`EXACT`, so results never depend on the ambient decimal context."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext(EXACT):
            return method(*args, **kwargs)

    return wrapper


def ceil_money(value: Decimal) -> Decimal:
    return value.quantize(USDT_STEP, rounding=ROUND_UP)


class Engine:
    def __init__(self, config: SimVenueConfig) -> None:
        self.config = config
        self.instruments: dict[Key, Instrument] = {(i.market, i.symbol): i for i in config.instrument_list()}
        self.wallets = Wallets(config.initial_balances)
        self.book = PositionBook(self.wallets, config.maintenance_margin_rate)
        self.markets: dict[Key, MarketState] = {k: MarketState() for k in self.instruments}
        self.orders: dict[tuple[Market, ClientOrderId], SimOrder] = {}
        self.open: dict[tuple[Market, ClientOrderId], SimOrder] = {}  # not final, in submission order
        self.open_by_key: dict[Key, dict[ClientOrderId, SimOrder]] = {k: {} for k in self.instruments}
        # per instrument: highest resting buy, lowest resting sell, highest falling stop, lowest
        # rising stop — a trade between them touches no order, so most ticks skip the order scan
        self._bounds: dict[Key, tuple[Decimal, Decimal, Decimal, Decimal]] = {}
        self.now: int | None = None
        self.funding = FundingBook()
        # settlements crossed whose own rate has not arrived yet: (funding_time, positions at it)
        self._pending_funding: list[tuple[int, list[tuple[Symbol, Decimal, Decimal]]]] = []
        # ids count per instrument, as Binance numbers orderId and tradeId per symbol: an instrument's
        # ids are the same whichever other instruments share the venue (one paper venue in the
        # engine, one per partition's desk on Kafka)
        self._order_seq: dict[Key, int] = {}
        self._trade_seq: dict[Key, int] = {}
        self._out: list[SimEvent] = []

    # ---- helpers -------------------------------------------------------------------------------
    @property
    def t(self) -> int:
        return 0 if self.now is None else self.now

    def now_ms(self) -> int:
        """The exchange is a :class:`chimera.model.Clock`: event time of the last market event."""
        return self.t

    def _next_order_id(self, key: Key) -> tuple[str, int]:
        seq = self._order_seq[key] = self._order_seq.get(key, 0) + 1
        return str(seq), seq

    def _next_trade_id(self, key: Key) -> str:
        seq = self._trade_seq[key] = self._trade_seq.get(key, 0) + 1
        return str(seq)

    def _touch(self, o: SimOrder) -> None:
        o.ts = self.t
        self._out.append(o.state())

    def _finish(self, o: SimOrder, status: OrderStatus, reason: str = "", code: int | None = None) -> None:
        o.status, o.final = status, True
        if reason:
            o.reason, o.code = reason, code
        if o.reservation is not None:
            self.wallets.drop_holder(o.reservation)
            o.reservation = None
        self.open.pop((o.req.market, o.req.client_order_id), None)
        self.open_by_key[(o.req.market, o.req.symbol)].pop(o.req.client_order_id, None)
        self._changed((o.req.market, o.req.symbol))
        self._touch(o)

    def _end_sibling(self, o: SimOrder, status: OrderStatus) -> None:
        """An OCO leg executed, was refused or was cancelled: the other leg ends with it."""
        if o.sibling is None:
            return
        other = self.orders[(Market.SPOT, o.sibling)]
        if not other.final:
            self._finish(other, status)

    def _instrument_orders(self, key: Key) -> list[SimOrder]:
        return list(self.open_by_key[key].values())

    def _changed(self, key: Key) -> None:
        self._bounds.pop(key, None)

    def _bounds_of(self, key: Key) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        bounds = self._bounds.get(key)
        if bounds is None:
            buy, sell, fall, rise = NEG_INF, INF, NEG_INF, INF
            for o in self.open_by_key[key].values():
                if o.is_stop and not o.triggered and o.req.stop_price is not None:
                    if fires_on_rise(o.req.type, o.side):
                        rise = min(rise, o.req.stop_price)
                    else:
                        fall = max(fall, o.req.stop_price)
                elif o.is_limit and o.req.price is not None:
                    if o.side is Side.BUY:
                        buy = max(buy, o.req.price)
                    else:
                        sell = min(sell, o.req.price)
            bounds = self._bounds[key] = (buy, sell, fall, rise)
        return bounds

    def _reduce_cap(self, o: SimOrder) -> Decimal:
        """Quantity the order may still fill; reduce-only orders never grow or flip a position."""
        if not (o.req.reduce_only or o.req.close_position):
            return o.remaining
        pos = self.book.qty(o.req.symbol)
        if pos == 0 or (pos > 0) == (o.side is Side.BUY):
            return ZERO
        return min(o.remaining, abs(pos))

    # ---- activation and triggers ---------------------------------------------------------------
    def _activate(self, o: SimOrder) -> None:
        o.live = True
        m = self.markets[(o.req.market, o.req.symbol)]
        req = o.req
        if req.type is OrderType.MARKET:
            self._take(o, None)
            return
        if req.type in STOP_TYPES:
            assert req.stop_price is not None
            if m.last is not None and stop_hit(req.type, req.side, req.stop_price, m.last):
                spot = req.market is Market.SPOT
                self._refuse(
                    o,
                    "Stop price would trigger immediately." if spot else "Order would immediately trigger.",
                    -2010 if spot else -2021,
                )
            return
        assert req.price is not None
        if o.post_only and m.would_take(req.side, req.price):
            if req.market is Market.SPOT:
                self._refuse(o, "Order would immediately match and take.", -2010)
            else:
                self._finish(o, OrderStatus.EXPIRED, "GTX order would immediately match and take", -5022)
            return
        if m.would_take(req.side, req.price):
            if req.time_in_force is TimeInForce.FOK and not self._fok_fillable(o, m):
                self._finish(o, OrderStatus.EXPIRED, "FOK order could not fill in full")
                return
            self._take(o, req.price, rest=req.time_in_force not in (TimeInForce.IOC, TimeInForce.FOK))
        elif req.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            self._finish(o, OrderStatus.EXPIRED, f"{req.time_in_force} order found nothing to take")

    def _refuse(self, o: SimOrder, reason: str, code: int) -> None:
        self._finish(o, OrderStatus.REJECTED, reason, code)
        self._end_sibling(o, OrderStatus.REJECTED)

    def _fok_fillable(self, o: SimOrder, m: MarketState) -> bool:
        dry = MarketState(last=m.last, bids=list(m.bids), asks=list(m.asks))
        fills = dry.take(o.side, o.remaining, o.req.price, self.config.market_slippage, self._tick(o))
        return sum((q for _, q in fills), ZERO) == o.remaining

    def _tick(self, o: SimOrder) -> Decimal:
        return self.instruments[(o.req.market, o.req.symbol)].tick_size

    def _trigger(self, key: Key, last: Decimal) -> None:
        _, _, fall, rise = self._bounds_of(key)
        if fall < last < rise:
            return
        for o in self._instrument_orders(key):
            stop = o.req.stop_price
            if not o.is_stop or o.triggered or not o.live or o.final:
                continue
            assert stop is not None
            if not stop_hit(o.req.type, o.side, stop, last):
                continue
            o.triggered = True
            self._changed(key)
            self._end_sibling(o, OrderStatus.EXPIRED)
            if o.req.close_position:
                o.qty = abs(self.book.qty(o.req.symbol))
            if o.req.type is OrderType.STOP_LOSS_LIMIT:
                assert o.req.price is not None
                if self.markets[key].would_take(o.side, o.req.price):
                    self._take(o, o.req.price, rest=True)
                else:
                    self._touch(o)
            else:
                self._take(o, None)

    # ---- taking liquidity ----------------------------------------------------------------------
    def _take(self, o: SimOrder, limit: Decimal | None, rest: bool = False) -> None:
        """Fill as taker now; what is left rests (``rest``) or expires."""
        cap = self._reduce_cap(o)
        if cap == 0:
            self._finish(o, OrderStatus.EXPIRED, "reduce-only order has no position to reduce")
            return
        m = self.markets[(o.req.market, o.req.symbol)]
        saved = (list(m.bids), list(m.asks))
        fills = m.take(o.side, cap, limit, self.config.market_slippage, self._tick(o))
        if limit is None and not fills:
            self._finish(o, OrderStatus.EXPIRED, "no market price to fill against")
            return
        problem = self._unaffordable(o, fills)
        if problem:
            m.bids, m.asks = saved
            self._refuse(o, problem[0], problem[1])
            return
        for price, qty in fills:
            self._fill(o, price, qty, maker=False)
        if o.final:
            return
        if not rest or self._reduce_cap(o) == 0:  # IOC/market remainder, or reduce-only with nothing left
            self._finish(o, OrderStatus.EXPIRED)

    def _unaffordable(self, o: SimOrder, fills: list[Level]) -> tuple[str, int] | None:
        inst = self.instruments[(o.req.market, o.req.symbol)]
        held = o.reservation.per_unit * o.reservation.qty if o.reservation is not None else ZERO
        notional = sum((p * q for p, q in fills), ZERO)
        fee = money(notional * inst.taker_fee)
        if o.req.market is Market.SPOT:
            if o.side is Side.SELL or o.reservation is not None:
                return None
            free = self.wallets.free(Market.SPOT, inst.quote)
            return None if notional + fee <= free else (INSUFFICIENT_SPOT, -2010)
        pos = self.book.qty(o.req.symbol)
        closing = abs(pos) if pos and (pos > 0) != (o.side is Side.BUY) else ZERO
        need, left = fee, closing
        lev = self.config.leverage_for(o.req.symbol)
        for price, qty in fills:
            opening = max(ZERO, qty - left)
            left = max(ZERO, left - qty)
            need += money(price * opening / lev)
        free = self.wallets.free(Market.FUT, inst.quote) + held
        return None if need <= free else ("Margin is insufficient.", -2019)

    # ---- fills ---------------------------------------------------------------------------------
    def _fill(self, o: SimOrder, price: Decimal, qty: Decimal, maker: bool) -> None:
        inst = self.instruments[(o.req.market, o.req.symbol)]
        notional = price * qty
        fee = money(notional * (inst.maker_fee if maker else inst.taker_fee))
        if o.reservation is not None:
            self.wallets.consume(o.reservation, qty)
        if o.req.market is Market.SPOT:
            sign = o.side.sign
            self.wallets.add_free(Market.SPOT, inst.base, sign * qty)
            self.wallets.add_free(Market.SPOT, inst.quote, -sign * notional - fee)
        else:
            lev = self.config.leverage_for(o.req.symbol)
            pos = self.book.get(o.req.symbol, lev)
            self.book.apply_fill(pos, o.side.sign * qty, price, inst.tick_size)
            self.wallets.add_free(Market.FUT, inst.quote, -fee)
        fill = Fill(
            trade_id=self._next_trade_id((o.req.market, o.req.symbol)),
            client_order_id=o.req.client_order_id,
            symbol=o.req.symbol,
            market=o.req.market,
            side=o.side,
            price=price,
            qty=qty,
            fee=fee,
            fee_asset=inst.quote,
            is_maker=maker,
            ts=self.t,
        )
        o.fills.append(fill)
        o.filled_qty += qty
        o.notional += notional
        self._out.append(fill)
        self._end_sibling(o, OrderStatus.EXPIRED)
        if o.remaining == 0:
            self._finish(o, OrderStatus.FILLED)
        else:
            o.status = OrderStatus.PARTIALLY_FILLED
            self._touch(o)

    def _match_trade(self, key: Key, price: Decimal, qty: Decimal) -> None:
        """Resting limits fill at their own price when a trade prints at or through it, sharing
        the traded quantity in submission order."""
        buy, sell, _, _ = self._bounds_of(key)
        if buy < price < sell:
            return
        available = qty
        for o in self._instrument_orders(key):
            if available <= 0:
                return
            limit = o.req.price
            if not o.resting_limit or o.final or limit is None:
                continue
            if (o.side is Side.BUY and price > limit) or (o.side is Side.SELL and price < limit):
                continue
            cap = self._reduce_cap(o)
            if cap == 0:
                self._finish(o, OrderStatus.EXPIRED, "reduce-only order has no position to reduce")
                continue
            take = min(cap, available)
            available -= take
            self._fill(o, limit, take, maker=True)
            if not o.final and self._reduce_cap(o) == 0:
                self._finish(o, OrderStatus.EXPIRED, "reduce-only order has no position left to reduce")

    # ---- liquidation ---------------------------------------------------------------------------
    def _check_liquidation(self, symbol: Symbol) -> None:
        pos = self.book.positions.get(symbol)
        mark = self.markets[(Market.FUT, symbol)].mark
        if pos is None or mark is None or not self.book.crossed_liquidation(pos, mark):
            return
        side = Side.SELL if pos.qty > 0 else Side.BUY
        price, qty = self.book.liquidate(pos)
        venue_id, seq = self._next_order_id((Market.FUT, symbol))
        cid = ClientOrderId(f"autoclose-{self.t}-{symbol}-{seq}")
        req = OrderRequest(symbol, Market.FUT, side, OrderType.MARKET, qty, cid, reduce_only=True)
        o = SimOrder(req, venue_id, seq, self.t, qty, self.t, live=True, final=True, reason="liquidation")
        self.orders[(Market.FUT, cid)] = o
        quote = self.instruments[(Market.FUT, symbol)].quote
        fill = Fill(
            self._next_trade_id((Market.FUT, symbol)),
            cid,
            symbol,
            Market.FUT,
            side,
            price,
            qty,
            ZERO,
            quote,
            False,
            self.t,
        )
        o.fills.append(fill)
        o.filled_qty, o.notional, o.status = qty, price * qty, OrderStatus.FILLED
        self._out.append(fill)
        self._touch(o)
