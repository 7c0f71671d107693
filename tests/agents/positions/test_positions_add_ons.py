"""Add-ons: within the cap (config, or the decision's max_adds_override), exact averaging, and the
stop and target resized to cover the larger position (make-before-break again).

Long 0.050 at 46400.2, leverage 10; the k-th add (k from 0) at ROE 3% x (k + 1) from the average
entry, half the entry quantity each (0.025).
"""

from __future__ import annotations

from positions_kit import (
    BTC,
    ENTRY,
    SIGNAL,
    T0,
    D,
    Driver,
    cancels_of,
    entry_fill,
    events_of,
    intents_of,
    make_ctx,
)

from agents.positions.events import EntryPlanned, Tick
from chimera.model import OrderStatus, Side

T1 = T0 + 60_000
ADDS = {"add_on": {"max_adds": 1, "trigger": "0.03", "size_fraction": "0.5"}}


def _open(d: Driver, max_adds_override: int | None) -> None:
    if max_adds_override is not None:
        d(EntryPlanned(BTC, ENTRY, SIGNAL, Side.BUY, D(1), D(1), max_adds_override, T1 - 10))
    sl, tp = intents_of(d(entry_fill("46400.2", "0.050", T1)))
    d.ack(sl, T1 + 1)
    d.ack(tp, T1 + 2)


def _adds(d: Driver) -> list[str]:
    return [i.intent_id for i in intents_of(d.effects) if i.reason == "ADD_ON"]


def test_two_adds_under_the_decisions_override_average_the_entry_exactly() -> None:
    d = Driver(make_ctx(**ADDS))
    _open(d, max_adds_override=2)
    # ROE (46539.5 - 46400.2) / 46400.2 x 10 = 0.03002
    [add1] = [i for i in intents_of(d(Tick(BTC, T1 + 60_000, D("46539.5")))) if i.reason == "ADD_ON"]
    assert (add1.side, add1.exec, add1.reduce_only, add1.qty) == (Side.BUY, "market", False, D("0.025"))
    fx = d.fill(add1, "46539.5", T1 + 60_001, "a1")
    [ev] = events_of(fx)
    # (0.050 x 46400.2 + 0.025 x 46539.5) / 0.075 = 3483.4975 / 0.075 = 46446.6333...
    assert (ev.kind, ev.qty, ev.entry_price, ev.adds, ev.fill_price) == (
        "ADD", D("0.075"), D("46446.63333333"), 1, D("46539.5"),
    )  # fmt: skip
    assert d.pos.cost == D("3483.4975")
    # stop and target now cover 0.075: the stop at its level, the target from the new average
    sl2, tp2 = intents_of(fx)
    assert (sl2.reason, sl2.qty, sl2.sl_price) == ("SL_RESIZE", D("0.075"), D("46028.9"))
    assert (tp2.reason, tp2.qty, tp2.tp_price) == ("TP_RESIZE", D("0.075"), D("48304.5"))  # x 1.04, up
    assert len(cancels_of(d.ack(sl2, T1 + 60_002))) == 1
    assert len(cancels_of(d.ack(tp2, T1 + 60_003))) == 1
    # the second add needs ROE 6% from the new average: 46446.6333 x 1.006 = 46725.313..., at 46725.4
    assert [i.reason for i in intents_of(d(Tick(BTC, T1 + 120_000, D("46725.3"))))] == ["SL_TRAIL"]
    d.ack(intents_of(d.effects)[-1], T1 + 120_001)
    [add2] = [i for i in intents_of(d(Tick(BTC, T1 + 180_000, D("46725.4")))) if i.reason == "ADD_ON"]
    [ev] = events_of(d.fill(add2, "46725.4", T1 + 180_001, "a2"))
    assert (ev.qty, ev.entry_price, ev.adds) == (D("0.100"), D("46516.325"), 2)
    # two is the cap: far above, a take-profit rung goes out but no third add
    later = intents_of(d(Tick(BTC, T1 + 240_000, D("47600.0"))))
    assert "ADD_ON" not in [i.reason for i in later]
    assert len(_adds(d)) == 2


def test_without_a_plan_the_config_cap_holds() -> None:
    d = Driver(make_ctx(**ADDS))
    _open(d, max_adds_override=None)
    [add1] = [i for i in intents_of(d(Tick(BTC, T1 + 60_000, D("46539.5")))) if i.reason == "ADD_ON"]
    d.fill(add1, "46539.5", T1 + 60_001, "a1")
    d(Tick(BTC, T1 + 120_000, D("46725.4")))
    assert _adds(d) == [add1.intent_id] and d.pos.max_adds == 1


def test_override_zero_means_no_add_ons() -> None:
    d = Driver(make_ctx(**ADDS))
    _open(d, max_adds_override=0)
    d(Tick(BTC, T1 + 60_000, D("46600.0")))
    assert _adds(d) == []


def test_a_refused_add_is_not_retried_tick_after_tick() -> None:
    d = Driver(make_ctx(**ADDS))
    _open(d, max_adds_override=2)
    [add1] = [i for i in intents_of(d(Tick(BTC, T1 + 60_000, D("46539.5")))) if i.reason == "ADD_ON"]
    d.ended(add1.intent_id, Side.BUY, OrderStatus.REJECTED, T1 + 60_001, version=0)
    assert d.pos.adds_blocked and d.pos.adds == 0
    d(Tick(BTC, T1 + 120_000, D("46600.0")))
    assert _adds(d) == [add1.intent_id]


def test_no_add_near_liquidation_or_after_a_take_profit() -> None:
    d = Driver(
        make_ctx(
            add_on={"max_adds": 1, "trigger": "0.03", "size_fraction": "0.5", "min_liq_distance": "0.099"}
        )
    )
    _open(d, None)
    d(Tick(BTC, T1 + 60_000, D("46539.5")))  # liquidation ~41992: 9.8% away, under 9.9%
    assert _adds(d) == []
    d2 = Driver(make_ctx(**ADDS))
    _open(d2, None)
    [tp1] = [i for i in intents_of(d2(Tick(BTC, T1 + 60_000, D("46771.5")))) if i.reason == "TP_1"]
    assert _adds(d2) == []  # the rung's order is in flight
    d2.fill(tp1, "46771.5", T1 + 60_001, "t1")
    d2(Tick(BTC, T1 + 120_000, D("46800.0")))
    assert _adds(d2) == [] and d2.pos.tp_level == 1
