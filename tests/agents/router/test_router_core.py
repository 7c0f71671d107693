"""S4's pure core, without venue or Redis: what each style asks for, given events in event time."""

from __future__ import annotations

from decimal import Decimal

import pytest
from router_kit import BTC, FUT, SPOT, coid, intent, sim_config

from agents.connectors.port import OrderState
from agents.router.config import RouterParams, parse_params
from agents.router.core import RouterState, step
from agents.router.messages import (
    CancelOrder,
    Count,
    Ctx,
    Effect,
    Emit,
    Event,
    Guard,
    Intake,
    IntentIn,
    OrderUpdate,
    Place,
    PlaceOco,
    Schedule,
    SendFailed,
    Tick,
    Timer,
)
from agents.router.styles.twap import plan
from agents.router.tracks import slippage_bps, version_of
from chimera.model import OrderStatus, OrderType, Side, TimeInForce

D = Decimal
INSTRUMENTS = {(i.market, i.symbol): i for i in sim_config().instrument_list()}
CTX = Ctx(INSTRUMENTS)
T0 = 1_700_000_000_000


class Core:
    """Drives the pure core by hand and keeps every effect."""

    def __init__(self, ctx: Ctx = CTX) -> None:
        self.state = RouterState()
        self.ctx = ctx
        self.effects: list[Effect] = []

    def __call__(self, ev: Event, ctx: Ctx | None = None) -> list[Effect]:
        self.state, out = step(self.state, ev, ctx or self.ctx)
        self.effects += out
        return out

    def book(self, market: object, ts: int, bid: str, ask: str, size: str = "5") -> list[Effect]:
        return self(Tick(market, BTC, ts, bids=((D(bid), D(size)),), asks=((D(ask), D(size)),)))  # type: ignore[arg-type]


def venue_state(
    place: Place, status: OrderStatus, ts: int, filled: str = "0", price: str | None = None
) -> OrderState:
    from agents.connectors.port import Fill

    fills = ()
    if D(filled) > 0:
        assert price is not None
        fills = (
            Fill(
                "T1",
                place.req.client_order_id,
                BTC,
                place.req.market,
                place.req.side,
                D(price),
                D(filled),
                D("0.01"),
                "USDT",
                False,
                ts,
            ),
        )
    return OrderState(
        place.req.client_order_id,
        "V1",
        BTC,
        place.req.market,
        place.req.side,
        place.req.type,
        status,
        place.req.qty,
        D(filled),
        D(price) if price else None,
        place.req.price,
        place.req.stop_price,
        place.req.reduce_only,
        ts,
        fills,
    )


def only(effects: list[Effect], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in effects if isinstance(e, kind)]


def test_market_intent_places_one_market_order_with_the_intents_ids() -> None:
    core = Core()
    core.book(FUT, T0, "40000.0", "40000.5")
    out = core(IntentIn(intent(intent_id="int-a", ts=T0)))
    assert isinstance(out[0], Intake) and out[0].refused is None
    (place,) = only(out, Place)
    assert place.req.type is OrderType.MARKET
    assert place.req.client_order_id == coid("int-a", 0)
    track = core.state.tracks[place.req.client_order_id]
    assert track.mid_at_send == D("40000.25")
    assert track.book_at_send is not None and track.book_at_send.ask_px == [D("40000.5")]
    out = core(OrderUpdate(venue_state(place, OrderStatus.FILLED, T0, "0.01", "40000.5")))
    (emit,) = only(out, Emit)
    assert (emit.result.status, emit.result.version, emit.result.avg_price) == (
        OrderStatus.FILLED,
        1,
        D("40000.5"),
    )
    # signed against us: a buy at 40000.5 vs mid 40000.25 paid 0.0625 bps
    assert emit.result.fills[0].slippage_bps == pytest.approx(0.25 / 40000.25 * 1e4)
    assert core.state.execs == {} and core.state.tracks == {}  # finished: forgotten


