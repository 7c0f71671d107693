"""The trading path after market data: features → decisions → order intents → order results → positions.

All five topics are keyed by symbol with the shared partition count (DESIGN §1.4), so one worker
sees a symbol's features, decisions, orders and positions in order. Money is exact (``Decimal`` as a
JSON string, see :mod:`topics.base`); ids are the typed ids of ``chimera.model``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, RootModel, model_validator

from chimera.model import Market, OrderStatus, OrderType, Side, TimeInForce
from topics.base import (
    ClientOrderIdField,
    Contract,
    EpochMs,
    FiniteFloat,
    IntentIdField,
    Kind,
    Money,
    Name,
    NonNegMoney,
    PositiveMoney,
    Ratio,
    SignalIdField,
    SymbolField,
)
from topics.registry import DAY_MS, TopicSpec, register

# the data-quality flags of agents.features.dqc.Dqc (a test keeps the two equal)
DqcFlag = Literal["STALE", "GAP", "CROSSED", "OUTLIER", "LATE", "WARMUP"]
Regime = Literal["FROZEN", "NORMAL", "EXTREME"]


class FeatureEvent(Contract):
    """S2 → S3 on ``feat.events``: one closed bar's features (``agents.features.core.FeatureEvent``)."""

    signal_id: SignalIdField
    t0: EpochMs = Field(description="bar close, epoch ms")
    symbol: SymbolField
    # a window still warming up gives null; counts (n_ticks, gap_bars) stay ints
    features: dict[str, FiniteFloat | int | None]
    dqc: list[DqcFlag] = Field(default_factory=list)
    config_rev: Annotated[str, Field(min_length=1)]


class Decision(Contract):
    """S3's decision snapshot on ``sig.events`` (and the ``signals.decision`` row)."""

    signal_id: SignalIdField
    symbol: SymbolField
    market: Market = Market.FUT
    ts: EpochMs
    action: Literal["open", "skip"]
    side: Side | None = Field(None, description="direction of the entry; required when action is open")
    size_mult: FiniteFloat = Field(ge=0)
    sl_mult: FiniteFloat = Field(gt=0)
    tp_mult: FiniteFloat = Field(gt=0)
    max_adds_override: int | None = Field(None, ge=0)
    reason: Annotated[str, Field(min_length=1)] = Field(
        description="rule or gate that decided, e.g. RISK_BUDGET"
    )
    model_p: Ratio | None = Field(None, description="L2 model probability; null when it timed out")
    regime: Regime | None = None
    config_rev: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _open_has_side(self) -> Decision:
        if self.action == "open" and self.side is None:
            raise ValueError("side: an open decision needs a side")
        return self


# how S4 executes a placement (DESIGN §6, S4)
ExecStyle = Literal["market", "maker_taker", "twap", "oco", "guard", "sl_tp"]
IntentSource = Literal["strategy", "reconciler", "positions", "gateway"]


