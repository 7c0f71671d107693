"""The trailing stop ladder, exact to the tick, and the make-before-break replacement.

Long 0.050 BTCUSDT at 46400.2, leverage 10, ROE ladder: at ROE 5% / 10% / 15% / 20% the stop goes
to ROE 1% / 5% / 10% / 15%, i.e. to 46400.2 x (1 + lock / 10), rounded down to the 0.1 tick.
The Driver checks after every step that once a stop was LIVE one stays LIVE until the close.
"""

from __future__ import annotations

from positions_kit import (
    BTC,
    ENTRY,
    T0,
    D,
    Driver,
    cancels_of,
    entry_fill,
    events_of,
    intents_of,
    make_ctx,
)

from agents.positions import protect
from agents.positions.events import AtrSeen, ReleaseGate, Tick
from agents.positions.intents import pos_id_for
from chimera.model import OrderStatus, Side, intent_id_for

T1 = T0 + 60_000
# no add-ons and only the final target, so the stop is the only thing a tick moves
TRAIL_ONLY = {"add_on": {"max_adds": 0}, "tp": [{"trigger": "0.40", "fraction": "1"}]}


def opened(side: Side = Side.BUY) -> tuple[Driver, str, str]:
    d = Driver(make_ctx(**TRAIL_ONLY))
    sl, tp = intents_of(d(entry_fill("46400.2", "0.050", T1, side)))
    d.ack(sl, T1 + 1)
    d.ack(tp, T1 + 2)
    return d, sl.intent_id, tp.intent_id


def test_entry_places_a_reduce_only_stop_and_the_final_target_with_derived_ids() -> None:
    d = Driver(make_ctx(add_on={"max_adds": 0}))
    fx = d(entry_fill("46400.2", "0.050", T1))
    [ev] = events_of(fx)
    assert (ev.kind, ev.qty, ev.entry_price, ev.margin, ev.fees_paid, ev.realized_pnl) == (
        "OPEN", D("0.050"), D("46400.2"), D("232.001"), D("0.928004"), D("-0.928004"),
    )  # fmt: skip
    sl, tp = intents_of(fx)
    pos_id = pos_id_for(ENTRY)
    assert ev.pos_id == sl.pos_id == tp.pos_id == pos_id
    # initial stop 8% ROE below: 46400.2 x 0.992 = 46028.9984 -> 46028.9; target 40%: 48256.208 -> 48256.3
    assert (sl.side, sl.exec, sl.reduce_only, sl.qty, sl.sl_price, sl.reason) == (
        Side.SELL, "sl_tp", True, D("0.050"), D("46028.9"), "SL",
    )  # fmt: skip
    assert (tp.side, tp.reduce_only, tp.qty, tp.tp_price, tp.reason) == (
        Side.SELL, True, D("0.050"), D("48256.3"), "TP_3",
    )  # fmt: skip
    assert sl.intent_id == intent_id_for(pos_id, "sl-0-0")
    assert tp.intent_id == intent_id_for(pos_id, "tp-3-1")
    assert protect.protection(d.pos) == "PLACING"
    d.ack(sl, T1 + 1)
    assert protect.protection(d.pos) == "LIVE" and d.pos.sl_price == D("46028.9")


def test_stop_climbs_the_ladder_new_stop_first_then_the_old_one_is_cancelled() -> None:
    d, sl0, _ = opened()
    # ROE (46632.3 - 46400.2) / 46400.2 x 10 = 0.05002: step 1, lock 1% -> 46446.6002 -> 46446.6
    [new] = intents_of(d(Tick(BTC, T1 + 60_000, D("46632.3"))))
    assert (new.sl_price, new.qty, new.reason, new.reduce_only) == (
        D("46446.6"),
        D("0.050"),
        "SL_TRAIL",
        True,
    )
    assert cancels_of(d.effects) == []  # nothing is cancelled before the new stop rests
    assert [p.status for p in d.pos.of_role("SL")] == ["LIVE", "PENDING"]
    # a higher tick while the new stop is on its way sends nothing more
    assert intents_of(d(Tick(BTC, T1 + 120_000, D("47100.0")))) == []
    [cancel] = cancels_of(d.ack(new, T1 + 120_001))
    assert (cancel.target_intent_id, cancel.reason) == (sl0, "SL_REPLACED")
    assert [p.status for p in d.pos.of_role("SL")] == ["CANCELING", "LIVE"]
    assert (d.pos.sl_price, d.pos.sl_step) == (D("46446.6"), 1)
    d.ended(sl0, Side.SELL, OrderStatus.CANCELED, T1 + 120_002)
    assert [p.intent_id for p in d.pos.of_role("SL")] == [new.intent_id]
    # ROE at 47100.0 is 0.1508: step 3 at once, lock 10% -> 46864.202 -> 46864.2
    [s3] = intents_of(d(Tick(BTC, T1 + 180_000, D("47100.0"))))
    assert (s3.sl_price, d.pos.of_role("SL")[-1].step) == (D("46864.2"), 3)
    d.ack(s3, T1 + 180_001)
    # a fall does not loosen the stop
    assert intents_of(d(Tick(BTC, T1 + 240_000, D("46950.0")))) == []
    # ROE 0.2155 at 47400.0: step 4, lock 15% -> 47096.203 -> 47096.2
    [s4] = intents_of(d(Tick(BTC, T1 + 300_000, D("47400.0"))))
    assert s4.sl_price == D("47096.2")
    d.ack(s4, T1 + 300_001)
    assert d.pos.sl_price == D("47096.2") and d.pos.sl_step == 4
    # the last stop fires; the fill gaps to 47090.0
    fx = d.fill(s4, "47090.0", T1 + 360_000, "x1")
    [ev] = events_of(fx)
    # 0.05 x (47090.0 - 46400.2) = 34.49; fees 0.928004 + 0.9418
    assert (ev.kind, ev.reason, ev.qty, ev.realized_pnl, ev.sl_price) == (
        "EXIT", "SL_TRAIL", D("0.000"), D("32.620196"), D("47096.2"),
    )  # fmt: skip
    assert [e for e in fx if isinstance(e, ReleaseGate)] == [ReleaseGate(d.pos.pos_id, BTC, ENTRY)]


