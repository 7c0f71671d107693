"""Helpers for the embedded-stack tests: free ports, a Kafka round trip, "is this pid gone"."""

from __future__ import annotations

import os
import socket
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pid_gone(pid: int, within_s: float = 0.0) -> bool:
    """``os.kill(pid, 0)`` raises, now or within ``within_s``. A dead process orphaned by the CLI
    exiting stays a zombie until pid 1 reaps it; some inits (this sandbox's) do so only every second
    or two."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def kafka_roundtrip(bootstrap: str, timeout_s: float = 20.0) -> bytes:
    """Create a topic, produce one message, consume it back; return its value.

    The consumer is assigned its partition rather than joining a group: on Tansu a group's first
    join waits about half the session timeout (measured: librdkafka's 45 s default -> 23 s)."""
    topic = f"stack_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=10)
    value = uuid.uuid4().hex.encode()
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, key=b"k", value=value)
    assert producer.flush(10) == 0, "message not delivered"
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": topic,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,  # Tansu answers a fetch only when its wait expires (DESIGN §2)
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got = msg.value()
            assert got is not None
            return bytes(got)
        raise AssertionError(f"no message consumed from {topic} within {timeout_s} s")
    finally:
        consumer.close()