class OrderIntent(Contract):
    """A request to S4 to place an order (the spec's ``POST /orders``) on ``ord.intents``.

    ``intent_id`` is the idempotency key: derived from ``signal_id`` + leg (``intent_id_for``), so a
    redelivered intent places nothing twice. SL/TP levels are absolute prices (S6 turns the
    decision's multiples into levels with the ATR).
    """

    op: Literal["place"] = "place"
    intent_id: IntentIdField
    signal_id: SignalIdField | None = None
    pos_id: Name | None = Field(None, description="the position an SL/TP, add-on or exit belongs to")
    symbol: SymbolField
    market: Market
    side: Side
    qty: PositiveMoney
    exec: ExecStyle
    reduce_only: bool = False
    time_in_force: TimeInForce | None = None
    # price limits: the maker price, and the worst price a taking leg may pay (BUY: at most, SELL: at least)
    limit_price: PositiveMoney | None = None
    worst_price: PositiveMoney | None = None
    max_slippage_bps: FiniteFloat | None = Field(None, ge=0)
    # protection: stop-loss / take-profit levels, and the limit of a spot stop-loss-limit leg
    sl_price: PositiveMoney | None = None
    tp_price: PositiveMoney | None = None
    sl_limit_price: PositiveMoney | None = None
    # execution parameters of maker_taker and twap
    maker_wait_ms: int | None = Field(None, ge=0)
    twap_slices: int | None = Field(None, ge=2)
    twap_interval_ms: int | None = Field(None, ge=1)
    ts: EpochMs
    source: IntentSource
    reason: Kind | None = Field(None, description="why, e.g. ENTRY, SL_TRAIL, TP_1, ADD_ON, DERISK")

    @model_validator(mode="after")
    def _style_has_its_parameters(self) -> OrderIntent:
        problems: list[str] = []
        if self.exec == "twap" and (self.twap_slices is None or self.twap_interval_ms is None):
            problems.append("twap_slices: a twap intent needs twap_slices and twap_interval_ms")
        if self.exec in ("oco", "guard") and self.market is not Market.SPOT:
            problems.append(f"market: {self.exec} is a spot execution style")
        if self.exec == "oco" and (self.sl_price is None or self.tp_price is None):
            problems.append("sl_price: an oco intent needs sl_price and tp_price")
        if self.exec == "guard" and self.sl_price is None:
            problems.append("sl_price: a guard intent needs the guard stop's sl_price")
        if self.exec == "sl_tp":
            if self.sl_price is None and self.tp_price is None:
                problems.append("sl_price: an sl_tp intent needs sl_price or tp_price")
            if not self.reduce_only:
                problems.append("reduce_only: an sl_tp intent only reduces a position")
        if self.reduce_only and self.market is not Market.FUT:
            problems.append("reduce_only: only futures orders can be reduce-only")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class CancelIntent(Contract):
    """A request to S4 to cancel (the spec's ``POST /cancel``) on ``ord.intents``.

    Cancels every open order of ``target_intent_id``, or one child order when ``client_order_id``
    is given. ``flatten`` asks S4 to close what was filled with a market order afterwards.
    """

    op: Literal["cancel"] = "cancel"
    intent_id: IntentIdField = Field(description="this cancel's own idempotency key")
    target_intent_id: IntentIdField
    client_order_id: ClientOrderIdField | None = None
    symbol: SymbolField
    market: Market
    flatten: bool = False
    ts: EpochMs
    source: IntentSource
    reason: Kind | None = None


class IntentMessage(RootModel[Annotated[OrderIntent | CancelIntent, Discriminator("op")]]):
    """What ``ord.intents`` carries: a placement or a cancel, told apart by ``op``."""


class BookTop(Contract):
    """The top levels of the book when an order was sent (TCA: the ``fills.top3_*`` columns)."""

    bid_px: list[PositiveMoney] = Field(max_length=10)
    bid_qty: list[NonNegMoney] = Field(max_length=10)
    ask_px: list[PositiveMoney] = Field(max_length=10)
    ask_qty: list[NonNegMoney] = Field(max_length=10)

    @model_validator(mode="after")
    def _sides_pair_up(self) -> BookTop:
        if len(self.bid_px) != len(self.bid_qty) or len(self.ask_px) != len(self.ask_qty):
            raise ValueError("bid_qty: each price level needs its quantity")
        return self


class Fill(Contract):
    """One venue trade of an order (a ``fills`` row)."""

    trade_id: Annotated[str, Field(min_length=1)]
    price: PositiveMoney
    qty: PositiveMoney
    fee: Money
    fee_asset: Annotated[str, Field(min_length=1)]
    is_maker: bool
    slippage_bps: FiniteFloat | None = Field(None, description="vs mid_at_send, signed against us")
    ts: EpochMs


