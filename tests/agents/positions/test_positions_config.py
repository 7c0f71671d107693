"""PositionConfig is frozen and validated; its rev names its content; the inputs from the other
topics (tick from a batch, ATR from features, plan from a decision) are read exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from positions_kit import BTC, LADDER, T0, D, make_config
from pydantic import ValidationError

from agents.positions.config import PositionConfig
from agents.positions.events import AtrSeen, Tick
from agents.positions.inputs import atr_of, plan_of, tick_of
from agents.positions.intents import ENTRY_LEG
from chimera.model import Market, Side, intent_id_for
from topics.market import MarketBatch
from topics.trading import Decision, FeatureEvent


def test_defaults_are_valid_and_numbers_are_exact() -> None:
    cfg = PositionConfig()
    assert cfg.trail == () and cfg.tp == () and cfg.add_on.max_adds == 0
    cfg = make_config(initial_sl_roe=0.1, trail=[{"trigger": 0.05, "lock": 0.01}])
    assert cfg.initial_sl_roe == Decimal("0.1") and cfg.trail[0].lock == Decimal("0.01")  # floats via repr


def test_rev_is_a_hash_of_the_content() -> None:
    assert make_config().rev == make_config().rev
    assert make_config().rev != make_config(initial_sl_roe="0.09").rev
    assert make_config().rev.startswith("pos-")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"trail": [{"trigger": "0.1", "lock": "0.02"}, {"trigger": "0.05", "lock": "0.03"}]},
            "strictly increasing",
        ),
        ({"trail": [{"trigger": "0.05", "lock": "0.05"}]}, "must be below its trigger"),
        (
            {
                "tp": [
                    {"trigger": "0.1", "fraction": "0.6"},
                    {"trigger": "0.2", "fraction": "0.4"},
                    {"trigger": "0.3", "fraction": "1"},
                ]
            },
            "whole position",
        ),
        (
            {"tp": [{"trigger": "0.2", "fraction": "0.5"}, {"trigger": "0.1", "fraction": "0.5"}]},
            "strictly increasing",
        ),
        ({"tp": [{"trigger": "0.2", "fraction": "1.5"}]}, "less than or equal to 1"),
        ({"liq_guard_distance": "0.1"}, "would close every position"),
        ({"leverage": 0}, "greater than or equal to 1"),
        ({"stop_loss": "0.1"}, "Extra inputs are not permitted"),
        ({"initial_sl_roe": "ten"}, "not a number"),
    ],
)
def test_bad_config_is_refused_naming_the_problem(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PositionConfig(**{**LADDER, **change})


def test_config_is_frozen() -> None:
    cfg = make_config()
    with pytest.raises(ValidationError):
        cfg.leverage = 20  # type: ignore[misc]


def test_tick_from_a_perp_batch_takes_the_last_price_and_mark() -> None:
    batch = MarketBatch(
        symbol=BTC, market=Market.FUT, seq=3, first_ts=T0, last_ts=T0 + 40,
        ts=[T0, T0 + 20, T0 + 40], kind=["t", "m", "q"],
        price=[46400.2, float("nan"), float("nan")], qty=[0.01, 0.0, 0.0], side=[1, 0, 0],
        mark=[float("nan"), 46398.7, float("nan")],
    )  # fmt: skip
    tick = tick_of(batch)
    assert tick is not None
    assert (tick.ts, tick.price, tick.mark) == (T0 + 40, D("46400.2"), D("46398.7"))
    assert (tick.low, tick.high, tick.range()) == (None, None, (D("46400.2"), D("46400.2")))
    # several trades: the lowest and highest the venue saw, exact, besides the last
    swings = batch.model_copy(update={"kind": ["t", "t", "t"], "price": [46410.5, 46380.1, 46400.2]})
    swung = tick_of(swings)
    assert swung is not None and swung.range() == (D("46380.1"), D("46410.5"))
    assert swung.price == D("46400.2")
    quotes = batch.model_copy(update={"price": [float("nan")] * 3})
    assert tick_of(quotes) is None
    assert tick_of(batch.model_copy(update={"market": Market.SPOT})) is None


def test_atr_and_plan_are_read_from_the_other_topics() -> None:
    fe = FeatureEvent(
        signal_id="sig-1", t0=T0, symbol=BTC, features={"atr": 251.37, "close": 46400.2}, config_rev="r1"
    )
    atr = atr_of(fe)
    assert atr is not None and atr.atr == D("251.37") and atr.ts == T0
    assert atr_of(fe.model_copy(update={"features": {"atr": None}})) is None
    decision = Decision(
        signal_id="sig-1", symbol=BTC, ts=T0, action="open", side=Side.SELL, size_mult=1.0, sl_mult=1.5,
        tp_mult=0.8, max_adds_override=2, reason="EMA_CROSS_DOWN", config_rev="r1",
    )  # fmt: skip
    plan = plan_of(decision)
    assert plan is not None
    assert (plan.entry_intent_id, plan.side, plan.sl_mult, plan.tp_mult, plan.max_adds_override) == (
        intent_id_for("sig-1", ENTRY_LEG), Side.SELL, D("1.5"), D("0.8"), 2,
    )  # fmt: skip
    assert plan_of(decision.model_copy(update={"action": "skip"})) is None
    assert plan_of(decision.model_copy(update={"market": Market.SPOT})) is None


def test_a_tick_or_atr_the_core_would_divide_by_is_refused_at_the_boundary() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Tick(BTC, T0, D(0))
    with pytest.raises(ValueError, match="must be positive"):
        Tick(BTC, T0, D("46400.2"), mark=D("-1"))
    with pytest.raises(ValueError, match="must be positive"):
        AtrSeen(BTC, T0, D(0))
