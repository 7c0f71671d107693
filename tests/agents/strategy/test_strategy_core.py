"""S3's pure core: every skip reason in gate order, an open sized exactly to the lot, the health
matrix, SL/TP references, and replay/redelivery determinism. No Redis, no broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import pytest
from strategy_kit import (
    MINUTE,
    T0,
    above,
    below,
    ctx_for,
    event,
    grant_all,
    make_config,
    qty_for,
    run,
)

from agents.strategy import core
from agents.strategy.context import GateResult, ModelOutcome
from agents.strategy.records import GateRequest, ModelRequest, PublishDecision, SendIntent
from chimera.model import Market, Side, intent_id_for
from topics.codec import decode, encode
from topics.trading import Decision, OrderIntent

CFG = make_config()


def _skip_reason(**ctx_kw: object) -> str:
    ev = ctx_kw.pop("ev", None) or event()
    state = ctx_kw.pop("state", None) or below()
    cfg = ctx_kw.pop("cfg", None) or CFG
    _, d, t, effects = run(state, ev, ctx_for(cfg, **ctx_kw))  # type: ignore[arg-type]
    assert d.action == "skip"
    assert effects == [PublishDecision(d, t)]
    return d.reason


def test_an_ema_cross_up_opens_a_long_sized_exactly_to_the_lot() -> None:
    state, d, t, effects = run(below(), event(close=46_216.93), ctx_for(CFG))

    assert d.action == "open" and d.reason == "EMA_CROSS_UP" and d.side is Side.BUY
    assert [type(e) for e in effects] == [SendIntent, PublishDecision]
    # what leaves the core is the wire contracts themselves
    assert type(d) is Decision and type(effects[0].intent) is OrderIntent  # type: ignore[union-attr]
    intent = effects[0].intent  # type: ignore[union-attr]
    # 100 USDT margin x5 = 500 USDT at 46216.93 -> 0.010818... -> 0.010 on a 0.001 lot
    assert intent.qty == qty_for("100", 5, "46216.93", "0.001") == Decimal("0.010")
    assert intent.qty % Decimal("0.001") == 0
    assert t.price_ref == Decimal("46216.93")
    assert t.margin_usdt == Decimal("92.433860")  # 0.010 x 46216.93 / 5
    assert intent.intent_id == intent_id_for(event()["signal_id"], "entry") == t.intent_id
    assert intent.market is Market.FUT and intent.reduce_only is False and t.leverage == 5
    assert intent.exec == "market" and intent.ts == T0 == d.ts
    assert (intent.source, intent.reason, intent.signal_id) == ("strategy", "ENTRY", d.signal_id)
    # SL 1.5 ATR below, TP 3 ATR above the reference close, on the 0.01 tick
    assert intent.sl_price == Decimal("46141.93") and intent.tp_price == Decimal("46366.93")
    assert (t.sl_atr_mult, t.tp_atr_mult) == (1.5, 3.0)
    assert d.size_mult == 1.0 and d.model_p == 0.5 and t.model_source == "model"
    assert d.config_rev == CFG.rev and d.regime == "NORMAL"
    # both survive their topics' codecs unchanged
    assert decode("sig.events", encode(d, "sig.events")) == d
    assert decode("ord.intents", encode(intent, "ord.intents")) == intent
    assert state == {"hist": [[T0 - MINUTE, 1, -1], [T0, -1, 1]]}


def test_a_cross_down_opens_a_short_on_futures_but_never_on_spot() -> None:
    _, d, _, effects = run(above(), event(fast=99.0, slow=100.0), ctx_for(CFG))
    assert (d.action, d.reason, d.side) == ("open", "EMA_CROSS_DOWN", Side.SELL)
    intent = effects[0].intent  # type: ignore[union-attr]
    assert intent.sl_price == Decimal("46291.93") and intent.tp_price == Decimal("46066.93")

    _, d, _, _ = run(above(), event("BTCSPOT", fast=99.0, slow=100.0), ctx_for(CFG))
    assert (d.action, d.reason) == ("skip", "NO_SIGNAL")


def test_a_spot_long_uses_leverage_one_and_the_spot_exec_style() -> None:
    _, _, t, effects = run(below(), event("BTCSPOT", close=46_216.93), ctx_for(CFG))
    intent = effects[0].intent  # type: ignore[union-attr]
    assert intent.qty == qty_for("100", 1, "46216.93", "0.00001") == Decimal("0.00216")
    assert t.leverage == 1 and intent.market is Market.SPOT and intent.exec == "oco"
    assert intent.sl_price is not None and intent.tp_price is not None  # OCO's two legs
    assert t.margin_usdt == Decimal("99.828569")  # 0.00216 x 46216.93, up to the micro


def test_an_oco_entry_without_an_atr_has_no_stops_and_is_refused_before_the_gate() -> None:
    _, d, t, effects = run(below(), event("BTCSPOT", atr=None), ctx_for(CFG))
    assert (d.action, d.reason) == ("skip", "NO_STOPS") and "oco" in t.detail
    assert t.intent_id is None and effects == [PublishDecision(d, t)]
    # a futures market entry may go without reference stops (S6 places them from the fill)
    _, d, _, effects = run(below(), event(atr=None), ctx_for(CFG))
    assert d.action == "open" and effects[0].intent.sl_price is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("ctx_kw", "reason"),
    [
        ({"kill_switch": True}, "KILL_SWITCH"),
        ({"health": "RED"}, "HEALTH"),
        ({"health": "PURPLE"}, "HEALTH"),  # unreadable: fail closed
        ({"regime": "FROZEN"}, "REGIME"),
        ({"regime": None}, "REGIME"),
        ({"regime": "CALM"}, "REGIME"),  # not a regime S2 writes: the decision records none
        ({"regime_expires_at": T0 - 1}, "REGIME"),
        ({"ev": event(dqc=["WARMUP"])}, "DATA_QUALITY"),
        ({"ev": event(dqc=["OUTLIER", "GAP"])}, "DATA_QUALITY"),
        ({"ev": event("DOGEUSDT")}, "UNKNOWN_SYMBOL"),
        ({"state": above()}, "NO_SIGNAL"),  # already above: no cross
        ({"state": {"hist": []}}, "NO_SIGNAL"),  # first bar seen: nothing to cross from
        ({"ev": event(fast=None)}, "NO_SIGNAL"),
        ({"cfg": make_config(windows=[{"start_hour": 13, "end_hour": 20}])}, "TRADING_WINDOW"),
    ],
)
def test_each_gate_gives_its_skip_reason(ctx_kw: dict[str, object], reason: str) -> None:
    assert _skip_reason(**ctx_kw) == reason


def test_a_skip_before_sizing_carries_neutral_numbers_the_contract_requires() -> None:
    _, d, _, _ = run(below(), event(), ctx_for(CFG, kill_switch=True, regime="CALM"))
    assert (d.reason, d.size_mult, d.sl_mult, d.tp_mult, d.model_p, d.side) == (
        "KILL_SWITCH", 0.0, 1.0, 1.0, None, None,
    )  # fmt: skip
    assert d.regime is None and d.market is Market.FUT
    _, d, _, _ = run(below(), event("BTCSPOT"), ctx_for(CFG, health="RED"))
    assert (d.reason, d.market, d.regime) == ("HEALTH", Market.SPOT, "NORMAL")


def test_sizes_below_the_venue_minimums_are_refused_with_the_numbers() -> None:
    # 0.5 USDT x5 at 46216.93 is 0.000054 BTC: under one 0.001 lot
    _, d, t, _ = run(below(), event(), ctx_for(make_config(margin_per_position_usdt="0.5")))
    assert (d.action, d.reason) == ("skip", "MIN_QTY") and "min_qty 0.001" in t.detail
    # 100 USDT x1 is 0.002 BTC = 92.43 USDT, under a 100 USDT floor
    spec = {
        "market": "FUT",
        "tick_size": "0.01",
        "lot_size": "0.001",
        "min_qty": "0.001",
        "min_notional": "100",
    }
    _, d, t, _ = run(below(), event(), ctx_for(make_config(leverage=1, instruments={"BTCUSDT": spec})))
    assert (d.action, d.reason) == ("skip", "MIN_NOTIONAL") and "92.43386 < min_notional 100" in t.detail
    assert d.size_mult == 1.0 and t.intent_id is None  # sized, but the gate was never asked


def test_the_gates_are_checked_in_the_documented_order() -> None:
    everything_wrong = {
        "kill_switch": True,
        "health": "RED",
        "regime": "FROZEN",
        "ev": event(t0=T0 + 3 * 3_600_000, dqc=["STALE"], fast=None),
        "cfg": make_config(windows=[{"start_hour": 0, "end_hour": 1}]),
    }
    order = ["KILL_SWITCH", "TRADING_WINDOW", "HEALTH", "REGIME", "DATA_QUALITY", "NO_SIGNAL"]
    for reason in order:
        assert _skip_reason(**everything_wrong) == reason
        # clear the condition that decided, the next one decides
        if reason == "KILL_SWITCH":
            everything_wrong["kill_switch"] = False
        elif reason == "TRADING_WINDOW":
            everything_wrong["cfg"] = CFG
        elif reason == "HEALTH":
            everything_wrong["health"] = "GREEN"
        elif reason == "REGIME":
            everything_wrong["regime"] = "NORMAL"
        elif reason == "DATA_QUALITY":
            everything_wrong["ev"] = event(t0=T0 + 3 * 3_600_000, fast=None)


def test_trading_windows_are_utc_hours_and_may_wrap_midnight() -> None:
    cfg = make_config(windows=[{"start_hour": 22, "end_hour": 2}])
    midnight = T0 + 12 * 3_600_000  # 2022-01-02 00:00
    for t0, ok in ((midnight, True), (midnight - 2 * 3_600_000, True), (midnight + 2 * 3_600_000, False)):
        _, d, _, _ = run(below(t0), event(t0=t0), ctx_for(cfg))
        assert (d.action == "open") is ok, (t0, d.reason)


def test_a_rule_skip_names_the_rule_and_keeps_the_side() -> None:
    cfg = make_config(
        rules=[
            {
                "name": "wide_spread",
                "priority": 5,
                "when": "features.spread_bp > 3",
                "then": {"skip_entry": True},
            }
        ]
    )
    _, d, t, _ = run(below(), event(spread_bp=4.0), ctx_for(cfg))
    assert (d.action, d.reason, d.side, t.rules_fired) == (
        "skip",
        "RULE:wide_spread",
        Side.BUY,
        ("wide_spread",),
    )
    assert d.model_p is None  # L2 was not reached


def test_the_gate_refusal_is_risk_budget_and_a_spent_reservation_is_not_reopened() -> None:
    def refuse(why: str) -> Callable[[GateRequest], GateResult]:
        return lambda req: GateResult(req.intent_id, granted=False, margin_usdt=req.margin_usdt, refusal=why)

    spent = {"RELEASED": "INTENT_SPENT", "EXPIRED": "INTENT_SPENT", "CONFLICT": "INTENT_SPENT"}
    for why, reason in ({"BUDGET": "RISK_BUDGET", "CONCURRENCY": "RISK_BUDGET"} | spent).items():
        _, d, t, effects = run(below(), event(), ctx_for(CFG), gate=refuse(why))
        assert (d.action, d.reason, t.detail) == ("skip", reason, why)
        assert t.intent_id is not None and not any(isinstance(e, SendIntent) for e in effects)


def test_the_core_asks_for_the_model_then_the_gate_and_refuses_to_decide_without_them() -> None:
    ctx = ctx_for(CFG)
    need = core.pending_input(below(), event(), ctx)
    assert isinstance(need, ModelRequest) and need.side is Side.BUY
    with pytest.raises(core.MissingInput):
        core.decide(below(), event(), ctx)
    ctx = replace(ctx, model=ModelOutcome(0.5, "model"))
    need = core.pending_input(below(), event(), ctx)
    assert isinstance(need, GateRequest)
    assert need.margin_usdt == Decimal("92.433860") and need.budget_limit_usdt == Decimal(1000)
    assert need.max_concurrency == 1 and need.intent_id == intent_id_for(event()["signal_id"], "entry")
    with pytest.raises(core.MissingInput):
        core.decide(below(), event(), ctx)
    # a skip needs neither
    assert core.pending_input(above(), event(), ctx_for(CFG)) is None


@pytest.mark.parametrize(
    ("health", "size", "qty", "wait", "ratio"),
    [
        ("GREEN", 1.0, "0.010", 2000, 0.0),
        ("YELLOW", 0.75, "0.008", 3000, 0.1),
        ("ORANGE", 0.5, "0.005", 4000, 0.25),
    ],
)
def test_the_health_matrix_scales_size_down_and_maker_wait_and_market_share_up(
    health: str, size: float, qty: str, wait: int, ratio: float
) -> None:
    _, d, t, effects = run(below(), event(), ctx_for(CFG, health=health))
    intent = effects[0].intent  # type: ignore[union-attr]
    assert d.size_mult == size and intent.qty == Decimal(qty)
    # the contract has no market share field: it rides in the trace (see the report)
    assert intent.maker_wait_ms == wait and t.market_ratio == ratio


def test_missing_health_uses_the_configured_default() -> None:
    _, d, _, _ = run(below(), event(), ctx_for(CFG, health=None))
    assert d.action == "open" and d.size_mult == 0.75  # YELLOW


def test_model_p_rules_and_health_multiply_into_the_size_and_the_cap_bounds_it() -> None:
    cfg = make_config(
        rules=[
            {
                "name": "calm",
                "priority": 2,
                "when": "features.rv < 1",
                "then": {"size_mult": 2.0, "sl_mult": 2.0},
            },
            {"name": "thin", "priority": 1, "when": "features.depth < 20", "then": {"size_mult": 0.9}},
        ]
    )
    # p 0.7 -> 1.5x; rules 2 x 0.9 = 1.8; GREEN 1 -> 2.7, capped at 2.0
    _, d, t, _ = run(below(), event(), ctx_for(cfg), model=lambda r: ModelOutcome(0.7, "model"))
    assert d.size_mult == 2.0 and d.sl_mult == 2.0 and t.rules_fired == ("calm", "thin")
    assert t.sl_atr_mult == 3.0
    # timeout fallback p 0.5 -> 1.0x; YELLOW 0.75 -> 1.8 x 0.75 = 1.35
    _, d, t, _ = run(
        below(), event(), ctx_for(cfg, health="YELLOW"), model=lambda r: ModelOutcome(0.5, "timeout")
    )
    assert d.size_mult == 1.35 and t.model_source == "timeout" and t.entry_p == 0.5
    assert d.model_p is None  # the contract: null when the model did not answer


def test_the_same_events_give_the_same_decisions_and_ids_and_a_redelivery_changes_nothing() -> None:
    closes = [100.0, 99.0, 98.0, 99.5, 101.0, 102.0, 100.5, 99.0, 98.0, 100.0, 103.0]
    evs = []
    ema_f = ema_s = closes[0]
    for i, c in enumerate(closes):
        ema_f += 2 / 3 * (c - ema_f)
        ema_s += 2 / 5 * (c - ema_s)
        evs.append(event(t0=T0 + i * MINUTE, fast=ema_f, slow=ema_s, close=c * 400))

    def replay() -> tuple[list[dict[str, object]], list[str], dict[str, object]]:
        state: dict[str, object] = {}
        decisions, ids = [], []
        for ev in evs:
            state, d, _, effects = run(state, ev, ctx_for(CFG))
            state = json.loads(json.dumps(state))  # as a Faust table stores it
            decisions.append(d.model_dump(mode="json"))
            ids += [e.intent.intent_id for e in effects if isinstance(e, SendIntent)]
        return decisions, ids, state

    first, second = replay(), replay()
    assert first == second
    assert len(first[1]) >= 2 and len(set(first[1])) == len(first[1])
    # at-least-once: every event delivered again after the state moved on decides the same
    decisions, _, final = first
    for i, ev in enumerate(evs):
        state_again, d, _, _ = run(final, ev, ctx_for(CFG))
        assert d.model_dump(mode="json") == decisions[i] and state_again == final


def test_an_event_older_than_the_redelivery_window_is_stale() -> None:
    cfg = make_config(redelivery_window=2)
    state: dict[str, object] = {}
    for i in range(5):
        state, _, _, _ = run(state, event(t0=T0 + i * MINUTE), ctx_for(cfg))
    assert len(state["hist"]) == 2  # type: ignore[arg-type]
    _, d, _, _ = run(state, event(t0=T0 + 2 * MINUTE), ctx_for(cfg))
    assert d.reason == "STALE_EVENT"
    _, d, _, _ = run(state, event(t0=T0 + 3 * MINUTE), ctx_for(cfg))
    assert d.reason != "STALE_EVENT"


def test_the_core_never_mutates_its_inputs() -> None:
    state, ev = below(), event()
    snap_state, snap_ev = json.dumps(state), json.dumps(ev)
    run(state, ev, ctx_for(CFG), gate=grant_all)
    assert json.dumps(state) == snap_state and json.dumps(ev) == snap_ev
