"""L1: rules are checked at load (syntax, names, constructs; the error names the rule), evaluated in
a locked-down asteval interpreter, and merged by priority as rules.py documents."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from strategy_kit import make_config

from agents.strategy.rules import RuleError, RuleSet, RuleSpec

FEATS = {"spread_bp": 2.0, "atr": 40.0, "rv": 0.8, "ret_1": -0.001, "depth": 12.0, "close": 46_000.0}


def rule(name: str, priority: int, when: str, on_error: str = "skip", **then: Any) -> RuleSpec:
    return RuleSpec(name=name, priority=priority, when=when, on_error=on_error, then=then)  # type: ignore[arg-type]


def evaluate(rules: list[RuleSpec], feats: dict[str, Any] | None = None, **kw: Any) -> Any:
    args = {"regime": "NORMAL", "health": "GREEN", "funding": 0.0001} | kw
    return RuleSet(tuple(rules)).evaluate(FEATS if feats is None else feats, **args)


def test_highest_priority_wins_per_field_and_size_mults_multiply() -> None:
    out = evaluate(
        [
            rule("low", 1, "features.atr > 10", size_mult=0.5, sl_mult=3.0, tp_mult=1.2, max_adds_override=4),
            rule("high", 9, "features.rv < 1", size_mult=0.8, sl_mult=1.5),
            rule("mid", 5, "health == 'GREEN'", tp_mult=2.0),
            rule("miss", 7, "features.spread_bp > 5", size_mult=0.1, sl_mult=9.0),
        ]
    )
    assert out.fired == ("high", "mid", "low") and out.skip_rule is None
    assert out.size_mult == pytest.approx(0.4)  # 0.8 x 0.5; the non-matching rule does not count
    assert (out.sl_mult, out.tp_mult, out.max_adds_override) == (1.5, 2.0, 4)


def test_the_highest_priority_skip_wins_and_lower_rules_are_not_evaluated() -> None:
    out = evaluate(
        [
            rule("cheap_skip", 1, "features.atr > 1", skip_entry=True),
            rule("top_skip", 8, "regime == 'NORMAL' and funding > 0", skip_entry=True),
            rule("sizer", 9, "features.rv > 0", size_mult=0.5),
            rule("broken_below", 0, "features.depth > 'x'", size_mult=0.5),  # would fail if evaluated
        ]
    )
    assert (out.skip_rule, out.skip_detail, out.fired, out.failed) == (
        "top_skip",
        "matched",
        ("sizer", "top_skip"),
        (),
    )


def test_a_rule_on_a_null_feature_fails_closed_unless_told_to_ignore() -> None:
    feats = FEATS | {"spread_bp": None}
    out = evaluate([rule("wide", 3, "features.spread_bp > 5", skip_entry=True)], feats)
    assert out.skip_rule == "wide" and out.failed == ("wide",)
    assert "TypeError" in out.skip_detail and "NoneType" in out.skip_detail
    out = evaluate([rule("wide", 3, "features.spread_bp > 5", on_error="ignore", skip_entry=True)], feats)
    assert out.skip_rule is None and out.failed == ("wide",) and out.fired == ()
    # written defensively, the same condition simply does not match
    out = evaluate(
        [rule("wide", 3, "features.spread_bp is not None and features.spread_bp > 5", skip_entry=True)], feats
    )
    assert out.skip_rule is None and out.failed == ()


def test_the_expression_language_covers_what_rules_need() -> None:
    cases = {
        "regime in ('NORMAL', 'EXTREME')": True,
        "health not in ['RED', 'ORANGE']": True,
        "abs(features.ret_1) < 0.002 and -0.01 < funding < 0.01": True,
        "max(features.spread_bp, 1) * 2 >= 4": True,
        "not (features.atr / features.close * 10000 > 20)": True,
        "features.depth % 5 == 2": True,
        "funding is None": False,
    }
    for when, want in cases.items():
        out = evaluate([rule("r", 1, when, size_mult=0.5)])
        assert (out.fired == ("r",)) is want, when


def test_a_non_bool_result_is_an_evaluation_error() -> None:
    out = evaluate([rule("num", 1, "features.atr * 2", size_mult=0.5)])
    assert out.skip_rule == "num" and "not a bool" in out.skip_detail


@pytest.mark.parametrize(
    ("when", "words"),
    [
        ("features.atr >", "syntax error"),
        ("features.atr > 1; import os", "syntax error"),  # one expression only
        ("features.sprd > 3", "unknown feature features.sprd"),
        ("foo > 3", "unknown name 'foo'"),
        ("features", "not features itself"),
        ("__import__('os').system('true')", "only abs, min, max may be called"),
        ("open('/etc/passwd')", "only abs, min, max may be called"),
        ("features.atr.__class__", "only features.<name> may use a dot"),
        ("regime.lower() == 'normal'", "only abs, min, max may be called"),
        ("(1).__class__", "only features.<name> may use a dot"),
        ("[c for c in 'ab']", "ListComp is not allowed"),
        ("(lambda: True)()", "only abs, min, max may be called"),
        ("features.atr if regime else 0", "IfExp is not allowed"),
        ("{'a': 1}", "Dict is not allowed"),
        ("features.atr[0]", "Subscript is not allowed"),
        ("max", "may only be called"),
        ("max(*[1, 2]) > 0", "keywords or *"),
        ("b'x' == b'x'", "constant b'x'"),
    ],
)
def test_a_bad_rule_is_refused_at_load_naming_the_rule(when: str, words: str) -> None:
    with pytest.raises(RuleError, match=r"rule 'bad_one'") as err:
        RuleSet((rule("bad_one", 1, when, skip_entry=True),))
    assert words in str(err.value)


def test_the_config_load_refuses_a_bad_rule_with_its_name() -> None:
    bad = {
        "name": "spread_guard",
        "priority": 3,
        "when": "features.spreadbp > 3",
        "then": {"skip_entry": True},
    }
    with pytest.raises(ValidationError, match=r"rule 'spread_guard': unknown feature features\.spreadbp"):
        make_config(rules=[bad])
    broken = {"name": "half_done", "priority": 3, "when": "features.atr > (", "then": {"skip_entry": True}}
    with pytest.raises(ValidationError, match="rule 'half_done': syntax error"):
        make_config(rules=[broken])


def test_rule_names_and_priorities_must_be_unique_and_then_must_do_something() -> None:
    with pytest.raises(RuleError, match="rule 'b': priority 1 is already rule 'a'"):
        RuleSet((rule("a", 1, "funding > 0", size_mult=1.0), rule("b", 1, "funding > 0", size_mult=1.0)))
    with pytest.raises(RuleError, match="rule 'a': the name is used twice"):
        RuleSet((rule("a", 1, "funding > 0", size_mult=1.0), rule("a", 2, "funding > 0", size_mult=1.0)))
    with pytest.raises(ValidationError, match="then sets nothing"):
        rule("idle", 1, "funding > 0")
    with pytest.raises(ValidationError, match="extra"):
        RuleSpec.model_validate({"name": "x", "priority": 1, "when": "funding > 0", "then": {"size": 2}})


def test_one_interpreter_serves_many_evaluations_without_leaking_state() -> None:
    rs = RuleSet((rule("wide", 2, "features.spread_bp > 5", on_error="ignore", size_mult=0.5),
                  rule("calm", 1, "features.rv < 1", size_mult=0.9)))  # fmt: skip
    for i in range(300):
        bad = i % 3 == 0
        out = rs.evaluate(FEATS | {"spread_bp": None if bad else 6.0}, "NORMAL", "GREEN", None)
        assert out.failed == (("wide",) if bad else ())
        assert out.fired == (("calm",) if bad else ("wide", "calm"))


def test_asteval_guards_what_the_static_check_lets_through() -> None:
    # a huge string from a short expression: asteval's safe multiply refuses it at run time, and
    # the rule then fails closed like any other evaluation error
    out = evaluate([rule("blowup", 1, "'a' * 1000000000 == 'b'", skip_entry=True)])
    assert out.skip_rule == "blowup" and "String length exceeded" in out.skip_detail
    with pytest.raises(RuleError, match="Pow is not allowed"):
        RuleSet((rule("power", 1, "features.atr ** 2 > 1", skip_entry=True),))
