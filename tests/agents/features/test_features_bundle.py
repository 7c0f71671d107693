"""S2 on the active config bundle, in a real worker: the features of the bundle activated before it
started (its parameters, ``config_rev`` = its rev in every event and signal_id), then, after an
activation on ``cfg.events``, the new bundle's from the next window on, never a mix inside one
event; a bundle whose ``features`` section is invalid is refused at load, naming the field.

The stack is real: bundles recorded in clickhouse-server, ``cfg:{active}`` in redis-server, the
activation announced on Apache Kafka's ``cfg.events``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from agents.config.bundle import Bundle, BundleRefused
from agents.features.config import FeatureConfig
from agents.features.core import step
from agents.features.state import FeatureState
from agents.features.ticks import ticks_from_batch
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import Keyspace
from tests.agents.features.test_features_agent import SYMBOL, perp_batches, wire
from tests.agents.strategy.agent_kit import Rig, bundle_doc
from tests.agents.worker_kit import Reader, WorkerFactory, publish, wait_for
from topics.market import MarketBatch

TIMEOUT_S = 60.0
FEATURES_A = {"interval_ms": 120_000, "ema_fast": 5, "ema_slow": 20, "atr_n": 7}
FEATURES_B = {**FEATURES_A, "ema_fast": 8}  # same bars, another EMA: the state carries over


@pytest.fixture
def rig(kafka_bootstrap: str, redis_url: str, clickhouse_url: str, unique_name: str) -> Iterator[Rig]:
    backend = ServerBackend(clickhouse_url, unique_name)
    migrate(backend)
    # the worker's topic prefix (make_worker's), so the follower reads the cfg.events the rig writes
    prefix = f"{unique_name}."
    r = Rig(kafka_bootstrap, prefix, Keyspace(prefix), redis_url, clickhouse_url, backend.database)
    yield r
    r.close()
    backend.execute(f"DROP DATABASE IF EXISTS {backend.database}")
    backend.close()
    with r.redis() as client:
        for key in client.scan_iter(match=f"{r.keyspace.prefix}*", count=500):
            client.unlink(key)


def doc(bundle_id: str, features: dict[str, Any]) -> dict[str, Any]:
    return bundle_doc(bundle_id) | {"features": features}


def core(
    batches: list[MarketBatch], cfg: FeatureConfig, state: FeatureState
) -> tuple[FeatureState, list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []
    for b in batches:
        state, events = step(state, ticks_from_batch(MarketBatch.decode(b.encode()), cfg.depth_levels), cfg)
        out += [dict(e) for e in events]
    return state, out


def events_of(reader: Reader) -> list[dict[str, Any]]:
    out = []
    for value in reader.values():
        event = json.loads(value)
        event.pop("v")
        out.append(event)
    return out


@pytest.mark.kafka
@pytest.mark.redis
@pytest.mark.clickhouse
def test_the_worker_runs_the_active_bundle_and_follows_an_activation(
    rig: Rig, make_worker: WorkerFactory
) -> None:
    a: Bundle = rig.load(doc("s2-a", FEATURES_A))
    b: Bundle = rig.load(doc("s2-b", FEATURES_B))
    assert a.rev != b.rev
    rig.activate(a)
    worker = rig.worker(make_worker).start()
    batches = perp_batches(120)
    half = len(batches) // 2
    state, expected_a = core(batches[:half], a.feature_config(), FeatureState(symbol=SYMBOL))
    _, expected_b = core(batches[half:], b.feature_config(), state)
    assert expected_a and expected_b

    events = Reader(rig.bootstrap, rig.topic("feat.events"))
    publish(rig.bootstrap, rig.topic("mkt.perp"), wire(batches[:half]))
    events.read_until(lambda vs: len(vs) >= len(expected_a), TIMEOUT_S, worker)
    got_a = events_of(events)
    assert got_a == expected_a
    assert {e["config_rev"] for e in got_a} == {a.rev}
    assert all(e["t0"] % 120_000 == 0 for e in got_a)  # the bundle's 2-minute bars, not the default 1

    rig.activate(b)
    line = f"config bundle s2-b rev {b.rev} is active"
    wait_for("the worker to install bundle b", lambda: line in worker.log_text(), TIMEOUT_S, worker)
    publish(rig.bootstrap, rig.topic("mkt.perp"), wire(batches[half:]))
    events.read_until(lambda vs: len(vs) >= len(expected_a) + len(expected_b), TIMEOUT_S, worker)
    got_b = events_of(events)[len(got_a) :]
    assert got_b == expected_b  # b's parameters on the state a built: one state, two revs in order
    assert {e["config_rev"] for e in got_b} == {b.rev}
    worker.assert_alive()
    events.close()


@pytest.mark.redis
@pytest.mark.clickhouse
@pytest.mark.parametrize(
    ("features", "named"),
    [
        ({"ema_fast": 30, "ema_slow": 10}, "ema_fast (30) must be shorter than ema_slow (10)"),
        ({"interval_ms": 0}, "features.interval_ms"),
        ({"rv_window": 60, "bars": 3}, "features.bars"),
    ],
    ids=["relation", "bound", "unknown"],
)
def test_an_invalid_feature_section_is_refused_at_load(
    rig: Rig, features: dict[str, Any], named: str
) -> None:
    with pytest.raises(BundleRefused) as refused:
        rig.load(doc("s2-bad", features))
    assert named in str(refused.value)
    assert all(m.startswith("features") for m in refused.value.messages)
