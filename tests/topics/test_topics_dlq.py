"""``route``: records consumed from a real topic either decode or land in its dead-letter twin."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from tests.topics.topic_examples import SYM, config_event, order_result
from topics import DeadLetter, encode, key_for, route
from topics.admin import broker_topics, delete_topics, ensure_topics
from topics.dlq import dlq_topic


@pytest.fixture
def prefix(kafka_bootstrap: str, unique_name: str) -> Iterator[str]:
    yield f"{unique_name}."
    delete_topics(
        kafka_bootstrap, [n for n in broker_topics(kafka_bootstrap) if n.startswith(f"{unique_name}.")]
    )


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 20.0) -> list[Message]:
    """The first ``expected`` records of ``topic`` (all partitions, from the start)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out: list[Message] = []
        waited = 0.0
        while len(out) < expected and waited < timeout_s:
            batch = consumer.consume(100, timeout=0.1)
            waited += 0.1
            for msg in batch:
                assert msg.error() is None, msg.error()
                out.append(msg)
        assert len(out) == expected, f"{topic}: {len(out)} of {expected} records after {timeout_s} s"
        return out
    finally:
        consumer.close()


@pytest.mark.kafka
def test_the_valid_record_decodes_and_the_invalid_one_goes_to_the_dlq(
    kafka_bootstrap: str, prefix: str
) -> None:
    ensure_topics(kafka_bootstrap, prefix, partitions=2, names=["ord.results"])
    topic = prefix + "ord.results"
    good = order_result()
    bad = json.dumps({**json.loads(encode(good)), "version": 2, "filled_qty": 0.015}).encode()  # a float
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for value in (encode(good, topic), bad):
        producer.produce(topic, value, key_for(topic, good))
    assert producer.flush(10) == 0

    counter: Counter[str] = Counter()
    decoded, letters = [], []
    for msg in consume_all(kafka_bootstrap, topic, 2):
        model, letter = route(
            msg.topic() or "",
            msg.value(),
            lambda t, k, v: producer.produce(t, v, k),
            key=msg.key(),
            partition=msg.partition(),
            offset=msg.offset(),
            ts=msg.timestamp()[1],
            counter=counter,
        )
        if model is not None:
            decoded.append(model)
        if letter is not None:
            letters.append((letter, msg.partition(), msg.offset()))
    assert producer.flush(10) == 0

    assert decoded == [good]
    [(letter, partition, offset)] = letters
    assert counter == Counter({"ord.results": 1})
    assert "filled_qty" in letter.reason and letter.reason.startswith(f"{topic}: invalid OrderResult")

    [dead] = consume_all(kafka_bootstrap, prefix + "dlq.ord.results", 1)
    on_dlq = DeadLetter.decode(dead.value() or b"")
    assert on_dlq == letter
    assert (on_dlq.source_topic, on_dlq.partition, on_dlq.offset) == (topic, partition, offset)
    assert on_dlq.raw_bytes() == bad and dead.key() == SYM.encode() == on_dlq.key.encode()  # type: ignore[union-attr]
    assert on_dlq.ts is not None and on_dlq.ts > 0


def test_a_tombstone_on_a_compacted_topic_is_a_deletion_not_an_error() -> None:
    sent: list[tuple[str, bytes | None, bytes]] = []
    counter: Counter[str] = Counter()
    assert route("bt.r1.cfg.events", None, lambda *a: sent.append(a), key=b"trend-v3", counter=counter) == (
        None,
        None,
    )
    model, _ = route("bt.r1.cfg.events", encode(config_event()), lambda *a: sent.append(a), counter=counter)
    assert model == config_event() and sent == [] and not counter


def test_an_empty_or_garbled_record_elsewhere_is_dead_lettered() -> None:
    sent: list[tuple[str, bytes | None, bytes]] = []
    counter: Counter[str] = Counter()
    _, empty = route("ord.results", None, lambda *a: sent.append(a), key="BTCUSDT", counter=counter)
    _, garbled = route("bt.r1.mkt.perp", b"\x00\xff", lambda *a: sent.append(a), counter=counter)
    assert empty is not None and "(value): the record has no value" in empty.reason
    assert garbled is not None and garbled.raw_encoding == "base64" and garbled.raw_bytes() == b"\x00\xff"
    assert [(t, k) for t, k, _ in sent] == [("dlq.ord.results", b"BTCUSDT"), ("bt.r1.dlq.mkt.perp", None)]
    assert counter == Counter({"ord.results": 1, "mkt.perp": 1})


def test_a_broken_dead_letter_is_counted_but_has_nowhere_further_to_go() -> None:
    sent: list[tuple[str, bytes | None, bytes]] = []
    counter: Counter[str] = Counter()
    _, letter = route("bt.r1.dlq.ord.results", b"{}", lambda *a: sent.append(a), counter=counter)
    assert letter is not None and "source_topic" in letter.reason
    assert sent == [] and counter == Counter({"dlq.ord.results": 1})
    with pytest.raises(ValueError, match="is a dead-letter topic"):
        dlq_topic("bt.r1.dlq.ord.results")