class OrderResult(Contract):
    """S4's report of one state change of one venue order (spec ``ord:{results}``), on ``ord.results``.

    ``version`` counts the order's state changes from 0, so the ``orders`` sink keeps the newest and
    a redelivered result collapses. ``fills`` are the trades new since the previous version.
    """

    intent_id: IntentIdField
    client_order_id: ClientOrderIdField
    order_id: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="the venue's id; null when refused before the venue assigned one"
    )
    version: int = Field(ge=0)
    signal_id: SignalIdField | None = None
    pos_id: Name | None = None
    symbol: SymbolField
    market: Market
    status: OrderStatus
    side: Side
    type: OrderType
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False
    qty: PositiveMoney | None = Field(None, description="null for a close-position stop")
    price: PositiveMoney | None = None
    stop_price: PositiveMoney | None = None
    filled_qty: NonNegMoney
    avg_price: PositiveMoney | None = None
    fee: Money = Field(description="total fee so far, in fee_asset")
    fee_asset: str | None = None
    fills: list[Fill] = Field(default_factory=list)
    mid_at_send: PositiveMoney | None = None
    book_at_send: BookTop | None = None
    reason: str | None = Field(None, description="the venue's or router's words for a reject or cancel")
    ts: EpochMs

    @model_validator(mode="after")
    def _fills_add_up(self) -> OrderResult:
        if self.qty is not None and self.filled_qty > self.qty:
            raise ValueError(f"filled_qty: {self.filled_qty} is more than qty {self.qty}")
        if self.filled_qty > 0 and self.avg_price is None:
            raise ValueError("avg_price: a (partly) filled order has an average price")
        if self.status is OrderStatus.FILLED and self.filled_qty == 0:
            raise ValueError("filled_qty: a FILLED order has filled something")
        return self


PositionKind = Literal["OPEN", "ADD", "PARTIAL_EXIT", "EXIT", "STAGNATED"]


class PositionEvent(Contract):
    """S6's position lifecycle on ``pos.events`` (S7 and S8 listen for EXIT / STAGNATED).

    Each event is the position after the change (a ``positions_snapshots`` row) plus the change:
    ``fill_qty`` at ``fill_price`` for OPEN / ADD / PARTIAL_EXIT / EXIT. ``seq`` counts the
    position's events from 0. ``pos_id`` is also the autopsy's ``trade_id``.
    """

    kind: PositionKind
    pos_id: Name
    seq: int = Field(ge=0)
    signal_id: SignalIdField | None = None
    symbol: SymbolField
    market: Market
    side: Side = Field(description="BUY = long, SELL = short")
    qty: NonNegMoney = Field(description="open quantity after the event; 0 after EXIT")
    entry_price: PositiveMoney
    mark_price: PositiveMoney | None = None
    fill_qty: PositiveMoney | None = None
    fill_price: PositiveMoney | None = None
    margin: NonNegMoney | None = None
    unrealized_pnl: Money | None = None
    realized_pnl: Money = Field(description="net of fees and funding, USDT")
    fees_paid: Money
    funding_paid: Money
    sl_price: PositiveMoney | None = None
    tp_level: int = Field(0, ge=0)
    adds: int = Field(0, ge=0)
    opened_ts: EpochMs
    ts: EpochMs
    reason: Kind | None = Field(None, description="e.g. SL, TP_2, TIME_STOP, RECONCILE")

    @model_validator(mode="after")
    def _kind_fits_qty(self) -> PositionEvent:
        if self.kind == "EXIT" and self.qty != 0:
            raise ValueError("qty: an EXIT leaves no open quantity")
        if self.kind in ("OPEN", "ADD", "PARTIAL_EXIT", "STAGNATED") and self.qty == 0:
            raise ValueError(f"qty: a {self.kind} position has an open quantity")
        if self.kind != "STAGNATED" and (self.fill_qty is None or self.fill_price is None):
            raise ValueError(f"fill_qty: a {self.kind} event carries the fill that made it")
        if self.ts < self.opened_ts:
            raise ValueError("ts: an event cannot precede the position's opening")
        return self


# decisions and orders are the record of what we did: kept a month on the broker so a sink or the
# reconciler that was down can catch up; features are recomputable from market data
register(
    TopicSpec("feat.events", "symbol", FeatureEvent, flow="S2 → S3"),
    TopicSpec("sig.events", "symbol", Decision, retention_ms=30 * DAY_MS, flow="S3 → sinks, S11"),
    TopicSpec("ord.intents", "symbol", IntentMessage, retention_ms=30 * DAY_MS, flow="S3, S5, S6, HTTP → S4"),
    TopicSpec("ord.results", "symbol", OrderResult, retention_ms=30 * DAY_MS, flow="S4 → S6, S5, sinks"),
    TopicSpec("pos.events", "symbol", PositionEvent, retention_ms=30 * DAY_MS, flow="S6 → S7, S8, sinks"),
)
