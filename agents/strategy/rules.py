"""L1, the rule DSL: ``{name, priority, when, then}`` rules over a feature event, merged by priority.

``when`` is one Python expression over ``features.<name>`` (S2's FEATURES), ``regime``, ``health``
(level names as strings), ``funding`` (next funding rate, a float or None), the constants, and
``abs``/``min``/``max``. Allowed: comparisons (also ``in``, ``is``), ``and``/``or``/``not``, + - * /
% and unary minus, tuples and lists of constants. Everything else (other names, attribute access
other than ``features.<known>``, subscripts, lambdas, comprehensions, calls to other functions) is
refused when the rule is loaded, with the rule's name in the error. The expression then runs in an
asteval interpreter whose symbol table holds only those names (imports and statements disabled;
Python's ``eval`` is never used). The static check is what locks it down: asteval alone would
still allow e.g. attribute walks on the objects it is given.

Merge (documented choice, highest ``priority`` first; priorities are unique so the order is total):

- ``skip_entry``: the highest-priority matching rule that skips wins: ``skip(RULE:<name>)``, and
  lower rules are not evaluated.
- ``size_mult``: the product over all matching rules (haircuts compound: "wide spread x0.5" and
  "high funding x0.5" give x0.25); 1.0 when none sets it.
- ``tp_mult``, ``sl_mult``, ``max_adds_override``: the highest-priority matching rule that sets
  the field wins (they are targets, and multiplying stop distances compounds oddly).

A rule whose ``when`` cannot be evaluated on an event (e.g. ``features.spread_bp > 5`` while the
bar saw no book row, so spread_bp is None) or does not give a bool: with ``on_error="skip"`` (the
default, fail closed: an unchecked condition does not trade) it skips the entry as
``RULE:<name>``; with ``on_error="ignore"`` it does not match. Either way its name is listed.
A ``None`` result (``features.x is not None and ...`` short-circuiting) counts as False.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

from asteval import Interpreter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.features.core import FEATURES

FEATURE_NAMES = frozenset(FEATURES)
VARIABLES = frozenset({"features", "regime", "health", "funding"})
FUNCTIONS: dict[str, Any] = {"abs": abs, "min": min, "max": max}
MAX_WHEN_CHARS = 1_000

# ast node types a `when` may contain; anything else is refused at load
_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Tuple,
    ast.List,
    ast.Call,
)


class RuleError(ValueError):
    """A rule was refused at load; the message names the rule."""


class RuleThen(BaseModel):
    """What a matching rule does; unset fields leave the decision alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skip_entry: bool = False
    size_mult: float | None = Field(None, ge=0, allow_inf_nan=False)
    tp_mult: float | None = Field(None, gt=0, allow_inf_nan=False)
    sl_mult: float | None = Field(None, gt=0, allow_inf_nan=False)
    max_adds_override: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _does_something(self) -> RuleThen:
        if not self.skip_entry and all(
            v is None for v in (self.size_mult, self.tp_mult, self.sl_mult, self.max_adds_override)
        ):
            raise ValueError(
                "then sets nothing: give skip_entry, size_mult, tp_mult, sl_mult or max_adds_override"
            )
        return self


class RuleSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    priority: int
    when: str = Field(min_length=1, max_length=MAX_WHEN_CHARS)
    then: RuleThen
    on_error: Literal["skip", "ignore"] = "skip"


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    skip_rule: str | None  # the rule that skipped the entry
    skip_detail: str  # why (matched, or the evaluation error)
    size_mult: float
    tp_mult: float | None
    sl_mult: float | None
    max_adds_override: int | None
    fired: tuple[str, ...]  # matching rules, highest priority first
    failed: tuple[str, ...]  # rules whose `when` could not be evaluated on this event


def check_when(rule: str, when: str) -> ast.Expression:
    """Parse ``when`` and check every node and name; raise :class:`RuleError` naming ``rule``."""
    try:
        tree = ast.parse(when, mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"rule {rule!r}: syntax error in when {when!r}: {exc.msg}") from None
    # the Name nodes that are the `features` of a `features.<x>`, checked with their attribute
    feature_roots: set[int] = set()
    called: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise RuleError(f"rule {rule!r}: {type(node).__name__} is not allowed in when {when!r}")
        if isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and node.value.id == "features"):
                raise RuleError(f"rule {rule!r}: only features.<name> may use a dot, in when {when!r}")
            if node.attr not in FEATURE_NAMES:
                raise RuleError(
                    f"rule {rule!r}: unknown feature features.{node.attr} "
                    f"(known: {', '.join(sorted(FEATURE_NAMES))})"
                )
            feature_roots.add(id(node.value))
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
                raise RuleError(f"rule {rule!r}: only {', '.join(FUNCTIONS)} may be called, in when {when!r}")
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise RuleError(f"rule {rule!r}: call with keywords or * in when {when!r}")
            called.add(id(node.func))
        elif isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | bool | None):
            raise RuleError(f"rule {rule!r}: constant {node.value!r} is not allowed")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name):
            continue
        if node.id == "features" and id(node) not in feature_roots:
            raise RuleError(f"rule {rule!r}: use features.<name>, not features itself, in when {when!r}")
        if node.id in FUNCTIONS and id(node) not in called:
            raise RuleError(f"rule {rule!r}: {node.id} may only be called, in when {when!r}")
        if node.id not in VARIABLES and node.id not in FUNCTIONS:
            raise RuleError(
                f"rule {rule!r}: unknown name {node.id!r} in when {when!r} "
                f"(allowed: {', '.join(sorted(VARIABLES | FUNCTIONS.keys()))})"
            )
    return tree


