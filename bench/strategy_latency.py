"""S3 decision latency on the real Kafka: a feature event produced on ``feat.events`` -> its intent
read from ``ord.intents``, through a real ``chimera worker --services strategy`` (Redis inputs, the
logistic model, the entry gate in Redis, the signals sink on clickhouse-server).

    .venv/bin/python bench/strategy_latency.py [--events 600] [--interval-ms 20] [--warmup 50]

Every event is an entry (the EMA sign flips each bar; budget and concurrency are unbounded), sent one
at a time ``interval-ms`` apart so that what is measured is latency, not a queue. Two clocks: this
process's (perf_counter before produce -> the intent in hand, so the reader's fetch is included) and
the broker's (the intent record's CreateTime minus the feature record's, ms). The run lives under its
own topic prefix, Redis key prefix and database, all removed afterwards. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import redis
from confluent_kafka import Consumer, Producer, TopicPartition

from agents.config.kafka import KafkaEventSender
from agents.config.store import ConfigStore
from agents.features.core import FEATURES
from chimera.model import LiveClock, signal_id_for
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import Keyspace, make_client
from topics.admin import broker_topics, delete_topics
from topics.trading import FeatureEvent, IntentMessage, OrderIntent

CHIMERA = str(Path(sys.executable).with_name("chimera"))
T0 = 1_641_038_400_000
FUT = {"market": "FUT", "tick_size": "0.01", "lot_size": "0.001", "min_qty": "0.001", "min_notional": "5"}


def bundle() -> str:
    strategy = {
        "instruments": {"BTCUSDT": FUT},
        "margin_per_position_usdt": "100",
        "margin_budget_usdt": "1000000000",
        "max_concurrency_per_symbol": 1_000_000,
        "leverage": 5,
        "rules": [{"name": "calm", "priority": 1, "when": "features.rv < 5", "then": {"size_mult": 0.8}}],
        "model": {"weights": {"ret_1": 100.0, "rv": -0.2}},
    }
    return json.dumps({"bundle_id": "bench", "strategy": strategy})


def feature(i: int) -> FeatureEvent:
    t0 = T0 + i * 60_000
    feats: dict[str, float | int | None] = dict.fromkeys(FEATURES, 1.0)
    feats.update(
        close=50_000.0, atr=50.0, rv=0.6, ret_1=0.0005, ema_slow=100.0, ema_fast=101.0 if i % 2 else 99.0
    )
    return FeatureEvent(
        signal_id=signal_id_for("BTCUSDT", t0, "bench"),
        t0=t0,
        symbol="BTCUSDT",
        features=feats,
        config_rev="bench",
    )


async def setup(store_args: tuple[ServerBackend, str, Keyspace, str, str]) -> str:
    backend, redis_url, ks, bootstrap, prefix = store_args
    client = make_client(url=redis_url)
    try:
        store = ConfigStore(backend, client, ks, KafkaEventSender(bootstrap, prefix), LiveClock())
        loaded = await store.load(bundle(), "bench")
        await store.activate("bench", loaded.bundle.rev, "bench")
        await client.set(ks.regime_market_state(), json.dumps({"regime": "NORMAL", "expires_at": 2**62}))
        await client.set(ks.health_system_state(), "GREEN")
        return loaded.bundle.rev
    finally:
        await client.aclose()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    proc = subprocess.Popen(
        [CHIMERA, "worker", "--services", "strategy", "--loglevel", "info"],
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while b"[^Worker]: Ready" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(10)
            raise SystemExit(f"worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=600)
    ap.add_argument("--interval-ms", type=float, default=20.0)
    ap.add_argument("--warmup", type=int, default=50, help="first events left out of the figures")
    ap.add_argument("--bootstrap", default=os.environ.get("CHIMERA_TEST_KAFKA", "127.0.0.1:19092"))
    ap.add_argument("--redis", default=os.environ.get("CHIMERA_TEST_REDIS", "redis://127.0.0.1:16379/0"))
    ap.add_argument(
        "--clickhouse",
        default=os.environ.get("CHIMERA_TEST_CLICKHOUSE", "clickhouse://default@127.0.0.1:19000/default"),
    )
    a = ap.parse_args()
    run = f"bench_s3_{uuid.uuid4().hex[:8]}"
    prefix, ks = f"{run}.", Keyspace(f"{run}.")
    backend = ServerBackend(a.clickhouse, run)
    migrate(backend)
    tmp = Path(tempfile.mkdtemp(prefix="s3bench"))
    env = {
        "CHIMERA_KAFKA_BOOTSTRAP": a.bootstrap,
        "CHIMERA_TOPIC_PREFIX": prefix,
        "CHIMERA_WORKER_ID": "w",
        "CHIMERA_TOPIC_PARTITIONS": "2",
        "CHIMERA_DATA_DIR": str(tmp),
        "CHIMERA_WORKER_WEB_PORT": str(free_port()),
        "CHIMERA_REDIS_URL": a.redis,
        "CHIMERA_REDIS_KEY_PREFIX": ks.prefix,
        "CHIMERA_CLICKHOUSE_BACKEND": "server",
        "CHIMERA_CLICKHOUSE_URL": a.clickhouse,
        "CHIMERA_CLICKHOUSE_DATABASE": run,
    }
    proc: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(setup((backend, a.redis, ks, a.bootstrap, prefix)))
        proc = start_worker(env, tmp / "worker.log")
        sent: dict[str, float] = {}
        got: dict[str, tuple[float, int]] = {}
        feat_ts: dict[str, int] = {}
        done = threading.Event()

        def read() -> None:
            consumer = Consumer(
                {
                    "bootstrap.servers": a.bootstrap,
                    "group.id": f"{run}-r",
                    "fetch.wait.max.ms": 1,
                    "enable.auto.commit": False,
                }
            )
            topic = prefix + "ord.intents"
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
            while not done.is_set():
                for msg in consumer.consume(100, timeout=0.01):
                    if msg.error() is None:
                        intent = IntentMessage.model_validate_json(msg.value() or b"").root
                        assert isinstance(intent, OrderIntent)
                        got[str(intent.signal_id)] = (time.perf_counter(), msg.timestamp()[1])
            consumer.close()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(1.0)  # the reader is assigned before the first event
        producer = Producer({"bootstrap.servers": a.bootstrap, "linger.ms": 0, "acks": 1})
        topic = prefix + "feat.events"

        def on_delivery(err: object, msg: object) -> None:
            if err is None:
                m = msg  # confluent_kafka.Message
                feat_ts[json.loads(m.value())["signal_id"]] = m.timestamp()[1]  # type: ignore[attr-defined]

        for i in range(a.events):
            ev = feature(i)
            sent[ev.signal_id] = time.perf_counter()
            producer.produce(topic, ev.encode(), b"BTCUSDT", on_delivery=on_delivery)
            producer.poll(0)
            time.sleep(a.interval_ms / 1000)
        producer.flush(15)
        deadline = time.monotonic() + 60
        while len(got) < a.events - 1 and time.monotonic() < deadline:  # the first bar has nothing to cross
            time.sleep(0.05)
        done.set()
        reader.join(5)
        ids = [feature(i).signal_id for i in range(a.warmup, a.events)]
        lat = [(got[s][0] - sent[s]) * 1000 for s in ids if s in got]
        broker = [float(got[s][1] - feat_ts[s]) for s in ids if s in got and s in feat_ts]
        if not lat:
            raise SystemExit("no intents came back")
        print(
            f"S3 decision latency, feat.events -> ord.intents, {len(lat)} entries ({a.interval_ms} ms apart)"
        )
        print(
            f"  bench clock  ms: p50 {pct(lat, 50)}  p90 {pct(lat, 90)}  p99 {pct(lat, 99)}  "
            f"max {max(lat):.2f}"
        )
        print(f"  broker stamp ms: p50 {pct(broker, 50)}  p90 {pct(broker, 90)}  p99 {pct(broker, 99)}")
        print(
            json.dumps(
                {
                    "bench": "strategy_latency",
                    "events": len(lat),
                    "missing": a.events - 1 - len(got),
                    "interval_ms": a.interval_ms,
                    "p50_ms": pct(lat, 50),
                    "p90_ms": pct(lat, 90),
                    "p99_ms": pct(lat, 99),
                    "max_ms": round(max(lat), 2),
                    "broker_p50_ms": pct(broker, 50),
                    "broker_p99_ms": pct(broker, 99),
                }
            )
        )
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        backend.execute(f"DROP DATABASE IF EXISTS {run}")
        backend.close()
        with redis.Redis.from_url(a.redis) as r:
            for key in r.scan_iter(match=f"{ks.prefix}*"):
                r.unlink(key)
        delete_topics(a.bootstrap, [t for t in broker_topics(a.bootstrap) if t.startswith(prefix)])


if __name__ == "__main__":
    main()