def test_short_ladder_rounds_up_and_locks_below_the_entry() -> None:
    d = Driver(make_ctx(**TRAIL_ONLY))
    sl, tp = intents_of(d(entry_fill("46400.2", "0.050", T1, Side.SELL)))
    # 46400.2 x 1.008 = 46771.4016 -> up 46771.5; target x 0.96 = 44544.192 -> down 44544.1
    assert (sl.side, sl.sl_price, tp.tp_price) == (Side.BUY, D("46771.5"), D("44544.1"))
    d.ack(sl, T1 + 1)
    d.ack(tp, T1 + 2)
    [new] = intents_of(d(Tick(BTC, T1 + 60_000, D("46168.1"))))  # ROE 0.05002
    assert new.sl_price == D("46353.8")  # 46400.2 x 0.999 = 46353.7998 -> up
    d.ack(new, T1 + 60_001)
    assert d.pos.sl_price == D("46353.8")


def test_refused_replacement_keeps_the_old_stop_and_skips_that_step() -> None:
    d, sl0, _ = opened()
    [s1] = intents_of(d(Tick(BTC, T1 + 60_000, D("46632.3"))))
    d.ended(s1.intent_id, Side.SELL, OrderStatus.REJECTED, T1 + 60_001, version=0)
    pos = d.pos
    assert [p.intent_id for p in pos.of_role("SL") if p.status == "LIVE"] == [sl0]
    assert (pos.sl_price, pos.sl_failed_step) == (D("46028.9"), 1)
    assert intents_of(d(Tick(BTC, T1 + 120_000, D("46700.0")))) == []  # step 1 again: not retried
    [s2] = intents_of(d(Tick(BTC, T1 + 180_000, D("46980.0"))))  # ROE 0.125: step 2
    assert (s2.sl_price, s2.intent_id != s1.intent_id) == (D("46632.2"), True)


def test_redelivered_acknowledgement_sends_no_second_cancel() -> None:
    d, _, _ = opened()
    [s1] = intents_of(d(Tick(BTC, T1 + 60_000, D("46632.3"))))
    assert len(cancels_of(d.ack(s1, T1 + 60_001))) == 1
    assert d.ack(s1, T1 + 60_001) == []
    assert d(Tick(BTC, T1 + 60_000, D("46632.3"))) == []  # a redelivered tick: nothing either


def test_a_stop_lost_at_the_venue_is_placed_again_at_its_level() -> None:
    d, sl0, _ = opened()
    d.expect_loss = True  # the venue dropped it: the one way a position is left without a stop
    fx = d.ended(sl0, Side.SELL, OrderStatus.EXPIRED, T1 + 10)
    [again] = intents_of(fx)
    assert (again.sl_price, again.qty, again.reason) == (D("46028.9"), D("0.050"), "SL_REPLACE")
    assert protect.protection(d.pos) == "PLACING"


def test_a_stop_that_cannot_be_placed_closes_the_position_at_market() -> None:
    d = Driver(make_ctx(add_on={"max_adds": 0}, max_protect_retries=1))
    d(Tick(BTC, T1 - 1, D("46400.0")))
    sl, _ = intents_of(d(entry_fill("46400.2", "0.050", T1)))
    [retry] = intents_of(d.ended(sl.intent_id, Side.SELL, OrderStatus.REJECTED, T1 + 1, version=0))
    assert retry.reason == "SL_REPLACE"
    [out] = intents_of(d.ended(retry.intent_id, Side.SELL, OrderStatus.REJECTED, T1 + 2, version=0))
    assert (out.exec, out.reduce_only, out.qty, out.reason) == ("market", True, D("0.050"), "SL_REFUSED")
    # the price already below the stop: no retry, out at once
    d2 = Driver(make_ctx(add_on={"max_adds": 0}))
    sl, _ = intents_of(d2(entry_fill("46400.2", "0.050", T1)))
    d2(Tick(BTC, T1 + 5, D("46000.0")))
    [out] = intents_of(d2.ended(sl.intent_id, Side.SELL, OrderStatus.REJECTED, T1 + 6, version=0))
    assert out.reason == "SL_BREACHED"


