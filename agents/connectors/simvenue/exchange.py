"""SimExchange: the pure, synchronous paper exchange (spot + USDT-M perpetuals) in event time.

Market events move time (``now`` is the last event's ts; it never goes back). An order submitted
at ``now`` becomes live on the first event of its instrument at or after ``now + latency_ms``
(at once when the latency is 0). Every change (order snapshot, fill, funding payment) goes to an
outbox in the order it happened; each market-event call returns and empties it, as does
:meth:`drain` (so what a submission did is returned by the next call). Same inputs → same ids,
fills and balances.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from agents.connectors.port import (
    Balance,
    FundingRate,
    InsufficientBalance,
    OcoRequest,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderState,
    Position,
    TransferResult,
    VenueError,
)
from agents.connectors.simvenue.engine import Engine, Key, SimEvent, ceil_money, exact
from agents.connectors.simvenue.funding import FundingPayment
from agents.connectors.simvenue.orders import SimOrder, duplicate_error, oco_legs, validate
from agents.connectors.simvenue.wallets import Reservation, money
from chimera.model import ClientOrderId, Market, OrderStatus, OrderType, Side, Symbol

Levels = Iterable[tuple[Decimal, Decimal]]


class SimExchange(Engine):
    """Build with a :class:`SimVenueConfig`; feed it market events; send it orders."""

    # ---- market events -------------------------------------------------------------------------
    @exact
    def on_trade(
        self, symbol: str, market: Market, ts: int, price: Decimal, qty: Decimal, side: Side | None = None
    ) -> list[SimEvent]:
        """A public trade: moves last/mark, activates due orders, fires stops, fills resting limits.

        ``side`` (the aggressor) is accepted for completeness; fills do not depend on it.
        """
        key = self._key(market, symbol)
        if price <= 0 or qty <= 0:
            raise ValueError(
                f"{market} {symbol} trade at {ts}: price and qty must be positive ({price}, {qty})"
            )
        self._advance(ts)
        self.markets[key].on_trade(price)
        self._activate_due(key)
        self._trigger(key, price)
        self._match_trade(key, price, qty)
        if market is Market.FUT:
            self._check_liquidation(key[1])
        return self._drain()

    @exact
    def on_quote(self, symbol: str, market: Market, ts: int, bids: Levels, asks: Levels) -> list[SimEvent]:
        """A book snapshot (one level each side = best bid/ask), best first or in any order."""
        key = self._key(market, symbol)
        book = (list(bids), list(asks))
        bad = [lv for side in book for lv in side if lv[0] <= 0 or lv[1] <= 0]
        if bad:
            raise ValueError(f"{market} {symbol} book at {ts}: levels must be positive, got {bad[0]}")
        self._advance(ts)
        self.markets[key].set_book(*book)
        self._activate_due(key)
        if market is Market.FUT:
            self._check_liquidation(key[1])
        return self._drain()

    @exact
    def on_mark_price(self, symbol: str, ts: int, mark: Decimal) -> list[SimEvent]:
        key = self._key(Market.FUT, symbol)
        if mark <= 0:
            raise ValueError(f"FUT {symbol} mark at {ts} must be positive, got {mark}")
        self._advance(ts)
        self.markets[key].on_mark(mark)
        self._check_liquidation(key[1])
        return self._drain()

    @exact
    def on_funding_rate(
        self, symbol: str, ts: int, rate: Decimal, funding_time: int, mark: Decimal | None = None
    ) -> list[SimEvent]:
        """The rate for the settlement at ``funding_time`` (and the mark at it, if known).

        A settlement uses the rate published for its own time when one is known (a recorded rate
        may arrive at the settlement instant itself), else the latest rate known before it.
        """
        key = self._key(Market.FUT, symbol)
        known = FundingRate(key[1], rate, funding_time)
        self.funding.publish(known, mark)
        self._advance(ts)
        self.funding.make_latest(known)
        return self._drain()

    @exact
    def advance(self, ts: int) -> list[SimEvent]:
        """Move event time with no market data (settles any funding crossed)."""
        self._advance(ts)
        return self._drain()

    # ---- orders --------------------------------------------------------------------------------
    @exact
    def submit(self, req: OrderRequest) -> OrderState:
        key = self._key(req.market, req.symbol)
        inst = self.instruments[key]
        if (req.market, req.client_order_id) in self.orders:
            raise duplicate_error(req.market, req.client_order_id)
        m = self.markets[key]
        validate(req, inst, m.taker_reference(req.side))
        qty = req.qty
        if req.reduce_only:
            pos = self.book.qty(req.symbol)
            if pos == 0 or (pos > 0) == (req.side is Side.BUY):
                raise OrderRejected("ReduceOnly Order is rejected.", code=-2022)
            assert qty is not None
            qty = min(qty, abs(pos))
        reservation = self._reserve(req, qty, m.taker_reference(req.side))
        venue_id, seq = self._next_order_id((req.market, req.symbol))
        o = SimOrder(
            req, venue_id, seq, self.t + self.config.latency_ms, qty, self.t, reservation=reservation
        )
        self._register(o)
        if self.config.latency_ms == 0:
            self._activate(o)
        return o.state()

    @exact
    def submit_oco(self, req: OcoRequest) -> list[OrderState]:
        """A spot OCO: LIMIT_MAKER leg + STOP_LOSS_LIMIT leg sharing one reservation."""
        key = self._key(Market.SPOT, req.symbol)
        inst = self.instruments[key]
        ids = (req.list_client_order_id, req.limit_client_order_id, req.stop_client_order_id)
        for cid in ids:
            if (Market.SPOT, cid) in self.orders or ids.count(cid) > 1:
                raise duplicate_error(Market.SPOT, cid)
        limit, stop = oco_legs(req, inst, self.markets[key].last)
        if req.side is Side.SELL:
            res = self.wallets.reserve(Market.SPOT, inst.base, Decimal(1), req.qty)
        else:
            worst = max(req.price, req.stop_limit_price)
            fee = max(inst.maker_fee, inst.taker_fee)
            res = self.wallets.reserve(Market.SPOT, inst.quote, ceil_money(worst * (1 + fee)), req.qty)
        res.holders = 2
        legs = []
        for leg, other in ((limit, stop), (stop, limit)):
            venue_id, seq = self._next_order_id((Market.SPOT, req.symbol))
            live_ts = self.t + self.config.latency_ms
            legs.append(SimOrder(leg, venue_id, seq, live_ts, req.qty, self.t, reservation=res))
            legs[-1].sibling = other.client_order_id
        self.orders[(Market.SPOT, req.list_client_order_id)] = legs[0]  # the list id is taken too
        for o in legs:
            self._register(o)
        if self.config.latency_ms == 0:
            for o in legs:
                if not o.final:
                    self._activate(o)
        return [o.state() for o in legs]

    @exact
    def cancel(self, market: Market, symbol: str, client_order_id: ClientOrderId) -> OrderState:
        o = self.orders.get((market, client_order_id))
        if o is None or o.req.symbol != symbol or o.req.client_order_id != client_order_id:
            raise OrderNotFound(f"Unknown order sent. ({market} {symbol} {client_order_id})", code=-2011)
        if o.final:
            raise OrderNotFound(f"Unknown order sent. ({client_order_id} is {o.status})", code=-2011)
        self._finish(o, OrderStatus.CANCELED)
        self._end_sibling(o, OrderStatus.CANCELED)
        return o.state()

    # ---- queries -------------------------------------------------------------------------------
    @exact
    def order(self, market: Market, symbol: str, client_order_id: ClientOrderId) -> OrderState:
        o = self.orders.get((market, client_order_id))
        if o is None or o.req.symbol != symbol or o.req.client_order_id != client_order_id:
            raise OrderNotFound(f"Order does not exist. ({market} {symbol} {client_order_id})", code=-2013)
        return o.state()

    def reason(self, market: Market, client_order_id: ClientOrderId) -> tuple[str, int | None]:
        """Why an order was refused or expired, and the venue code (empty when it was not)."""
        o = self.orders[(market, client_order_id)]
        return o.reason, o.code

    @exact
    def open_orders(self, market: Market, symbol: str | None = None) -> list[OrderState]:
        return [
            o.state() for o in self.open.values() if o.req.market is market and symbol in (None, o.req.symbol)
        ]

    def balances(self, market: Market) -> dict[str, Balance]:
        return self.wallets.balances(market)

    @exact
    def positions(self) -> list[Position]:
        return [
            p.view(self.markets[(Market.FUT, s)].mark)
            for s, p in sorted(self.book.positions.items())
            if p.qty
        ]

    @exact
    def transfer(
        self, asset: str, amount: Decimal, from_wallet: Market, to_wallet: Market, transfer_id: str
    ) -> TransferResult:
        return self.wallets.transfer(asset, amount, from_wallet, to_wallet, transfer_id)

    def funding_payments(self, symbol: str | None = None) -> list[FundingPayment]:
        return [p for p in self.funding.payments if symbol in (None, p.symbol)]

    # ---- internals -----------------------------------------------------------------------------
    def _key(self, market: Market, symbol: str) -> Key:
        key = (market, Symbol(symbol))
        if key not in self.instruments:
            raise VenueError(f"Invalid symbol. ({market} {symbol} is not configured)", code=-1121)
        return key

    def _register(self, o: SimOrder) -> None:
        self.orders[(o.req.market, o.req.client_order_id)] = o
        self.open[(o.req.market, o.req.client_order_id)] = o
        self.open_by_key[(o.req.market, o.req.symbol)][o.req.client_order_id] = o
        self._changed((o.req.market, o.req.symbol))
        self._touch(o)

    def _reserve(self, req: OrderRequest, qty: Decimal | None, ref: Decimal | None) -> Reservation | None:
        """Lock what a resting order may consume; market orders are checked when they run."""
        inst = self.instruments[(req.market, req.symbol)]
        if qty is None or req.reduce_only or req.close_position:
            return None
        if req.market is Market.SPOT:
            if req.side is Side.SELL:
                return self.wallets.reserve(Market.SPOT, inst.base, Decimal(1), qty)
            if req.price is None:
                return None
            fee = max(inst.maker_fee, inst.taker_fee)
            return self.wallets.reserve(Market.SPOT, inst.quote, ceil_money(req.price * (1 + fee)), qty)
        lev = self.config.leverage_for(req.symbol)
        if req.type is OrderType.LIMIT:
            assert req.price is not None
            per_unit = ceil_money(req.price / lev + req.price * inst.taker_fee)
            return self.wallets.reserve(Market.FUT, inst.quote, per_unit, qty)
        if req.type is OrderType.MARKET and ref is not None:
            need, free = money(ref * qty / lev), self.wallets.free(Market.FUT, inst.quote)
            if need > free:
                raise InsufficientBalance(f"Margin is insufficient. (needs {need}, free {free})", code=-2019)
        return None

    def _activate_due(self, key: Key) -> None:
        for o in self._instrument_orders(key):
            if not o.live and not o.final and o.live_ts <= self.t:
                self._activate(o)

    def _advance(self, ts: int) -> None:
        if self.now is not None and ts < self.now:
            raise ValueError(f"event time cannot go backwards: {ts} < {self.now}")
        if self.now is not None:
            step = self.config.funding_interval_ms
            boundary = (self.now // step + 1) * step
            while boundary <= ts:
                self._pending_funding.append((boundary, self.funding.snapshot(self.book, self._fut_mark)))
                boundary += step
        self.now = ts
        self._settle_due_funding(ts)

    def _settle_due_funding(self, ts: int) -> None:
        # a venue stamps the rate of settlement T at T or a few ms after it (freqtrade's files: +7..17 ms),
        # so T is paid with its own rate once that arrives, or with the latest known after the grace
        grace = self.config.funding_rate_grace_ms
        while self._pending_funding:
            funding_time, held = self._pending_funding[0]
            if ts < funding_time + grace and not self.funding.has_own_rates(funding_time, held):
                break
            self._pending_funding.pop(0)
            self._out.extend(self.funding.settle(funding_time, held, self.book))

    def _fut_mark(self, symbol: Symbol) -> Decimal | None:
        return self.markets[(Market.FUT, symbol)].mark

    def drain(self) -> list[SimEvent]:
        """Return and forget what happened since the last call (submissions and cancels included)."""
        return self._drain()

    def _drain(self) -> list[SimEvent]:
        out, self._out = self._out, []
        return out
