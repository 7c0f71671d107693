"""S6's policy from the active bundle: the bundle's ``positions`` section when it has one (checked
against the strategy it manages for), else the derived policy; a reload keeps managing a symbol
the new bundle dropped (a position open in it keeps its stop)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.config.active import ActiveBundle
from agents.config.bundle import BundleRefused, parse_bundle
from agents.positions.policy import Policy, policy_for

DEFAULT = Path(__file__).resolve().parents[3] / "agents" / "config" / "default_bundle.json"


def doc(**positions: Any) -> dict[str, Any]:
    d = json.loads(DEFAULT.read_text())
    if positions:
        d["positions"] = {"leverage": d["strategy"]["leverage"], **positions}
    return dict(d)


def test_a_bundle_without_positions_keeps_its_rev_and_gets_the_derived_policy() -> None:
    plain = parse_bundle(doc())
    assert plain.positions is None and "positions" not in plain.canonical_json
    policy = Policy.of(ActiveBundle.of(plain))
    assert policy.cfg == policy_for(plain.strategy) and policy.rev == plain.rev
    assert sorted(policy.ctxs) == ["BTCUSDT"]


def test_the_bundles_positions_section_is_the_policy_and_is_part_of_the_rev() -> None:
    b = parse_bundle(doc(unit="roe", initial_sl_roe="0.1", treasury={"min_free_fut": "750"}))
    assert b.rev != parse_bundle(doc()).rev
    assert parse_bundle(b.document()) == b  # stored and read back whole
    policy = Policy.of(ActiveBundle.of(b))
    assert policy.cfg == b.positions and str(policy.cfg.treasury.min_free_fut) == "750"
    assert policy.ctx("BTCUSDT").cfg is policy.cfg  # one config for every symbol of the rev


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("leverage", 10, "positions.leverage 10 must equal strategy.leverage 3"),
        ("gate_lease_ttl_ms", 3_600_000, "positions.gate_lease_ttl_ms 3600000 must equal"),
    ],
)
def test_a_positions_section_at_odds_with_the_strategy_is_refused(
    field: str, value: int, message: str
) -> None:
    d = doc(gate_renew_every_ms=1_800_000)
    d["positions"][field] = value
    with pytest.raises(BundleRefused, match=message):
        parse_bundle(d)


def test_a_reload_keeps_managing_a_symbol_the_new_bundle_dropped() -> None:
    two = doc()
    two["strategy"]["instruments"]["XRPUSDT"] = {
        "market": "FUT", "tick_size": "0.0001", "lot_size": "0.1", "min_qty": "0.1", "min_notional": "5",
    }  # fmt: skip
    before = Policy.of(ActiveBundle.of(parse_bundle(two)))
    after = Policy.of(ActiveBundle.of(parse_bundle(doc(initial_sl_atr="2"))), before)
    assert after.manages("XRPUSDT") and after.ctx("XRPUSDT").instrument == before.ctx("XRPUSDT").instrument
    assert after.ctx("XRPUSDT").cfg == after.cfg and str(after.cfg.initial_sl_atr) == "2"
    assert not after.manages("ETHUSDT")
    with pytest.raises(ValueError, match="ETHUSDT: no instrument data"):
        after.ctx("ETHUSDT")