ATR_LADDER = {
    "unit": "atr",
    "initial_sl_atr": "1.5",
    "trail": [{"trigger": "1", "lock": "0.2"}, {"trigger": "2", "lock": "1"}],
    "tp": [{"trigger": "3", "fraction": "1"}],
    "add_on": {"max_adds": 0},
}


def test_atr_ladder_uses_the_atr_frozen_at_the_open() -> None:
    d = Driver(make_ctx(**ATR_LADDER))
    d(AtrSeen(BTC, T1 - 60_000, D("250.5")))
    sl, tp = intents_of(d(entry_fill("46400.2", "0.050", T1)))
    # 46400.2 - 1.5 x 250.5 = 46024.45 -> 46024.4; target 46400.2 + 3 x 250.5 = 47151.7
    assert (sl.sl_price, tp.tp_price, d.pos.atr) == (D("46024.4"), D("47151.7"), D("250.5"))
    d.ack(sl, T1 + 1)
    d.ack(tp, T1 + 2)
    [s1] = intents_of(d(Tick(BTC, T1 + 60_000, D("46650.7"))))  # 1 ATR up: lock 0.2 ATR
    assert s1.sl_price == D("46450.3")
    d.ack(s1, T1 + 60_001)
    d(AtrSeen(BTC, T1 + 60_000, D("500")))  # a new ATR does not move this position's levels
    [s2] = intents_of(d(Tick(BTC, T1 + 120_000, D("46901.2"))))  # 2 ATR of 250.5 up: lock 1 ATR
    assert s2.sl_price == D("46650.7")


def test_atr_ladder_without_an_atr_falls_back_to_an_roe_stop_and_no_target() -> None:
    d = Driver(make_ctx(**ATR_LADDER))
    [sl] = intents_of(d(entry_fill("46400.2", "0.050", T1)))
    assert sl.sl_price == D("46028.9")  # initial_sl_roe 8%
    d.ack(sl, T1 + 1)
    assert intents_of(d(Tick(BTC, T1 + 60_000, D("47500.0")))) == []  # no ATR: the ladder waits


def test_a_tick_through_its_own_resting_exit_waits_for_that_fill() -> None:
    """The venue saw the tick's prices before S6 (in-process) or saw them while S6 reads the same
    batch (Kafka): a tick that reached the resting target or stop decides nothing for the position;
    the fill does. Otherwise the stop trails to a level the venue then refuses (position closed)."""
    d, sl0, tp = opened()  # stop 46028.9, target 48256.3
    before = d.pos
    # ROE 0.4095 at 48300.0 would trail to step 4 (47096.2): through the target, nothing
    assert d(Tick(BTC, T1 + 60_000, D("48300.0"))) == []
    # back to 47400.0 (ROE 0.2155, step 4) but its high touched the target (inclusive): nothing
    assert d(Tick(BTC, T1 + 61_000, D("47400.0"), high=D("48256.3"))) == []
    # a low at the stop, a last price at step 1 (46632.3): nothing either
    assert d(Tick(BTC, T1 + 62_000, D("46632.3"), low=D("46028.9"))) == []
    assert d.pos == before  # not even the last price: the position waits as it was
    [target] = [i for i in intents_of(d.effects) if i.intent_id == tp]
    fx = d.fill(target, "48256.3", T1 + 60_000, "x1")
    [ev] = events_of(fx)
    assert (ev.kind, ev.reason, ev.qty) == ("EXIT", "TP_1", D("0.000"))
    assert [c.target_intent_id for c in cancels_of(fx)] == [sl0]
    assert [i.reason for i in intents_of(d.effects)] == ["SL", "TP_1"]  # no trailing stop ever sent


def test_a_tick_that_stays_inside_the_resting_exits_is_managed() -> None:
    d, _, _ = opened()
    # one tick above the stop and one below the target: the ladder moves (step 1, then step 4)
    [s1] = intents_of(d(Tick(BTC, T1 + 60_000, D("46632.3"), low=D("46029.0"))))
    assert s1.sl_price == D("46446.6")
    d.ack(s1, T1 + 60_001)
    [s4] = intents_of(d(Tick(BTC, T1 + 120_000, D("47400.0"), high=D("48256.2"))))
    assert s4.sl_price == D("47096.2")
