"""The daily regime job inside a real features worker: at start, with no state in Redis, it labels the
day that ended at the last UTC midnight from the ``signals`` closes on clickhouse-server, writes
``prod:{regime}:market:state`` and sends ``s2.regime_latency``; a pinned label is left alone.

The closes are the real BTC month (every 5th minute), moved in time so that its last complete day
ends at the last midnight: a worker runs on the wall clock, the job on the days before it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import redis
from features_kit import load_bars

from agents.features.config import RegimeConfig
from agents.features.regime import DAY_MS
from agents.features.regime_job import METRIC, regime_record
from agents.features.regime_service import state_is_due
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import Keyspace
from tests.agents.worker_kit import Reader, WorkerFactory, wait_for
from topics.ops import MetricEvent

TIMEOUT_S = 60.0
SYMBOL = "BTCUSDT"  # the job's symbol when no bundle is active
STEP = 5  # every 5th one-minute close


@dataclass
class Stack:
    prefix: str
    keyspace: Keyspace
    redis_url: str
    clickhouse_url: str
    database: str

    def env(self) -> dict[str, str]:
        return {
            "CHIMERA_REDIS_URL": self.redis_url,
            "CHIMERA_REDIS_KEY_PREFIX": self.keyspace.prefix,
            "CHIMERA_CLICKHOUSE_BACKEND": "server",
            "CHIMERA_CLICKHOUSE_URL": self.clickhouse_url,
            "CHIMERA_CLICKHOUSE_DATABASE": self.database,
        }


@pytest.fixture
def stack(redis_url: str, clickhouse_url: str, unique_name: str) -> Iterator[Stack]:
    backend = ServerBackend(clickhouse_url, unique_name)
    migrate(backend)
    s = Stack(f"{unique_name}.", Keyspace(f"{unique_name}."), redis_url, clickhouse_url, backend.database)
    yield s
    backend.execute(f"DROP DATABASE IF EXISTS {backend.database}")
    backend.close()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{s.keyspace.prefix}*", count=500):
        client.unlink(key)
    client.close()


def last_midnight() -> int:
    return int(time.time() * 1000) // DAY_MS * DAY_MS


def seed_signals(stack: Stack, midnight: int) -> tuple[np.ndarray, np.ndarray]:
    """Write the month's closes as ``signals`` rows ending at ``midnight``; return (t0, close)."""
    bars = load_bars().iloc[::STEP]
    t0 = bars["ts"].to_numpy(np.int64) + 60_000  # bar close
    last_day_end = (int(t0[-1]) - 1) // DAY_MS * DAY_MS  # the recording's last complete day
    t0 = t0 + (midnight - last_day_end)
    close = bars["close"].to_numpy(np.float64)
    n = len(t0)
    columns = {
        "signal_id": [f"sig-{SYMBOL}-{t}" for t in t0.tolist()],
        "symbol": [SYMBOL] * n,
        "market": ["FUT"] * n,
        "t0": t0.tolist(),
        "ts": t0.tolist(),
        "config_bundle_id": ["b"] * n,
        "config_rev": ["r"] * n,
        "feature_names": [["close"]] * n,
        "feature_values": [[c] for c in close.tolist()],
        "regime": [""] * n,
        "decision": ["skip"] * n,
        "side": [""] * n,
        "model_p": [float("nan")] * n,
        "reason": ["TEST"] * n,
        "size_mult": [0.0] * n,
        "version": [1] * n,
    }
    backend = ServerBackend(stack.clickhouse_url, stack.database)
    try:
        backend.insert("signals", list(columns), list(columns.values()))
    finally:
        backend.close()
    return t0, close


@pytest.mark.kafka
@pytest.mark.redis
@pytest.mark.clickhouse
def test_a_starting_worker_writes_the_missing_regime_state(
    kafka_bootstrap: str, make_worker: WorkerFactory, stack: Stack
) -> None:
    midnight = last_midnight()
    t0, close = seed_signals(stack, midnight)
    client = redis.Redis.from_url(stack.redis_url)
    key = stack.keyspace.regime_market_state()
    assert client.get(key) is None

    worker = make_worker(kafka_bootstrap, **stack.env()).start()
    raw = wait_for("the regime state in Redis", lambda: client.get(key), TIMEOUT_S, worker)
    record = json.loads(raw)
    # the last midnight when the worker started (the next one, should the test straddle it)
    assert record["as_of"] in (midnight, midnight + DAY_MS)
    assert record == regime_record(t0, close, record["as_of"], RegimeConfig())
    assert record["expires_at"] == record["as_of"] + RegimeConfig().ttl_ms
    assert record["regime"] in ("FROZEN", "NORMAL", "EXTREME") and record["rev"]

    metrics = Reader(kafka_bootstrap, worker.env["CHIMERA_TOPIC_PREFIX"] + "metrics.events")
    metrics.read_until(lambda vs: any(MetricEvent.decode(v).name == METRIC for v in vs), TIMEOUT_S, worker)
    latency = [m for m in map(MetricEvent.decode, metrics.values()) if m.name == METRIC]
    assert len(latency) == 1
    assert (latency[0].service, latency[0].kind) == ("s2", "timer")
    assert latency[0].tags == {"regime": record["regime"], "rev": record["rev"]}
    assert latency[0].value == latency[0].ts - record["as_of"] >= 0
    worker.assert_alive()
    metrics.close()
    client.close()


@pytest.mark.kafka
@pytest.mark.redis
@pytest.mark.clickhouse
def test_a_pinned_regime_is_left_alone(
    kafka_bootstrap: str, make_worker: WorkerFactory, stack: Stack
) -> None:
    seed_signals(stack, last_midnight())
    client = redis.Redis.from_url(stack.redis_url)
    key = stack.keyspace.regime_market_state()
    client.set(key, "EXTREME")
    worker = make_worker(kafka_bootstrap, **stack.env()).start()
    wait_for("the job to see the pin", lambda: "regime is pinned" in worker.log_text(), TIMEOUT_S, worker)
    assert client.get(key) == b"EXTREME"
    client.close()


def test_when_the_state_is_due() -> None:
    day = 19_000 * DAY_MS
    rec = json.dumps({"regime": "NORMAL", "as_of": day, "expires_at": day + 26 * 3_600_000})
    assert state_is_due(None, day, day + 1)
    assert not state_is_due(rec, day, day + 1)  # today's, still valid
    assert state_is_due(rec, day + DAY_MS, day + DAY_MS + 1)  # yesterday's: the midnight run was missed
    assert state_is_due(rec, day, day + 26 * 3_600_000)  # expired
    assert not state_is_due(b"FROZEN", day, day + 1)  # a pin
    assert state_is_due('{"regime": "NORMAL"}', day, day + 1)  # a broken record is replaced
