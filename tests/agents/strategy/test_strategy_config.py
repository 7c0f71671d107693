"""The strategy bundle: frozen, extra fields refused, unknown features refused wherever they are
named, and ``rev`` a stable hash of the canonical JSON."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError
from strategy_kit import FUT_SPEC, make_config

from agents.connectors.port import Instrument
from agents.strategy.config import InstrumentSpec, StrategyConfig
from chimera.model import Market, Symbol


def test_rev_is_the_same_for_equal_bundles_however_they_are_spelled() -> None:
    a = make_config(regimes_allowed=["NORMAL", "EXTREME"])
    b = make_config(
        regimes_allowed=["EXTREME", "NORMAL", "NORMAL"],
        margin_per_position_usdt="100.000",
        margin_budget_usdt="1E3",
        instruments={
            "BTCUSDT": FUT_SPEC | {"tick_size": "0.010"},
            "BTCSPOT": {
                "market": "SPOT",
                "tick_size": "0.01",
                "lot_size": "0.000010",
                "min_qty": "0.00001",
                "min_notional": "10.0",
            },
        },
    )
    assert a.rev == b.rev and len(a.rev) == 16
    # and survives a JSON round trip (S10 stores the bundle, every service loads it)
    assert StrategyConfig.model_validate_json(a.model_dump_json()).rev == a.rev


def test_rev_changes_with_any_parameter_and_rule_listing_order_does_not_matter() -> None:
    r1 = {"name": "a", "priority": 2, "when": "funding > 0", "then": {"size_mult": 0.5}}
    r2 = {"name": "b", "priority": 1, "when": "funding < 0", "then": {"size_mult": 0.7}}
    base = make_config(rules=[r1, r2])
    assert make_config(rules=[r2, r1]).rev == base.rev
    assert make_config(rules=[r1, r2], leverage=6).rev != base.rev
    assert make_config(rules=[r1, r2 | {"when": "funding < -0.0001"}]).rev != base.rev
    assert make_config(rules=[r1, r2], model={"weights": {"ret_1": 1.0}}).rev != base.rev


def test_unknown_features_are_refused_in_the_entry_signal_and_the_model() -> None:
    with pytest.raises(ValidationError, match="entry signal names unknown feature 'ema_fastest'"):
        make_config(entry={"fast": "ema_fastest"})
    with pytest.raises(ValidationError, match=r"model weights name unknown features \['momentum'\]"):
        make_config(model={"weights": {"momentum": 0.3, "ret_1": 1.0}})


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"levrage": 5}, "Extra inputs are not permitted"),
        ({"model": {"weights": {}, "timeout": 5}}, "Extra inputs are not permitted"),
        ({"margin_budget_usdt": "50"}, "exceeds margin_budget_usdt"),
        ({"margin_per_position_usdt": "10.0000001"}, "more than 6 decimals"),
        ({"leverage": 0}, "greater than or equal to 1"),
        ({"dqc_block": ["STALE", "DIRTY"]}, "dqc_block"),
        ({"regimes_allowed": ["CALM"]}, "regimes_allowed"),
        ({"windows": [{"start_hour": 5, "end_hour": 5}]}, "is empty"),
        ({"health": {"GREEN": {"size_mult": 1, "maker_wait_mult": 1, "market_ratio_add": 0}}}, "exactly"),
        ({"exec": {"fut_style": "oco"}}, "fut_style"),
        ({"model": {"p_lo": 0.8, "p_hi": 0.7}}, "p_lo"),
        ({"instruments": {}}, "at least 1"),
    ],
)
def test_invalid_bundles_are_refused_naming_the_problem(override: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        make_config(**override)


def test_the_bundle_is_frozen() -> None:
    cfg = make_config()
    with pytest.raises(ValidationError):
        cfg.leverage = 10  # type: ignore[misc]


def test_instrument_data_can_come_from_the_venue_port() -> None:
    inst = Instrument(
        symbol=Symbol("BTCUSDT"), market=Market.FUT, base="BTC", quote="USDT", tick_size=Decimal("0.1"),
        lot_size=Decimal("0.001"), min_qty=Decimal("0.001"), min_notional=Decimal("5"),
        maker_fee=Decimal("0.0002"), taker_fee=Decimal("0.0004"),
    )  # fmt: skip
    spec = InstrumentSpec.from_instrument(inst)
    cfg = make_config(instruments={"BTCUSDT": spec})
    assert cfg.instruments["BTCUSDT"].lot_size == Decimal("0.001")