def test_worst_price_turns_a_market_order_into_limit_ioc_inside_the_budget() -> None:
    core = Core()
    core.book(FUT, T0, "40000.0", "40000.5")
    (place,) = only(core(IntentIn(intent(ts=T0, max_slippage_bps=10.0))), Place)
    # mid 40000.25 * 1.001 = 40040.25025 -> down to the tick: 40040.2
    assert (place.req.type, place.req.time_in_force, place.req.price) == (
        OrderType.LIMIT,
        TimeInForce.IOC,
        D("40040.2"),
    )


def test_maker_taker_reprices_when_the_book_moves_away_then_takes_at_the_deadline() -> None:
    core = Core()
    core.book(FUT, T0, "40000.0", "40000.5")
    out = core(IntentIn(intent(intent_id="int-mt", exec="maker_taker", maker_wait_ms=3_000, ts=T0)))
    (m0,) = only(out, Place)
    assert (m0.req.type, m0.req.time_in_force, m0.req.price) == (
        OrderType.LIMIT,
        TimeInForce.GTX,
        D("40000.0"),
    )
    core(OrderUpdate(venue_state(m0, OrderStatus.NEW, T0)))
    assert only(core.book(FUT, T0 + 100, "40000.0", "40000.5"), CancelOrder) == []  # not moved
    cancel = only(core.book(FUT, T0 + 200, "40000.3", "40000.8"), CancelOrder)
    assert [c.client_order_id for c in cancel] == [m0.req.client_order_id]
    (m1,) = only(core(OrderUpdate(venue_state(m0, OrderStatus.CANCELED, T0 + 200))), Place)
    assert (m1.req.client_order_id, m1.req.price) == (coid("int-mt", "m1"), D("40000.3"))
    core(OrderUpdate(venue_state(m1, OrderStatus.NEW, T0 + 200)))
    assert only(core(Timer(T0 + 2_999)), CancelOrder) == []
    out = core(Timer(T0 + 3_000))
    assert [type(e) for e in out] == [CancelOrder, Count]
    assert out[1] == Count("maker_timeout_count")
    out = core(OrderUpdate(venue_state(m1, OrderStatus.CANCELED, T0 + 3_000)))
    (taker,) = only(out, Place)
    assert (taker.req.type, taker.req.qty, taker.req.client_order_id) == (
        OrderType.MARKET,
        D("0.01"),
        coid("int-mt", "t"),
    )


def test_a_futures_post_only_expired_as_taking_is_re_made_at_the_new_bid() -> None:
    core = Core()
    core.book(FUT, T0, "40000.0", "40000.5")
    (m0,) = only(
        core(IntentIn(intent(intent_id="int-gtx", exec="maker_taker", maker_wait_ms=5_000, ts=T0))), Place
    )
    core.book(FUT, T0 + 1, "39999.0", "40000.0")  # the ask came down to our bid: GTX expires
    (m1,) = only(core(OrderUpdate(venue_state(m0, OrderStatus.EXPIRED, T0 + 1))), Place)
    assert (m1.req.client_order_id, m1.req.price, m1.req.time_in_force) == (
        coid("int-gtx", "m1"),
        D("39999.0"),
        TimeInForce.GTX,
    )


def test_maker_reprices_are_bounded() -> None:
    core = Core(Ctx(INSTRUMENTS, params=RouterParams(max_reprices=1)))
    core.book(FUT, T0, "40000.0", "40000.5")
    (m0,) = only(core(IntentIn(intent(exec="maker_taker", maker_wait_ms=10_000, ts=T0))), Place)
    core(OrderUpdate(venue_state(m0, OrderStatus.NEW, T0)))
    core.book(FUT, T0 + 1, "40001.0", "40001.5")
    (m1,) = only(core(OrderUpdate(venue_state(m0, OrderStatus.CANCELED, T0 + 1))), Place)
    core(OrderUpdate(venue_state(m1, OrderStatus.NEW, T0 + 1)))
    assert only(core.book(FUT, T0 + 2, "40002.0", "40002.5"), CancelOrder) == []  # out of re-prices


