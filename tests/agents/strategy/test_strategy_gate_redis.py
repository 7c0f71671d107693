"""S3 with the real Redis (single node and the 3-master Cluster): inputs read from Redis, the model
under its runner, and the entry gate reserving before any intent. 50 simultaneous entry signals
against a budget for N positions open exactly N; the kill switch stops every intent."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from decimal import Decimal

import pytest
from strategy_kit import FUT_SPEC, T0, below, event, make_config

from agents.config.active import ActiveBundle, ActiveConfig
from agents.config.bundle import parse_bundle
from agents.features.core import FeatureEvent
from agents.strategy.config import StrategyConfig
from agents.strategy.core import Outcome
from agents.strategy.inputs import parse_funding, parse_health, parse_kill_switch, parse_regime, read_ctx
from agents.strategy.model import LogisticModel, ModelParams
from agents.strategy.model_runner import ModelRunner
from agents.strategy.records import SendIntent
from agents.strategy.service import EventClock, Strategy
from agents.strategy.shell import run_decision
from sinks.redis import EntryGate, Keyspace, RedisClient

N_SIGNALS = 50
N_POSITIONS = 7
SYMBOLS = [f"S{i:02d}USDT" for i in range(N_SIGNALS)]


def _config() -> StrategyConfig:
    return make_config(
        instruments=dict.fromkeys(SYMBOLS, FUT_SPEC),
        margin_per_position_usdt="100",
        margin_budget_usdt=str(100 * N_POSITIONS),
        leverage=5,
    )


async def _publish_inputs(client: RedisClient, ks: Keyspace, kill: str | None = None) -> None:
    regime = {
        "regime": "NORMAL",
        "rv": 0.5,
        "percentile": 50.0,
        "rev": "r1",
        "as_of": T0 - 1,
        "expires_at": T0 + 1,
    }
    await client.set(ks.regime_market_state(), json.dumps(regime))
    await client.set(ks.health_system_state(), json.dumps({"level": "GREEN"}))
    if kill is not None:
        await client.set(ks.kill_switch(), kill)


async def _decide_all(
    client: RedisClient, ks: Keyspace, gate: EntryGate, cfg: StrategyConfig, events: list[FeatureEvent]
) -> list[Outcome]:
    params = cfg.model
    runner = ModelRunner(LogisticModel(params), params)

    async def one(ev: FeatureEvent) -> Outcome:
        ctx = await read_ctx(client, ks, cfg, ev["symbol"])
        return await run_decision(below(), ev, ctx, runner, gate)

    try:
        return await asyncio.gather(*(one(ev) for ev in events))
    finally:
        runner.close()


def _intents(results: list[Outcome]) -> list[SendIntent]:
    return [e for o in results for e in o.effects if isinstance(e, SendIntent)]


async def test_fifty_simultaneous_signals_against_a_budget_for_n_open_exactly_n(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate
) -> None:
    cfg = _config()
    await _publish_inputs(client, keyspace)
    # at 50000 a 100 USDT x5 entry is exactly 0.010 BTC and uses exactly 100 USDT of margin
    events = [event(s, close=50_000.0) for s in SYMBOLS]

    results = await _decide_all(client, keyspace, gate, cfg, events)

    decisions = [o.decision for o in results]
    reasons = Counter(d.reason for d in decisions)
    assert reasons == {"EMA_CROSS_UP": N_POSITIONS, "RISK_BUDGET": N_SIGNALS - N_POSITIONS}
    assert {o.trace.detail for o in results if o.decision.action == "skip"} == {"BUDGET"}
    sent = _intents(results)
    assert len(sent) == N_POSITIONS == len({s.intent.intent_id for s in sent})
    assert {s.intent.qty for s in sent} == {Decimal("0.010")}
    opened = [o.trace for o in results if o.decision.action == "open"]
    assert {s.intent.intent_id for s in sent} == {t.intent_id for t in opened}
    usage = await gate.usage(SYMBOLS)
    assert usage.budget_inuse == sum(t.margin_usdt or 0 for t in opened) == Decimal(100 * N_POSITIONS)
    assert sum(usage.concurrency.values()) == N_POSITIONS

    # the same 50 events delivered again: the same entries open (their reservations are held),
    # nothing is reserved twice, and the refused ones are refused again
    again = await _decide_all(client, keyspace, gate, cfg, events)
    assert {s.intent.intent_id for s in _intents(again)} == {s.intent.intent_id for s in sent}
    assert {o.trace.detail for o in again if o.decision.action == "open"} == {
        "duplicate delivery: reservation already held"
    }
    assert (await gate.usage(SYMBOLS)).budget_inuse == Decimal(100 * N_POSITIONS)


@pytest.mark.parametrize("switch", ["ON", "1", "garbled"])
async def test_the_kill_switch_stops_every_intent_and_reserves_nothing(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate, switch: str
) -> None:
    cfg = _config()
    await _publish_inputs(client, keyspace, kill=switch)

    results = await _decide_all(client, keyspace, gate, cfg, [event(s, close=50_000.0) for s in SYMBOLS])

    assert {o.decision.reason for o in results} == {"KILL_SWITCH"}
    assert _intents(results) == []
    usage = await gate.usage(SYMBOLS)
    assert usage.budget_inuse == 0 and set(usage.concurrency.values()) == {0}


async def test_inputs_are_read_from_redis_in_one_go(client: RedisClient, keyspace: Keyspace) -> None:
    cfg = _config()
    ctx = await read_ctx(client, keyspace, cfg, "S01USDT")
    assert (ctx.kill_switch, ctx.regime, ctx.health, ctx.funding) == (False, None, None, None)
    await _publish_inputs(client, keyspace, kill="off")
    await client.set(keyspace.funding_next("S01USDT"), json.dumps({"rate": "-0.00012", "funding_time": T0}))
    ctx = await read_ctx(client, keyspace, cfg, "S01USDT")
    assert (ctx.kill_switch, ctx.regime, ctx.regime_expires_at, ctx.health) == (
        False,
        "NORMAL",
        T0 + 1,
        "GREEN",
    )
    assert ctx.funding == -0.00012


def test_input_parsing_fails_closed_where_it_matters() -> None:
    assert [parse_kill_switch(v) for v in (None, "", "0", "OFF", "false")] == [False] * 5
    assert [parse_kill_switch(v) for v in ("1", "ON", "true", "maybe", "{}")] == [True] * 5
    assert parse_regime('{"regime": "FROZEN", "expires_at": 5}') == ("FROZEN", 5)
    assert parse_regime("normal") == ("NORMAL", None)
    assert parse_regime("{broken") == (None, None)
    assert parse_health("yellow") == "YELLOW" and parse_health('{"level": "ORANGE"}') == "ORANGE"
    assert parse_health("{}") == "{}"  # unreadable: passed on, L0 skips HEALTH
    assert parse_funding("0.0001") == 0.0001 and parse_funding('{"rate": 0.0002}') == 0.0002
    assert parse_funding("nan") is None and parse_funding("x") is None and parse_funding(None) is None


async def test_the_shell_uses_the_model_fallback_when_the_model_is_slow(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate
) -> None:
    cfg = make_config(
        instruments=dict.fromkeys(SYMBOLS[:3], FUT_SPEC), model={"timeout_ms": 5, "fallback_p": 0.3}
    )
    await _publish_inputs(client, keyspace)

    def slow(features: object) -> float:
        import time

        time.sleep(0.2)
        return 0.99

    runner = ModelRunner(slow, ModelParams(timeout_ms=5, fallback_p=0.3), workers=4)
    try:
        out = []
        for s in SYMBOLS[:3]:
            ctx = await read_ctx(client, keyspace, cfg, s)
            out.append(await run_decision(below(), event(s, close=50_000.0), ctx, runner, gate))
    finally:
        runner.close()
    # fallback p 0.3 -> 0.5x: 50 USDT x5 at 50000 = 0.005; the wire's model_p is null on a timeout
    seen = {(o.decision.action, o.decision.model_p, o.decision.size_mult) for o in out}
    assert seen == {("open", None, 0.5)}
    assert {(o.trace.model_source, o.trace.entry_p) for o in out} == {("timeout", 0.3)}
    assert {s.intent.qty for s in _intents(out)} == {Decimal("0.005")}
    assert runner.stats.timeouts == 3 and runner.stats.ok == 0


async def test_the_service_counts_model_timeouts_across_a_reload(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate
) -> None:
    """Through ``service.Strategy`` (what the agent and /decide run): a model past its timeout gives
    the fallback, counted; the count survives the reload that retires that bundle's runner."""

    def slow_for(params: ModelParams) -> object:
        def slow(features: object) -> float:
            time.sleep(0.1)
            return 0.99

        return slow

    def bundle(leverage: int) -> ActiveBundle:
        strategy = _config().model_dump(mode="json") | {"leverage": leverage}
        strategy["model"] = {"timeout_ms": 5, "fallback_p": 0.3}
        return ActiveBundle.of(parse_bundle({"bundle_id": "slow", "strategy": strategy}))

    await _publish_inputs(client, keyspace)
    holder = ActiveConfig(bundle(5))
    svc = Strategy(holder, client, keyspace, gate, EventClock(), predict_for=slow_for)  # type: ignore[arg-type]
    try:
        _, out = await svc.decide(below(), event(SYMBOLS[0], close=50_000.0))
        assert (out.decision.action, out.decision.model_p, out.trace.model_source) == (
            "open",
            None,
            "timeout",
        )
        holder.swap(bundle(4))
        _, out = await svc.decide(below(), event(SYMBOLS[1], close=50_000.0))
        assert out.decision.config_rev == holder.current().rev and out.trace.leverage == 4
        stats = svc.model_stats()
        assert (stats.calls, stats.timeouts, stats.ok) == (2, 2, 0)
    finally:
        svc.close()
