"""Factories for the market-data tests: the shipped data files, broken copies of them, and a reader
that drains a topic of the real broker up to its end offsets."""

from __future__ import annotations

import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from agents.connectors.marketdata import MarketEvent, MicroBatcher
from topics.market import MarketBatch

DATA = Path(__file__).resolve().parents[3] / "data"
BTC_MONTH = DATA / "nautilus" / "btc-perp-20211231-20220201_1m.csv"
BTC_BARS = 45_031


def broken_copy(src: Path, dst: Path, lines: int, edits: dict[int, str]) -> Path:
    """Write the first ``lines`` lines of ``src`` to ``dst``, replacing the 1-based lines in ``edits``."""
    with src.open() as fh:
        head = [next(fh) for _ in range(lines)]
    for lineno, text in edits.items():
        head[lineno - 1] = text + "\n"
    dst.write_text("".join(head))
    return dst


def drain(bootstrap: str, topic: str, timeout_s: float = 20.0) -> list[tuple[str, bytes]]:
    """Every (key, value) now in ``topic``, partition by partition, in offset order."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = {}
        for part in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
            if high > low:
                ends[part] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        out: list[tuple[str, bytes]] = []
        waited = 0.0
        while ends and waited < timeout_s:
            msgs = consumer.consume(1_000, timeout=0.05)
            waited = 0.0 if msgs else waited + 0.05
            for msg in msgs:
                assert msg.error() is None, msg.error()
                out.append(((msg.key() or b"").decode(), msg.value() or b""))
                if (msg.offset() or 0) + 1 >= ends.get(msg.partition() or 0, 0):
                    ends.pop(msg.partition() or 0, None)
        assert not ends, f"timed out draining {topic}: partitions {sorted(ends)} not read to the end"
        return out
    finally:
        consumer.close()


def batches_of(messages: list[tuple[str, bytes]]) -> list[MarketBatch]:
    return [MarketBatch.decode(value) for _, value in messages]


def batch_all(events: list[MarketEvent], window_ms: int = 1_000, max_ticks: int = 64) -> list[MarketBatch]:
    batcher = MicroBatcher(window_ms, max_ticks)
    out = [b for ev in events for b in batcher.add(ev)]
    return out + batcher.flush()
