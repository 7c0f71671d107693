"""End to end on the real Kafka broker: a worker that dies after inserting but before committing
offsets is replaced by one that re-reads the same messages; ClickHouse ends with each row once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from chimera.model.clock import TestClock
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.dialect import dialect_of
from sinks.clickhouse.sink import BatchingSink

pytestmark = pytest.mark.kafka

Rows = Callable[..., list[dict[str, Any]]]


def _consume(consumer: Consumer, count: int) -> list[Any]:
    got: list[Any] = []
    while len(got) < count:
        msgs = consumer.consume(num_messages=count - len(got), timeout=10.0)
        if not msgs:
            pytest.fail(f"only {len(got)} of {count} messages arrived")
        for msg in msgs:
            if msg.error():
                pytest.fail(f"consumer error: {msg.error()}")
            got.append(msg)
    return got


def _worker(kafka: str, group: str, topic: str, backend: ClickHouseBackend) -> tuple[Consumer, BatchingSink]:
    consumer = Consumer(
        {
            "bootstrap.servers": kafka,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    return consumer, BatchingSink(backend, TestClock(0), batch_rows=20, flush_ms=60_000)


def test_crash_between_insert_and_commit_leaves_no_duplicate(
    kafka_bootstrap: str, backend: ClickHouseBackend, fill_rows: Rows, unique_name: str
) -> None:
    topic = unique_name
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(timeout=30)
    rows = fill_rows(unique_name, 60)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for row in rows:
        producer.produce(topic, key=row["trade_id"], value=json.dumps(row, default=str))
    assert producer.flush(30) == 0

    # worker 1 inserts some batches, then dies before committing any offset
    consumer, sink = _worker(kafka_bootstrap, f"g-{unique_name}", topic, backend)
    for msg in _consume(consumer, 45):
        sink.add(
            json.loads(msg.value()),
            table="fills",
            topic=topic,
            partition=msg.partition(),
            offset=msg.offset(),
        )
    assert sink.rows_written > 0
    consumer.close()

    # worker 2 of the same group starts from nothing committed: every message again
    consumer, sink = _worker(kafka_bootstrap, f"g-{unique_name}", topic, backend)
    for msg in _consume(consumer, 60):
        sink.add(
            json.loads(msg.value()),
            table="fills",
            topic=topic,
            partition=msg.partition(),
            offset=msg.offset(),
        )
    safe = sink.flush()
    consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in safe.items()], asynchronous=False)
    committed = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
    consumer.close()

    assert sum(tp.offset for tp in committed) == 60  # both partitions committed to their end
    where = f"WHERE symbol = '{unique_name}'"
    assert backend.query(f"SELECT count(), sum(price) FROM fills FINAL {where}").rows == [
        (60, sum(r["price"] for r in rows))
    ]
    if dialect_of(backend).dedup_token:
        assert backend.query(f"SELECT count() FROM fills {where}").rows[0][0] == 60
    admin.delete_topics([topic])