def test_health_lengthens_the_maker_wait_when_the_intent_names_none() -> None:
    params = RouterParams(maker_wait_ms=1_000)
    for health, wait in (("GREEN", 1_000), ("YELLOW", 1_500), ("ORANGE", 2_000), ("PURPLE", 2_000)):
        core = Core(Ctx(INSTRUMENTS, health=health, params=params))
        core.book(FUT, T0, "40000.0", "40000.5")
        core(IntentIn(intent(intent_id=f"int-{health}", exec="maker_taker", ts=T0)))
        assert core.state.execs[f"int-{health}"].deadline == T0 + wait


def test_kill_switch_refuses_entries_but_not_reduce_only_exits() -> None:
    core = Core(Ctx(INSTRUMENTS, kill_switch=True))
    core.book(FUT, T0, "40000.0", "40000.5")
    out = core(IntentIn(intent(intent_id="int-entry", ts=T0)))
    assert out[0] == Intake("int-entry", "KILL_SWITCH")
    (emit,) = only(out, Emit)
    assert (emit.result.status, emit.result.reason, emit.result.order_id) == (
        OrderStatus.REJECTED,
        "KILL_SWITCH",
        None,
    )
    assert only(out, Place) == []
    out = core(IntentIn(intent(intent_id="int-exit", side="SELL", reduce_only=True, ts=T0)))
    assert out[0] == Intake("int-exit", None) and len(only(out, Place)) == 1
    spot_sell = intent(intent_id="int-spot-sell", market="SPOT", side="SELL", qty="0.1", ts=T0)
    assert len(only(core(IntentIn(spot_sell)), Place)) == 1


def test_sl_tp_legs_are_reduce_only_conditional_orders() -> None:
    core = Core()
    out = core(
        IntentIn(
            intent(exec="sl_tp", side="SELL", reduce_only=True, sl_price="39000", tp_price="42000", ts=T0)
        )
    )
    reqs = [p.req for p in only(out, Place)]
    assert [(r.type, r.stop_price, r.reduce_only, r.side) for r in reqs] == [
        (OrderType.STOP_MARKET, D("39000"), True, Side.SELL),
        (OrderType.TAKE_PROFIT_MARKET, D("42000"), True, Side.SELL),
    ]


def test_guard_cancels_the_entry_first_and_protects_only_after_the_venue_confirms() -> None:
    core = Core()
    core.book(SPOT, T0, "40000.00", "40000.50")
    out = core(
        IntentIn(intent(intent_id="int-g", market="SPOT", exec="guard", qty="0.01", sl_price="39900", ts=T0))
    )
    (entry,) = only(out, Place)
    assert (entry.req.type, entry.req.price) == (OrderType.LIMIT_MAKER, D("40000.00"))
    assert only(out, Guard)[0].fields["armed"] == "1"
    core(OrderUpdate(venue_state(entry, OrderStatus.PARTIALLY_FILLED, T0 + 5, "0.004", "40000.00")))
    assert only(core(Tick(SPOT, BTC, T0 + 10, price=D("39900.01"))), CancelOrder) == []
    out = core(Tick(SPOT, BTC, T0 + 20, price=D("39899.99")))
    assert [c.client_order_id for c in only(out, CancelOrder)] == [entry.req.client_order_id]
    assert only(out, Place) == []  # not before the cancel is confirmed
    out = core(OrderUpdate(venue_state(entry, OrderStatus.CANCELED, T0 + 20, "0.004", "40000.00")))
    (protect,) = only(out, Place)
    assert (protect.req.side, protect.req.type, protect.req.qty) == (Side.SELL, OrderType.MARKET, D("0.004"))


def test_spot_oco_entry_buys_then_protects_the_fill_with_a_sell_list() -> None:
    core = Core()
    core.book(SPOT, T0, "40000.00", "40000.50")
    it = intent(
        intent_id="int-o", market="SPOT", exec="oco", qty="0.01", sl_price="39000", tp_price="41000", ts=T0
    )
    (entry,) = only(core(IntentIn(it)), Place)
    assert entry.req.type is OrderType.MARKET
    (oco,) = only(core(OrderUpdate(venue_state(entry, OrderStatus.FILLED, T0, "0.01", "40000.50"))), PlaceOco)
    # the stop-limit sits 50 bps below the trigger unless the intent names it: 39000 * 0.995
    assert (oco.req.side, oco.req.qty, oco.req.price, oco.req.stop_price, oco.req.stop_limit_price) == (
        Side.SELL,
        D("0.01"),
        D("41000"),
        D("39000"),
        D("38805.00"),
    )