def check_rules(rules: tuple[RuleSpec, ...]) -> None:
    """Refuse duplicate names or priorities (the merge needs a total order) and bad expressions."""
    seen_names: set[str] = set()
    seen_prio: dict[int, str] = {}
    for r in rules:
        if r.name in seen_names:
            raise RuleError(f"rule {r.name!r}: the name is used twice")
        if r.priority in seen_prio:
            raise RuleError(
                f"rule {r.name!r}: priority {r.priority} is already rule {seen_prio[r.priority]!r}'s"
            )
        seen_names.add(r.name)
        seen_prio[r.priority] = r.name
        check_when(r.name, r.when)


class RuleSet:
    """The checked rules, highest priority first, with one locked-down asteval interpreter.

    Not thread-safe (the interpreter keeps per-run state); the core runs on one thread.
    """

    def __init__(self, rules: tuple[RuleSpec, ...]) -> None:
        check_rules(rules)
        self._rules = tuple(sorted(rules, key=lambda r: -r.priority))
        self._symbols: dict[str, Any] = dict.fromkeys(VARIABLES) | FUNCTIONS
        self._interp = Interpreter(
            symtable=self._symbols,
            minimal=True,
            use_numpy=False,
            builtins_readonly=True,
            max_statement_length=MAX_WHEN_CHARS,
        )
        # parsed once; asteval runs a Module, so parse in its (exec) form after the eval-form check
        self._trees = tuple(self._interp.parse(r.when) for r in self._rules)

    @property
    def rules(self) -> tuple[RuleSpec, ...]:
        return self._rules

    # a StrategyConfig holds its RuleSet as a private attribute, which pydantic compares and copies:
    # two configs of the same rules are equal, and a copy gets its own interpreter
    def __eq__(self, other: object) -> bool:
        return isinstance(other, RuleSet) and self._rules == other._rules

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, object]) -> RuleSet:
        return RuleSet(self._rules)

    def _eval(self, rule: RuleSpec, tree: ast.Module) -> bool:
        it = self._interp
        # reset asteval's per-run state so a previous rule's error does not short-circuit this one;
        # `expr` is set so asteval raises instead of returning None on an error inside the tree
        it.error, it.error_msg, it.retval, it._interrupt = [], None, None, None
        it.expr = rule.when
        out = it.run(tree, with_raise=True)
        if out is None or isinstance(out, bool):
            return bool(out)
        raise TypeError(f"when gave {out!r} ({type(out).__name__}), not a bool")

    def _error_text(self, exc: Exception) -> str:
        # asteval re-raises with its own message; the original text sits in its error list
        errors = self._interp.error
        text = (errors[-1].get_error()[1] if errors else str(exc)).strip()
        last = text.splitlines()[-1] if text else ""
        return last if last.startswith(type(exc).__name__) else f"{type(exc).__name__}: {last}"

    def evaluate(
        self,
        features: Mapping[str, float | int | None],
        regime: str | None,
        health: str | None,
        funding: float | None,
    ) -> RuleOutcome:
        sym = self._symbols
        # missing keys read as None: an event from an older S2 still evaluates (as a null feature)
        sym["features"] = SimpleNamespace(**{k: features.get(k) for k in FEATURE_NAMES})
        sym["regime"], sym["health"], sym["funding"] = regime, health, funding
        size = 1.0
        tp: float | None = None
        sl: float | None = None
        adds: int | None = None
        fired: list[str] = []
        failed: list[str] = []
        for rule, tree in zip(self._rules, self._trees, strict=True):
            try:
                hit = self._eval(rule, tree)
            except Exception as exc:  # any evaluation failure is the rule's, never the worker's
                failed.append(rule.name)
                if rule.on_error == "skip":
                    detail = f"when could not be evaluated: {self._error_text(exc)}"
                    return RuleOutcome(rule.name, detail, size, tp, sl, adds, tuple(fired), tuple(failed))
                continue
            if not hit:
                continue
            fired.append(rule.name)
            then = rule.then
            if then.skip_entry:
                return RuleOutcome(rule.name, "matched", size, tp, sl, adds, tuple(fired), tuple(failed))
            if then.size_mult is not None:
                size *= then.size_mult
            tp = then.tp_mult if tp is None else tp
            sl = then.sl_mult if sl is None else sl
            adds = then.max_adds_override if adds is None else adds
        if not math.isfinite(size):
            raise ValueError(f"rules gave a non-finite size_mult {size}")
        return RuleOutcome(None, "", size, tp, sl, adds, tuple(fired), tuple(failed))
