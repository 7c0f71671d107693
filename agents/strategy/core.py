"""S3's pure core: ``decide(state, feature_event, ctx) -> (state, Decision, effects)``.

Order of the checks (the first that fails is the skip reason):

1. L0: kill switch ON -> KILL_SWITCH; event older than the redelivery window -> STALE_EVENT;
   decision hour (UTC, of ``t0``) outside every trading window -> TRADING_WINDOW; health RED or
   unreadable -> HEALTH; regime missing, expired (``t0 > regime_expires_at``) or not allowed ->
   REGIME; a DQC flag in ``dqc_block`` -> DATA_QUALITY; symbol without instrument data ->
   UNKNOWN_SYMBOL; no EMA cross (or a side the config or market forbids) -> NO_SIGNAL.
2. L1 rules (``rules.py``): a skipping rule -> ``RULE:<name>``.
3. L2 model (``model.py``): entry probability -> size multiplier (never a skip on its own).
4. Size: ``L1 x L2 x health`` multiplier (capped at ``size_mult_cap``), qty on the lot ->
   MIN_QTY / MIN_NOTIONAL.
5. Stops: an OCO / guard (spot) entry without stop levels (no ATR yet) -> NO_STOPS.
6. Entry gate (B7, in Redis, by the shell, before any intent leaves): refused for budget or
   concurrency -> RISK_BUDGET; the intent's reservation was already released or expired (a
   late redelivery of an entry whose position is gone), or is held at another amount ->
   INTENT_SPENT. Granted -> ``open`` with an ``OrderIntent``.

What leaves the core is the wire contracts of ``topics.trading`` (``Decision``, ``OrderIntent``),
plus a :class:`~agents.strategy.records.Trace` of what they do not carry. A skip before sizing has
``size_mult`` 0 and neutral ``sl_mult`` / ``tp_mult`` 1 (the contract wants numbers there);
``model_p`` is null unless the model itself answered (a fallback's p is in the trace). The
decision's ``config_rev`` is the active bundle's rev (``Ctx.config_rev``), else the strategy's.

Health matrix (B9, ``StrategyConfig.health``; defaults):

    level   size_mult  maker_wait_ms x  market_ratio +
    GREEN   1.00       1.0              0.00
    YELLOW  0.75       1.5              0.10
    ORANGE  0.50       2.0              0.25
    RED     no entries (skip HEALTH)

The model's answer and the gate's are inputs the shell fetches on request: ``attempt`` returns
either the decision or what is missing (a :class:`ModelRequest`, then a :class:`GateRequest`);
the shell puts the answer in ``ctx`` and calls again. A skip takes one pass, an open three; the
core is cheap enough to run again, which keeps it a plain function of its inputs. Nothing reads a clock: the
decision time is the event's ``t0``; ids derive from ``signal_id`` (``intent_id_for(signal_id,
"entry")``), so the same events and inputs give the same decisions and ids.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from agents.features.core import FeatureEvent
from agents.features.regime import Regime
from agents.strategy import entry
from agents.strategy.config import ExecStyle
from agents.strategy.context import Ctx, HealthLevel
from agents.strategy.entry import SymbolState
from agents.strategy.model import size_mult_for
from agents.strategy.records import (
    Effect,
    GateRequest,
    ModelRequest,
    PublishDecision,
    Reason,
    SendIntent,
    Trace,
    rule_reason,
)
from agents.strategy.sizing import Refused, as_mult, size_entry, stop_prices
from chimera.model import Market, Side, intent_id_for
from topics.trading import Decision, OrderIntent

HOUR_MS = 3_600_000
ENTRY_LEG = "entry"
_SPENT = frozenset({"RELEASED", "EXPIRED", "CONFLICT"})
_REGIMES = frozenset(r.value for r in Regime)
_NEEDS_SL = frozenset({ExecStyle.OCO, ExecStyle.GUARD})

Request = ModelRequest | GateRequest


class MissingInput(RuntimeError):
    """``decide`` was called before the shell supplied what ``pending_input`` asks for."""

    def __init__(self, request: Request) -> None:
        super().__init__(f"the core needs {type(request).__name__} first: {request}")
        self.request = request


class Outcome(NamedTuple):
    state: SymbolState
    decision: Decision
    trace: Trace
    effects: list[Effect]


def _health(ctx: Ctx) -> tuple[HealthLevel | None, str]:
    if ctx.health is None:
        return ctx.cfg.health_default, f"no level published; default {ctx.cfg.health_default}"
    try:
        return HealthLevel(ctx.health), ctx.health
    except ValueError:
        return None, f"unreadable health level {ctx.health!r}"


def _regime(ctx: Ctx, t0: int) -> tuple[str | None, str]:
    if ctx.regime is None:
        return None, "no regime record"
    if ctx.regime_expires_at is not None and t0 > ctx.regime_expires_at:
        return None, f"regime {ctx.regime} expired at {ctx.regime_expires_at}"
    if ctx.regime not in _REGIMES:
        return None, f"unknown regime {ctx.regime!r}"
    return ctx.regime, ctx.regime


def _evaluate(
    state: SymbolState, ev: FeatureEvent, ctx: Ctx
) -> tuple[SymbolState, Decision, Trace, OrderIntent | None] | Request:
    cfg = ctx.cfg
    feats = ev["features"]
    symbol, t0 = ev["symbol"], ev["t0"]
    # the signal's state moves on every event, whatever the gates say: a cross is between bars
    obs = entry.observe(
        state, t0, feats.get(cfg.entry.fast), feats.get(cfg.entry.slow), cfg.redelivery_window
    )
    new_state = obs.state
    spec = cfg.instruments.get(symbol)
    regime, regime_detail = _regime(ctx, t0)
    # the decision's fields so far (grown as the checks pass) and the trace's
    wire: dict[str, Any] = {
        "signal_id": ev["signal_id"],
        "symbol": symbol,
        "ts": t0,
        "config_rev": ctx.config_rev or cfg.rev,
        "market": spec.market if spec else Market.FUT,  # the contract's default for an unknown one
        "regime": regime,
        "size_mult": 0.0,
        "sl_mult": 1.0,
        "tp_mult": 1.0,
    }
    why: dict[str, Any] = {}

    def skip(reason: str, detail: str = "") -> tuple[SymbolState, Decision, Trace, None]:
        return (
            new_state,
            Decision(action="skip", reason=str(reason), **wire),
            Trace(detail=detail, **why),
            None,
        )

    if ctx.kill_switch:
        return skip(Reason.KILL_SWITCH)
    if obs.stale:
        return skip(Reason.STALE_EVENT, f"t0 {t0} is older than the last {cfg.redelivery_window} bars seen")
    hour = (t0 // HOUR_MS) % 24
    if not any(w.contains(hour) for w in cfg.windows):
        return skip(Reason.TRADING_WINDOW, f"hour {hour} UTC")
    health, health_detail = _health(ctx)
    if health is None or health is HealthLevel.RED:
        return skip(Reason.HEALTH, health_detail)
    if regime is None or regime not in cfg.regimes_allowed:
        return skip(Reason.REGIME, regime_detail)
    blocked = sorted({f for f in ev["dqc"] if f in cfg.dqc_block})
    if blocked:
        return skip(Reason.DATA_QUALITY, ",".join(blocked))
    if spec is None:
        return skip(Reason.UNKNOWN_SYMBOL)
    side = entry.signal(obs, cfg.entry, spec.market)
    if side is None:
        return skip(Reason.NO_SIGNAL, f"sign {obs.prev_sign:+d} -> {obs.sign:+d}")

    l1 = cfg.ruleset.evaluate(feats, regime, health.value, ctx.funding)
    wire["side"] = side
    why.update(rules_fired=l1.fired, rules_failed=l1.failed)
    if l1.skip_rule is not None:
        return skip(rule_reason(l1.skip_rule), l1.skip_detail)

    if ctx.model is None:
        return ModelRequest(symbol, side, feats)
    row = cfg.health[health]
    size = as_mult(
        min(cfg.size_mult_cap, l1.size_mult * size_mult_for(ctx.model.p, cfg.model) * row.size_mult)
    )
    sl_mult = l1.sl_mult if l1.sl_mult is not None else 1.0
    tp_mult = l1.tp_mult if l1.tp_mult is not None else 1.0
    wire.update(
        size_mult=float(size),
        sl_mult=sl_mult,
        tp_mult=tp_mult,
        max_adds_override=l1.max_adds_override,
        model_p=ctx.model.p if ctx.model.source == "model" else None,
    )
    why.update(model_source=ctx.model.source, entry_p=ctx.model.p)
    close = feats.get("close")
    if close is None or not math.isfinite(close) or close <= 0:
        return skip(Reason.DATA_QUALITY, f"close is {close!r}")
    sized = size_entry(spec, close, cfg.margin_per_position_usdt, size, cfg.leverage)
    if isinstance(sized, Refused):
        return skip(sized.reason, sized.detail)

    fut = spec.market is Market.FUT
    style = cfg.exec.fut_style if fut else cfg.exec.spot_style
    sl_atr, tp_atr = cfg.stops.sl_atr * sl_mult, cfg.stops.tp_atr * tp_mult
    sl_price, tp_price = stop_prices(side, sized.price, feats.get("atr"), sl_atr, tp_atr, spec.tick_size)
    why.update(
        price_ref=sized.price,
        leverage=sized.leverage,
        market_ratio=min(1.0, cfg.exec.market_ratio + row.market_ratio_add),
        sl_atr_mult=sl_atr,
        tp_atr_mult=tp_atr,
    )
    if style in _NEEDS_SL and (sl_price is None or (style is ExecStyle.OCO and tp_price is None)):
        return skip(Reason.NO_STOPS, f"{style} needs stop levels; atr is {feats.get('atr')!r}")

    intent_id = intent_id_for(ev["signal_id"], ENTRY_LEG)
    why["intent_id"] = intent_id
    gate = ctx.gate
    if gate is None:
        return GateRequest(
            intent_id=intent_id,
            symbol=symbol,
            margin_usdt=sized.margin_usdt,
            budget_limit_usdt=cfg.margin_budget_usdt,
            max_concurrency=cfg.max_concurrency_per_symbol,
            ttl_ms=cfg.gate_lease_ttl_ms,
        )
    if gate.intent_id != intent_id:
        raise ValueError(f"gate result is for {gate.intent_id}, this entry is {intent_id}")
    if not gate.granted:
        return skip(Reason.INTENT_SPENT if gate.refusal in _SPENT else Reason.RISK_BUDGET, gate.refusal or "")

    why["margin_usdt"] = gate.margin_usdt
    twap = style is ExecStyle.TWAP
    intent = OrderIntent(
        intent_id=intent_id,
        signal_id=ev["signal_id"],
        symbol=symbol,
        market=spec.market,
        side=side,
        qty=sized.qty,
        exec=style.value,
        sl_price=sl_price,
        tp_price=tp_price,
        maker_wait_ms=round(cfg.exec.maker_wait_ms * row.maker_wait_mult),
        twap_slices=cfg.exec.twap_slices if twap else None,
        twap_interval_ms=cfg.exec.twap_interval_ms if twap else None,
        ts=t0,
        source="strategy",
        reason="ENTRY",
    )
    reason = Reason.EMA_CROSS_UP if side is Side.BUY else Reason.EMA_CROSS_DOWN
    decision = Decision(action="open", reason=str(reason), **wire)
    detail = "duplicate delivery: reservation already held" if gate.duplicate else ""
    return new_state, decision, Trace(detail=detail, **why), intent


def attempt(state: SymbolState, ev: FeatureEvent, ctx: Ctx) -> Request | Outcome:
    """One pass: the decision if ``ctx`` holds every input the event needs, else the request for the
    next missing one (the shell's loop: answer it, put the answer in ``ctx``, call again)."""
    out = _evaluate(state, ev, ctx)
    if isinstance(out, ModelRequest | GateRequest):
        return out
    new_state, decision, trace, intent = out
    publish = PublishDecision(decision, trace)
    if intent is not None:
        # the intent first: latency matters, and the gate already holds its reservation
        return Outcome(new_state, decision, trace, [SendIntent(intent), publish])
    return Outcome(new_state, decision, trace, [publish])


def pending_input(state: SymbolState, ev: FeatureEvent, ctx: Ctx) -> Request | None:
    """What the shell must fetch before ``decide`` can answer: the model's p, then the gate's."""
    out = attempt(state, ev, ctx)
    return out if isinstance(out, ModelRequest | GateRequest) else None


def decide(state: SymbolState, ev: FeatureEvent, ctx: Ctx) -> Outcome:
    """The decision on one feature event, all inputs given. Effects: on open ``SendIntent`` then
    ``PublishDecision``; on skip only the latter. Raises :class:`MissingInput` if the event needs
    an input ``ctx`` lacks."""
    out = attempt(state, ev, ctx)
    if isinstance(out, ModelRequest | GateRequest):
        raise MissingInput(out)
    return out
