"""``POST /decide`` through the FastAPI app (httpx's ASGI transport) on real Redis (single node and
Cluster) and the real Kafka: the answer is the Decision, an open's intent is on ``ord.intents``
before the answer, bad bodies are 422 naming the field, no active bundle is 503."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from agent_kit import FUT, decisions, intents, read_to_end
from strategy_kit import MINUTE, T0, event

from agents.config.active import ActiveBundle, ActiveConfig
from agents.config.bundle import parse_bundle
from agents.strategy.http import PATH, DecideService, KafkaPublisher, create_app
from agents.strategy.service import EventClock, Strategy
from sinks.redis import EntryGate, Keyspace, RedisClient
from tests.agents.worker_kit import Reader
from topics.trading import Decision

pytestmark = pytest.mark.kafka
BUNDLE = parse_bundle(
    {
        "bundle_id": "http",
        "strategy": {
            "instruments": {"BTCUSDT": FUT},
            "margin_per_position_usdt": "100",
            "margin_budget_usdt": "1000",
            "leverage": 5,
        },
    }
)


def body(**kw: Any) -> dict[str, Any]:
    return dict(event(**kw))


@pytest.fixture
async def api(
    client: RedisClient, keyspace: Keyspace, kafka_bootstrap: str
) -> AsyncIterator[tuple[httpx.AsyncClient, ActiveConfig]]:
    await client.set(keyspace.regime_market_state(), json.dumps({"regime": "NORMAL", "expires_at": 2**62}))
    await client.set(keyspace.health_system_state(), "GREEN")
    clock = EventClock()
    gate = EntryGate(client, keyspace, clock, tombstone_ms=3_600_000)
    await gate.load()
    holder = ActiveConfig()
    strategy = Strategy(holder, client, keyspace, gate, clock)
    service = DecideService(strategy, KafkaPublisher(kafka_bootstrap, keyspace.prefix))
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://s3") as http:
        yield http, holder
    strategy.close()


async def test_decide_answers_the_decision_and_an_open_sends_its_intent_first(
    api: tuple[httpx.AsyncClient, ActiveConfig], keyspace: Keyspace, kafka_bootstrap: str
) -> None:
    http, holder = api
    assert (await http.post(PATH, json=body())).status_code == 503  # nothing active yet
    holder.swap(ActiveBundle.of(BUNDLE))

    first = await http.post(PATH, json=body(t0=T0 - MINUTE, fast=99.0, slow=100.0))
    assert first.status_code == 200 and first.json()["reason"] == "NO_SIGNAL"
    reply = await http.post(PATH, json=body(close=50_000.0))
    assert reply.status_code == 200
    d = Decision.model_validate(reply.json())
    assert (d.action, d.reason, d.config_rev, d.side) == ("open", "EMA_CROSS_UP", BUNDLE.rev, "BUY")
    again = await http.post(
        PATH, json=body(close=50_000.0)
    )  # a repeat: same decision, nothing reserved twice
    assert Decision.model_validate(again.json()) == d

    orders = Reader(kafka_bootstrap, f"{keyspace.prefix}ord.intents")
    read_to_end(orders)
    sent = intents(orders)
    assert len(sent) == 2 and {i.intent_id for i in sent} == {sent[0].intent_id}  # one id: S4 places once
    assert sent[0].signal_id == d.signal_id
    sig = Reader(kafka_bootstrap, f"{keyspace.prefix}sig.events")
    read_to_end(sig)
    assert [x.reason for x in decisions(sig)] == ["NO_SIGNAL", "EMA_CROSS_UP", "EMA_CROSS_UP"]
    orders.close()
    sig.close()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"t0": "yesterday"}, "t0"),
        ({"features": {"close": "x"}}, "features"),
        ({"dqc": ["DIRTY"]}, "dqc"),
        ({"signal_id": None}, "signal_id"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_an_invalid_body_is_422_naming_the_field(
    api: tuple[httpx.AsyncClient, ActiveConfig], change: dict[str, Any], field: str
) -> None:
    http, holder = api
    holder.swap(ActiveBundle.of(BUNDLE))
    reply = await http.post(PATH, json=body() | change)
    assert reply.status_code == 422
    assert field in {str(p) for e in reply.json()["detail"] for p in e["loc"]}, reply.json()
    missing = await http.post(PATH, json={k: v for k, v in body().items() if k != "symbol"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "symbol"]
