"""agents/transport.py on the real brokers: the fetch wait setting reaches the consumer, and a table
recovers to the true end of its changelog on Tansu (whose end offset lags a multi-record batch)."""

from __future__ import annotations

import json
import statistics
from itertools import islice

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from agents.connectors.marketdata import MicroBatcher
from agents.connectors.recordings import load_file
from agents.features.state import FeatureState
from tests.agents.connectors.market_fixtures import BTC_MONTH
from tests.agents.worker_kit import Reader, WorkerFactory, wait_for

HOPS = 8


@pytest.mark.tansu
def test_fetch_wait_setting_sets_the_hop_latency_on_tansu(
    tansu_bootstrap: str, make_worker: WorkerFactory
) -> None:
    """One batch in, its feature event out, one at a time: Faust's fixed 1500 ms wait measured
    ~720 ms a hop on Tansu (p50), the 5 ms setting ~7 ms."""
    worker = make_worker(tansu_bootstrap, CHIMERA_CONSUMER_FETCH_WAIT_MS="5").start()
    prefix = worker.env["CHIMERA_TOPIC_PREFIX"]
    batcher = MicroBatcher(60_000, 256)  # one bar per batch: each batch closes the bar before it
    batches = [b for ev in islice(load_file(BTC_MONTH), 4 * (HOPS + 3)) for b in batcher.add(ev)]
    producer = Producer({"bootstrap.servers": tansu_bootstrap, "linger.ms": 0})
    events = Reader(tansu_bootstrap, prefix + "feat.events")
    sent: list[int] = []

    def on_delivery(err: object, msg: object) -> None:
        sent.append(msg.timestamp()[1])  # type: ignore[attr-defined]

    def has(n: int) -> bool:
        events.poll()
        return len(events.records) >= n

    hops = []
    for i, batch in enumerate(batches):
        producer.produce(prefix + "mkt.perp", batch.encode(), b"BTCUSDT", on_delivery=on_delivery)
        producer.flush(10)
        if i:
            wait_for(f"feature event {i}", lambda n=i: has(n), 10, worker)
            hops.append(events.records[-1][2] - sent[-1])  # both stamped at send, on one clock
    p50 = statistics.median(hops[2:])  # the first hops include the consumer's first fetches
    assert p50 < 100, f"hop p50 {p50} ms: the fetch wait did not reach the consumer ({hops})"
    events.close()


def test_table_recovers_the_last_record_of_a_multi_record_changelog_batch(
    any_bootstrap: str, make_worker: WorkerFactory
) -> None:
    records = 10
    worker = make_worker(any_bootstrap)
    changelog = worker.env["CHIMERA_TOPIC_PREFIX"] + "w-features-changelog"
    admin = AdminClient({"bootstrap.servers": any_bootstrap})
    admin.create_topics([NewTopic(changelog, 2, 1, config={"cleanup.policy": "compact"})])[changelog].result()
    producer = Producer({"bootstrap.servers": any_bootstrap, "linger.ms": 200})  # one batch of them all
    state = FeatureState(symbol="BTCUSDT").to_dict()
    for offset in range(records):
        entry = {"v": 1, "state": state, "offsets": {"mkt.perp": offset}}
        producer.produce(changelog, json.dumps(entry).encode(), b"BTCUSDT", partition=1)
    assert producer.flush(10) == 0

    worker.start()
    recovered = worker.get_json("/features/BTCUSDT/")
    assert recovered is not None and recovered["offsets"] == {"mkt.perp": records - 1}