def test_twap_plan_slices_on_the_lot_with_the_remainder_last() -> None:
    it = intent(exec="twap", qty="0.01", twap_slices=3, twap_interval_ms=60_000, ts=T0)
    slices = plan(it, INSTRUMENTS[(FUT, BTC)], 100)
    assert not isinstance(slices, str)
    assert [(s.k, s.qty, s.due_ts) for s in slices] == [
        (0, D("0.003"), T0),
        (1, D("0.003"), T0 + 60_000),
        (2, D("0.004"), T0 + 120_000),
    ]
    core = Core()
    assert len(only(core(IntentIn(it)), Schedule)) == 3
    tiny = intent(intent_id="int-tiny", exec="twap", qty="0.002", twap_slices=3, twap_interval_ms=1, ts=T0)
    assert core(IntentIn(tiny))[0] == Intake("int-tiny", "TWAP_SLICE_BELOW_LOT")


def test_venue_refusal_is_a_rejected_result_with_the_venues_words() -> None:
    core = Core()
    core.book(FUT, T0, "40000.0", "40000.5")
    (place,) = only(core(IntentIn(intent(ts=T0))), Place)
    (emit,) = only(core(SendFailed(place.req.client_order_id, "-2019: Margin is insufficient.", T0)), Emit)
    assert (emit.result.status, emit.result.reason) == (
        OrderStatus.REJECTED,
        "-2019: Margin is insufficient.",
    )


def test_version_counts_fills_and_an_unfilled_end() -> None:
    assert version_of(OrderStatus.NEW, 0, D(0)) == 0
    assert version_of(OrderStatus.PARTIALLY_FILLED, 1, D("0.1")) == 1
    assert version_of(OrderStatus.FILLED, 2, D("0.2")) == 2
    assert version_of(OrderStatus.CANCELED, 1, D("0.1")) == 2
    assert version_of(OrderStatus.REJECTED, 0, D(0)) == 1
    assert version_of(OrderStatus.FILLED, 0, D("0.2")) == 1  # a venue answer that lists no fills


def test_slippage_is_signed_against_us() -> None:
    assert slippage_bps(Side.BUY, D("100.01"), D("100")) == pytest.approx(1.0)
    assert slippage_bps(Side.SELL, D("100.01"), D("100")) == pytest.approx(-1.0)
    assert slippage_bps(Side.SELL, D("99.99"), D("100")) == pytest.approx(1.0)
    assert slippage_bps(Side.BUY, D("100"), None) is None


def test_latency_quantiles_are_nearest_rank() -> None:
    from agents.router.metrics import RouterMetrics

    m = RouterMetrics()
    for ms in range(1, 101):
        m.ack_ms.add(float(ms))
    assert (m.ack_ms.quantile(0.5), m.router_p95, m.ack_ms.quantile(0.99)) == (50.0, 95.0, 99.0)
    m.count("maker_timeout_count")
    assert m.snapshot()["maker_timeout_count"] == 1 and m.maker_timeout_count == 1


def test_params_keep_the_last_good_ones_when_the_record_is_unreadable() -> None:
    good = RouterParams(maker_wait_ms=500)
    assert parse_params(None, good) == (RouterParams(), None)
    assert parse_params('{"maker_wait_ms": 750}', good)[0].maker_wait_ms == 750
    params, error = parse_params('{"maker_wait_ms": -1}', good)
    assert params is good and error is not None and "maker_wait_ms" in error
    params, error = parse_params("not json", good)
    assert params is good and error is not None
    assert parse_params('{"health_wait_mult": {"YELLOW": 0.5}}', good)[1] is not None  # never shorter
