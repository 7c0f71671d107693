"""Replay recorded market data into a (prefixed) topic set.

``replay_records`` is the core: records in, ``(topic, key, value)`` messages out through a ``send``
callable, paced in event time by an injected ``sleep``/``now`` pair. ``run_replay`` is the shell
that wires it to a confluent-kafka producer (bulk: linger + large batches), creates the market
topics and their dead-letter twins as ``topics/`` declares them, and shows a progress bar.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agents.connectors.marketdata import Malformed, MarketEvent, MicroBatcher
from agents.connectors.recordings import Record, load_files
from topics.admin import ensure_topics, plan
from topics.dlq import DeadLetter
from topics.market import MARKET_TOPICS, FundingEvent, MarketBatch, topic_for_market

Send = Callable[[str, str, bytes], None]

# bulk producer settings; bench/replay_publish.py measures them. Raw produce of the BTC month is
# ~20x faster than the replay's Python work upstream, so lz4 (smaller wire and log for repetitive
# JSON columns) costs the replay nothing measurable.
PRODUCER_CONFIG: dict[str, str | int] = {
    "linger.ms": 50,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
    "acks": "all",
}


@dataclass(slots=True)
class ReplayStats:
    ticks: int = 0
    batches: int = 0
    funding: int = 0
    dlq: int = 0
    seconds: float = 0.0
    malformed: list[Malformed] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return self.batches + self.funding + self.dlq

    def summary(self) -> str:
        rate = self.ticks / self.seconds if self.seconds else 0.0
        return (
            f"{self.ticks} ticks in {self.batches} batches, {self.funding} funding events, "
            f"{self.dlq} to DLQ, {self.seconds:.2f} s, {rate:,.0f} ticks/s"
        )


def dead_letter(bad: Malformed) -> bytes:
    """The DLQ record for a malformed input record: where it was, why, and the raw text."""
    letter = DeadLetter.of(bad.topic, bad.raw.encode(), bad.reason, ts=bad.ts, file=bad.file, line=bad.line)
    return letter.encode()


def new_prefix() -> str:
    return f"bt.{uuid.uuid4().hex[:10]}."


def topic_names(prefix: str) -> list[str]:
    """Every physical topic a replay may write: the market topics and their dead-letter topics."""
    return [p.name for p in plan(prefix, 1, MARKET_TOPICS)]


class _Pacer:
    """Sleep so that event time advances ``speed`` times faster than the injected clock."""

    def __init__(self, speed: float, now: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.speed, self.now, self.sleep = speed, now, sleep
        self.origin: tuple[int, float] | None = None

    def wait_until(self, ts: int) -> None:
        if self.speed <= 0:
            return
        if self.origin is None:
            self.origin = (ts, self.now())
            return
        due = self.origin[1] + (ts - self.origin[0]) / 1000.0 / self.speed
        delay = due - self.now()
        if delay > 0:
            self.sleep(delay)


def replay_records(
    records: Iterable[Record],
    send: Send,
    batcher: MicroBatcher,
    prefix: str,
    speed: float = 0.0,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_malformed: Callable[[Malformed], None] | None = None,
) -> ReplayStats:
    """Batch the ticks, publish batches / funding events / dead letters; return the counts."""
    stats = ReplayStats()
    pacer = _Pacer(speed, now, sleep)

    def publish(batches: list[MarketBatch]) -> None:
        for batch in batches:
            pacer.wait_until(batch.last_ts)
            send(prefix + topic_for_market(batch.market), batch.symbol, batch.encode())
            stats.batches += 1
            stats.ticks += len(batch)

    for record in records:
        if isinstance(record, MarketEvent):
            publish(batcher.add(record))
        elif isinstance(record, FundingEvent):
            pacer.wait_until(record.ts)
            send(prefix + "mkt.funding", record.symbol, record.encode())
            stats.funding += 1
        else:
            send(f"{prefix}dlq.{record.topic}", record.file, dead_letter(record))
            stats.dlq += 1
            stats.malformed.append(record)
            if on_malformed is not None:
                on_malformed(record)
    publish(batcher.flush())
    return stats


class BulkProducer:
    """A confluent-kafka producer that never drops: waits on a full queue, counts delivery errors."""

    def __init__(self, bootstrap: str, config: dict[str, str | int] | None = None) -> None:
        from topics.producer import make_producer

        self.errors: list[str] = []
        self._sent = 0
        # a delivery report only for a failure: a Python callback per message costs more than the send
        reports = {"on_delivery": self._delivered, "delivery.report.only.error": True}
        self._producer = make_producer(bootstrap, **(config or PRODUCER_CONFIG), **reports)

    def _delivered(self, err: object, msg: object) -> None:
        if err is not None:
            self.errors.append(str(err))

    def send(self, topic: str, key: str, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key.encode())
                break
            except BufferError:
                self._producer.poll(0.05)
        self._sent += 1
        if self._sent % 1_000 == 0:
            self._producer.poll(0)

    def flush(self, timeout: float = 60.0) -> None:
        left = self._producer.flush(timeout)
        if left or self.errors:
            raise RuntimeError(f"{left} messages undelivered, {len(self.errors)} errors: {self.errors[:3]}")


def run_replay(
    paths: list[Path],
    bootstrap: str,
    prefix: str,
    batcher: MicroBatcher,
    partitions: int,
    replication: int = 1,
    speed: float = 0.0,
    progress: bool = True,
) -> ReplayStats:
    """Replay files into ``prefix``-ed topics on the broker; wait for every ack."""
    from tqdm import tqdm

    ensure_topics(bootstrap, prefix, partitions, replication, names=MARKET_TOPICS)
    producer = BulkProducer(bootstrap)
    started = time.monotonic()
    bar = tqdm(load_files(paths), unit=" ev", disable=not progress, mininterval=0.5, file=sys.stderr)

    def report(bad: Malformed) -> None:
        bar.write(f"malformed: {bad}", file=sys.stderr)

    stats = replay_records(bar, producer.send, batcher, prefix, speed, on_malformed=report)
    bar.close()
    producer.flush()
    stats.seconds = time.monotonic() - started
    return stats
