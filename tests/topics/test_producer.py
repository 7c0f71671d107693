"""Records keyed by symbol land on the partition Faust's own sends choose (co-partitioning)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import Consumer, TopicPartition

from topics.admin import ensure_topics
from topics.producer import make_producer

SYMBOLS = [f"SYM{i}USDT" for i in range(40)] + ["BTCUSDT", "ETHUSDT", "XRPUSDT"]
PARTITIONS = 4


def test_keyed_records_land_where_aiokafka_puts_them(kafka_bootstrap: str, unique_name: str) -> None:
    prefix = f"{unique_name}."
    ensure_topics(kafka_bootstrap, prefix, PARTITIONS, 1, names=["mkt.perp"])
    topic = prefix + "mkt.perp"
    producer = make_producer(kafka_bootstrap)
    for symbol in SYMBOLS:
        producer.produce(topic, b"{}", symbol.encode())
    assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": unique_name})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    landed: dict[str, int] = {}
    while len(landed) < len(SYMBOLS):
        msg = consumer.poll(10)
        assert msg is not None, f"only {len(landed)} of {len(SYMBOLS)} records came back"
        landed[msg.key().decode()] = msg.partition()
    consumer.close()

    faust_choice = DefaultPartitioner()
    parts = list(range(PARTITIONS))
    expected = {s: faust_choice(s.encode(), parts, parts) for s in SYMBOLS}
    assert landed == expected
    assert len(set(landed.values())) == PARTITIONS  # the keys really spread
