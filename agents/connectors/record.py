"""Capture market topics to a JSON-lines file that ``chimera replay`` reads back.

One line per message: ``{"topic": <logical topic>, "key": ..., "ts": <event time>, "value": <message>}``.
The capture reads each partition up to the end offset it had when the capture started, and the
lines are written in event-time order (stable, so one symbol's messages keep their order).
"""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

_TS_FIELDS = ("first_ts", "ts")


def _event_ts(value: bytes) -> int:
    try:
        obj = json.loads(value)
    except ValueError:
        return 0
    for name in _TS_FIELDS:
        if isinstance(obj, dict) and isinstance(obj.get(name), int):
            return int(obj[name])
    return 0


def record_line(topic: str, key: bytes | None, value: bytes, ts: int) -> str:
    """Format one captured message; the value is embedded as it was on the wire (it is JSON)."""
    head = json.dumps({"topic": topic, "key": key.decode() if key else None, "ts": ts})
    return f'{head[:-1]}, "value": {value.decode()}}}\n'


def capture(bootstrap: str, topics: list[str], prefix: str, out: Path, timeout_s: float = 30.0) -> int:
    """Copy every message now in ``prefix + topic`` for each topic into ``out``; return the count."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"chimera-record-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        try:
            meta = consumer.list_topics(timeout=10)
        except KafkaException as exc:
            raise RuntimeError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
        ends: dict[tuple[str, int], int] = {}
        for logical in topics:
            name = prefix + logical
            if name not in meta.topics:
                raise ValueError(f"topic {name} does not exist")
            for part in meta.topics[name].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, part), timeout=10)
                if high > low:
                    ends[(name, part)] = high
        consumer.assign([TopicPartition(t, p, 0) for t, p in ends])
        lines: list[tuple[int, str]] = []
        waited = 0.0
        while ends and waited < timeout_s:
            msgs = consumer.consume(1_000, timeout=0.05)
            waited = 0.0 if msgs else waited + 0.05
            for msg in msgs:
                if msg.error():
                    raise RuntimeError(f"consume failed: {msg.error()}")
                topic, part, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
                value = msg.value() or b""
                ts = _event_ts(value)
                lines.append((ts, record_line(topic[len(prefix) :], msg.key(), value, ts)))
                if offset + 1 >= ends.get((topic, part), 0):
                    ends.pop((topic, part), None)
        if ends:
            raise RuntimeError(f"timed out reading {sorted(ends)}")
    finally:
        consumer.close()
    lines.sort(key=lambda item: item[0])
    opener = gzip.open if out.name.endswith(".gz") else open
    with opener(out, "wt") as fh:
        fh.writelines(line for _, line in lines)
    return len(lines)
