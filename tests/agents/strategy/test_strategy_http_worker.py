"""``POST /decide`` and ``GET /active`` served by a real ``chimera worker`` (its Faust web server) on the
real Kafka, Redis and clickhouse-server: the strategy service answers the decision and puts the open's
intent on ``ord.intents``, bad bodies are 4xx naming the problem; the config service answers the
active bundle; each route is there only when its service runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from agent_kit import Rig, bundle_doc, decisions, intents, read_to_end
from strategy_kit import MINUTE, T0, event

from tests.agents.worker_kit import Worker, WorkerFactory, wait_for
from topics.trading import Decision

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.clickhouse]
TIMEOUT_S = 60.0


def post(worker: Worker, path: str, body: Any = None, content: bytes | None = None) -> httpx.Response:
    if content is not None:
        headers = {"content-type": "application/json"}
        return httpx.post(f"{worker.web}{path}", content=content, headers=headers, timeout=10)
    return httpx.post(f"{worker.web}{path}", json=body, timeout=10)


def get(worker: Worker, path: str) -> httpx.Response:
    return httpx.get(f"{worker.web}{path}", timeout=10)


def fields(reply: httpx.Response) -> set[str]:
    return {str(p) for e in reply.json()["detail"] for p in e["loc"]}


def test_post_decide_on_a_worker_answers_the_decision_and_sends_the_intent(
    rig: Rig, make_worker: WorkerFactory
) -> None:
    rig.set_inputs()
    worker = rig.worker(make_worker).start(services="strategy")
    below = dict(event(t0=T0 - MINUTE, fast=99.0, slow=100.0, close=50_000.0))
    no_bundle = post(worker, "/decide", below)
    assert no_bundle.status_code == 503 and "bundle" in no_bundle.json()["detail"], no_bundle.text

    bundle = rig.load(bundle_doc("http-worker"))
    rig.activate(bundle)
    # the worker's cfg.events follower installs the bundle; until then /decide stays 503
    first = wait_for(
        "the bundle in the worker",
        lambda: (r := post(worker, "/decide", below)).status_code != 503 and r,
        TIMEOUT_S,
        worker,
    )
    assert first.status_code == 200 and first.json()["reason"] == "NO_SIGNAL", first.text

    cross = dict(event(close=50_000.0))
    reply = post(worker, "/decide", cross)
    assert reply.status_code == 200, reply.text
    d = Decision.model_validate(reply.json())
    assert (d.action, d.reason, d.side, d.config_rev, d.signal_id) == (
        "open", "EMA_CROSS_UP", "BUY", bundle.rev, cross["signal_id"]
    )  # fmt: skip

    # the intent is on the broker before the answer: read to the end offsets there are now
    orders = rig.reader("ord.intents")
    read_to_end(orders)
    sent = intents(orders)
    assert [(i.signal_id, i.symbol, i.side.value) for i in sent] == [(d.signal_id, "BTCUSDT", "BUY")]
    sig = rig.reader("sig.events")
    read_to_end(sig)
    assert [(x.signal_id, x.reason) for x in decisions(sig)][-2:] == [
        (below["signal_id"], "NO_SIGNAL"), (d.signal_id, "EMA_CROSS_UP")
    ]  # fmt: skip

    # bad requests: 4xx naming the problem, nothing decided or sent
    bad_t0 = post(worker, "/decide", cross | {"t0": "yesterday"})
    assert bad_t0.status_code == 422 and "t0" in fields(bad_t0), bad_t0.text
    no_symbol = post(worker, "/decide", {k: v for k, v in cross.items() if k != "symbol"})
    assert no_symbol.status_code == 422 and ["body", "symbol"] in [
        e["loc"] for e in no_symbol.json()["detail"]
    ]
    extra = post(worker, "/decide", cross | {"extra": 1})
    assert extra.status_code == 422 and "extra" in fields(extra), extra.text
    not_json = post(worker, "/decide", content=b"{not json")
    assert not_json.status_code == 422 and "json_invalid" in not_json.text, not_json.text
    wrong_method = get(worker, "/decide")
    assert wrong_method.status_code == 405 and wrong_method.json()["detail"] == "Method Not Allowed"
    assert get(worker, "/active").status_code == 404  # the config service does not run here

    read_to_end(orders)
    assert len(intents(orders)) == 1
    worker.assert_alive()


def test_get_active_on_a_config_worker_answers_the_active_bundle(
    rig: Rig, make_worker: WorkerFactory
) -> None:
    # with S3 beside it: a worker of agent-less services only has no topic to subscribe to (Faust
    # refuses to start a consumer on nothing)
    worker = rig.worker(make_worker).start(services="strategy,config")
    none = get(worker, "/active")
    assert none.status_code == 404 and none.json() == {"detail": "no bundle is active"}, none.text

    bundle = rig.load(bundle_doc("active-worker"))
    rig.activate(bundle)
    reply = get(worker, "/active")
    assert (reply.status_code, reply.json()) == (200, {"bundle_id": "active-worker", "rev": bundle.rev})
    wrong = post(worker, "/active", {"bundle_id": "x"})
    assert wrong.status_code == 405 and wrong.json()["detail"] == "Method Not Allowed"
    worker.assert_alive()
