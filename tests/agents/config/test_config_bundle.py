"""Bundles (pure): rev names the content however it is spelled; loading refuses, naming the place and
the rule, anything that does not validate; the shipped default bundle is valid."""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

import pytest
from config_kit import RULE, doc

from agents.config.active import ActiveBundle, ActiveConfig, NoActiveConfig
from agents.config.bundle import BundleRefused, parse_bundle
from agents.config.cli import DEFAULT_BUNDLE


def test_rev_names_the_content_not_its_spelling_nor_its_name() -> None:
    a = parse_bundle(doc())
    spelled = doc(margin_budget_usdt="1E3", margin_per_position_usdt="100.00")
    spelled["strategy"] = dict(reversed(list(spelled["strategy"].items())))
    renamed = doc() | {"bundle_id": "other", "description": "same numbers"}
    assert parse_bundle(json.dumps(spelled)).rev == a.rev == parse_bundle(renamed).rev
    assert len(a.rev) == 16
    # the stored document parses back to the same bundle
    again = parse_bundle(a.document())
    assert (again.rev, again.bundle_id, again.strategy, again.features) == (
        a.rev,
        "b1",
        a.strategy,
        a.features,
    )


def test_any_parameter_changes_the_rev_and_s2_gets_it_as_its_config_rev() -> None:
    a = parse_bundle(doc())
    assert parse_bundle(doc(leverage=2)).rev != a.rev
    assert parse_bundle(doc(rules=[RULE | {"when": "features.rv > 2"}])).rev != a.rev
    feats = doc()
    feats["features"]["ema_slow"] = 31
    assert parse_bundle(feats).rev != a.rev
    assert a.feature_config().config_rev == a.rev and a.feature_config().ema_fast == 10


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            {"rules": [RULE | {"when": "features.momentum > 1"}]},
            "strategy: rule 'hot': unknown feature features.momentum",
        ),
        ({"rules": [RULE | {"when": "features.rv >"}]}, "strategy: rule 'hot': syntax error"),
        (
            {"rules": [RULE | {"when": "__import__('os')"}]},
            "strategy: rule 'hot': only abs, min, max may be called",
        ),
        ({"rules": [RULE, RULE | {"priority": 3}]}, "strategy: rule 'hot': the name is used twice"),
        (
            {"model": {"weights": {"alpha": 1.0}}},
            "strategy.model.weights: model weights name unknown features",
        ),
        ({"levrage": 3}, "strategy.levrage: Extra inputs are not permitted"),
        ({"margin_budget_usdt": "10"}, "strategy: margin_per_position_usdt (100) exceeds margin_budget_usdt"),
    ],
)
def test_an_invalid_bundle_is_refused_naming_where_and_which_rule(change: dict[str, Any], words: str) -> None:
    with pytest.raises(BundleRefused) as err:
        parse_bundle(doc(**change))
    assert any(m.startswith(words) for m in err.value.messages), err.value.messages


def test_refusals_outside_the_strategy_name_their_place_too() -> None:
    bad = doc()
    bad["features"] = {"ema_fast": 30, "ema_slow": 10}
    with pytest.raises(BundleRefused, match=r"features: ema_fast \(30\) must be shorter"):
        parse_bundle(bad)
    with pytest.raises(BundleRefused, match=r"features\.config_rev is the bundle's rev"):
        parse_bundle(doc() | {"features": {"config_rev": "mine"}})
    with pytest.raises(BundleRefused, match="bundle_id"):
        parse_bundle(doc() | {"bundle_id": "has space"})
    with pytest.raises(BundleRefused, match=r"\(bundle\): Invalid JSON"):
        parse_bundle("{not json")


def test_the_shipped_default_bundle_is_valid() -> None:
    bundle = parse_bundle(DEFAULT_BUNDLE.read_text())
    assert bundle.bundle_id == "default" and "BTCUSDT" in bundle.strategy.instruments
    assert [r.name for r in bundle.strategy.rules] == ["wide_spread", "hot_vol", "funding_against_longs"]


async def test_the_holder_swaps_one_whole_snapshot_and_readers_keep_theirs() -> None:
    a, b = parse_bundle(doc()), parse_bundle(doc(leverage=2))
    holder = ActiveConfig()
    with pytest.raises(NoActiveConfig):
        holder.current()
    assert holder.swap(ActiveBundle.of(a)) is None
    snap = holder.current()
    old = holder.swap(ActiveBundle.of(b))
    assert old is snap and holder.current().rev == b.rev and holder.swaps == 2
    # the reader's snapshot is untouched by the swap: a decision in flight finishes on it
    assert (snap.rev, snap.strategy.leverage, snap.features.config_rev) == (a.rev, 1, a.rev)
    assert holder.swap(ActiveBundle.of(deepcopy(b))) is holder.current() and holder.swaps == 2  # same rev
    assert (await holder.wait()).rev == b.rev
