"""The partial take-profit ladder: exact quantities on the lot grid, the last rung closes the rest.

Long 0.050 at 46400.2, leverage 10; rungs at ROE 8% (25%), 16% (25%) and 40% (the rest, resting
at the venue as a reduce-only TAKE_PROFIT_MARKET from the open).
"""

from __future__ import annotations

from dataclasses import replace

from positions_kit import (
    BTC,
    ENTRY,
    FUT_BTC,
    SIGNAL,
    T0,
    D,
    Driver,
    cancels_of,
    entry_fill,
    events_of,
    intents_of,
    make_config,
    make_ctx,
)

from agents.positions.context import Ctx
from agents.positions.events import EntryPlanned, Mirror, ReleaseGate, Tick
from chimera.model import Side

T1 = T0 + 60_000
NO_ADDS = {"add_on": {"max_adds": 0}}


def test_rungs_take_exact_lots_then_the_resting_target_closes_what_is_left() -> None:
    d = Driver(make_ctx(**NO_ADDS))
    sl, tp = intents_of(d(entry_fill("46400.2", "0.050", T1)))
    d.ack(sl, T1 + 1)
    d.ack(tp, T1 + 2)
    # ROE 8% at 46400.2 x 1.008 = 46771.4016: the tick at 46771.5 reaches it; 0.25 x 0.050 = 0.0125 -> 0.012
    rung1 = [i for i in intents_of(d(Tick(BTC, T1 + 60_000, D("46771.5")))) if i.reason == "TP_1"]
    [r1] = rung1
    assert (r1.exec, r1.reduce_only, r1.side, r1.qty) == ("market", True, "SELL", D("0.012"))
    [ev] = events_of(d.fill(r1, "46771.5", T1 + 60_001, "t1"))
    # 0.012 x 371.3 = 4.4556; fees 0.928004 + 0.2245032
    assert (ev.kind, ev.qty, ev.tp_level, ev.realized_pnl, ev.reason) == (
        "PARTIAL_EXIT", D("0.038"), 1, D("3.3030928"), "TP_1",
    )  # fmt: skip
    # the second rung is 25% of the quantity open at the first one (0.050), not of what is left
    [r2] = [i for i in intents_of(d(Tick(BTC, T1 + 120_000, D("47142.7")))) if i.reason == "TP_2"]
    assert r2.qty == D("0.012")
    [ev] = events_of(d.fill(r2, "47142.7", T1 + 120_001, "t2"))
    assert (ev.qty, ev.tp_level) == (D("0.026"), 2)
    # the resting target (ordered for 0.050, reduce-only) fills what is left at 48256.3
    fx = d.fill(tp, "48256.3", T1 + 180_000, "t3", qty="0.026")
    [ev] = events_of(fx)
    gross = D("0.012") * D("371.3") + D("0.012") * D("742.5") + D("0.026") * D("1856.1")
    fees = D("0.928004") + D("0.2245032") + D("0.22628496") + D("0.50186552")
    assert (ev.kind, ev.qty, ev.tp_level, ev.reason, ev.fees_paid) == ("EXIT", D("0.000"), 3, "TP_3", fees)
    assert ev.realized_pnl == gross - fees == D("59.74354232")
    # the close: the stops are cancelled (not the target that filled), the gate given back, the mirror cleared
    assert {c.target_intent_id for c in cancels_of(fx)} == {p.intent_id for p in d.pos.of_role("SL")}
    assert tp.intent_id not in {c.target_intent_id for c in cancels_of(fx)}
    assert ReleaseGate(d.pos.pos_id, BTC, ENTRY) in fx
    assert Mirror(pos_id=d.pos.pos_id, clear=True) in fx


def test_a_rung_too_small_for_the_lot_is_left_to_the_next_ones() -> None:
    d = Driver(make_ctx(**NO_ADDS))
    sl, tp = intents_of(d(entry_fill("46400.2", "0.003", T1)))
    d.ack(sl, T1 + 1)
    d.ack(tp, T1 + 2)
    # 0.25 x 0.003 = 0.00075 rounds to 0: no order, the rung counts as passed
    assert [i for i in intents_of(d(Tick(BTC, T1 + 60_000, D("46771.5")))) if i.reason.startswith("TP")] == []
    assert d.pos.tp_level == 1 and d.pos.qty == D("0.003")


def test_a_rung_that_would_leave_dust_takes_everything() -> None:
    inst = replace(FUT_BTC, min_qty=D("0.002"))
    cfg = make_config(
        add_on={"max_adds": 0},
        tp=[{"trigger": "0.08", "fraction": "0.8"}, {"trigger": "0.4", "fraction": "0.2"}],
    )
    d = Driver(Ctx(cfg, inst))
    sl, tp = intents_of(d(entry_fill("46400.2", "0.005", T1)))
    d.ack(sl, T1 + 1)
    d.ack(tp, T1 + 2)
    # 0.8 x 0.005 = 0.004 would leave 0.001, under min_qty 0.002: the rung closes all 0.005
    [r1] = [i for i in intents_of(d(Tick(BTC, T1 + 60_000, D("46771.5")))) if i.reason == "TP_1"]
    assert r1.qty == D("0.005")
    [ev] = events_of(d.fill(r1, "46771.5", T1 + 60_001, "t1"))
    assert (ev.kind, ev.reason) == ("EXIT", "TP_1")


def test_target_multiplier_of_the_decision_scales_every_rung() -> None:
    d = Driver(make_ctx(**NO_ADDS))
    d(EntryPlanned(BTC, ENTRY, SIGNAL, Side.BUY, D("2"), D("0.5"), None, T1 - 10))
    sl, tp = intents_of(d(entry_fill("46400.2", "0.050", T1)))
    # stop at 2 x 8% ROE: 46400.2 x 0.984 = 45657.7968 -> 45657.7; target at 0.5 x 40%: x 1.02 -> 47328.3
    assert (sl.sl_price, tp.tp_price) == (D("45657.7"), D("47328.3"))
    d.ack(sl, T1 + 1)
    d.ack(tp, T1 + 2)
    # the first rung at 0.5 x 8% = 4% ROE: 46400.2 x 1.004 = 46585.8008, reached at 46585.9
    assert [i.reason for i in intents_of(d(Tick(BTC, T1 + 60_000, D("46585.9"))))] == ["TP_1"]
