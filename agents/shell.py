"""What every agent's shell does with its input: raw records in, validated values out.

A record that fails its topic's schema (``topics.dlq.route``), whose key is not the one its topic is
keyed by (a symbol-keyed batch under another symbol's key would break co-partitioning), or that the
agent's own ``convert`` step refuses goes to ``dlq.<topic>`` as a :class:`~topics.envelope.DeadLetter`
with the reason, is counted (``Source.dead_letters`` in the worker, and a ``dead_letters`` counter on
``metrics.events`` for S11), and the stream goes on (DESIGN §1.6)::

    source = Source(app, ("mkt.perp",), convert=to_core_input, service="features")

    @app.agent(source.channel)
    async def agent(stream):
        async for d in source.deliveries(stream):
            ...  # d.value, d.key, d.partition

and queues the rows an event made for ClickHouse (:class:`RowQueue`): while ClickHouse refuses, the
stream is held, not the rows dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from faust.types import Message, StreamT
from pydantic import BaseModel

import topics  # noqa: F401  (registers every topic)
from agents.app import ChimeraApp
from sinks.clickhouse.sink import BatchingSink, SinkBackpressure
from topics.codec import encode, key_for
from topics.dlq import dlq_topic, route
from topics.envelope import DeadLetter
from topics.ops import MetricEvent
from topics.registry import dlq_name

log = logging.getLogger(__name__)

T = TypeVar("T")
Letter = tuple[str, bytes | None, bytes]  # physical dead-letter topic, key, DeadLetter bytes


@dataclass(frozen=True, slots=True)
class Delivery(Generic[T]):
    """A valid record and where it came from; outputs and table writes stay on ``partition``."""

    topic: str  # logical name
    key: str
    value: T
    partition: int
    offset: int


def _identity(model: BaseModel) -> Any:
    return model


class Source(Generic[T]):
    """Logical topics an agent consumes, with their dead-letter topics and a dead-letter count."""

    def __init__(
        self,
        app: ChimeraApp,
        names: Sequence[str],
        convert: Callable[[BaseModel], T] = _identity,
        service: str | None = None,
    ) -> None:
        self.channel = app.input_topic(*names)
        self._logical = {app.settings.topic(n): n for n in names}
        self._dlq = {app.settings.topic(dlq_name(n)): app.output_topic(dlq_name(n)) for n in names}
        self._metrics = app.output_topic("metrics.events")
        self._convert = convert
        self.service = service or app.settings.worker_id  # who the metric names
        self.dead_letters: Counter[str] = Counter()  # logical topic -> records sent to its DLQ

    async def deliveries(self, stream: StreamT) -> AsyncIterator[Delivery[T]]:
        """Yield the valid records of the stream; dead-letter the others."""
        async for event in stream.events():
            msg = event.message
            delivery, letters = self._accept(msg)
            for topic, key, value in letters:
                await self._dlq[topic].send(key=key, value=value)
                metric = MetricEvent(
                    service=self.service,
                    name="dead_letters",
                    kind="counter",
                    value=1.0,
                    tags={"topic": self._logical[msg.topic]},
                    ts=_ms(msg.timestamp) or 0,
                )
                await self._metrics.send(key=self.service.encode(), value=encode(metric, "metrics.events"))
            if delivery is not None:
                yield delivery

    def _accept(self, msg: Message) -> tuple[Delivery[T] | None, list[Letter]]:
        """The record as a delivery, or the dead letters to send for it (route sends synchronously)."""
        letters: list[Letter] = []

        def send(topic: str, key: bytes | None, value: bytes) -> None:
            letters.append((topic, key, value))

        ts = _ms(msg.timestamp)
        model, letter = route(
            msg.topic, msg.value, send, key=msg.key, partition=msg.partition, offset=msg.offset, ts=ts,
            counter=self.dead_letters,
        )  # fmt: skip
        if model is None:
            if letter is not None:
                log.warning("dead letter %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, letter.reason)
            return None, letters  # dead-lettered, or a tombstone
        try:
            key = _check_key(msg.topic, msg.key, model)
            value = self._convert(model)
        except ValueError as exc:
            reason = f"{msg.topic}: {exc}"
            letter = DeadLetter.of(
                msg.topic,
                msg.value or b"",
                reason,
                partition=msg.partition,
                offset=msg.offset,
                key=msg.key,
                ts=ts,
            )
            send(dlq_topic(msg.topic), msg.key, letter.encode())
            self.dead_letters[self._logical[msg.topic]] += 1
            log.warning("dead letter %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, reason)
            return None, letters
        return Delivery(self._logical[msg.topic], key, value, msg.partition, msg.offset), letters


class RowQueue:
    """An agent's rows into its :class:`BatchingSink`, written before the offsets that made them
    are committed (the agent calls :meth:`flush` when Faust starts a commit and on a timer).

    :meth:`add` holds the stream while the sink is full and ClickHouse refuses (back-pressure: the
    event is not done until its rows are queued), so nothing is dropped; a row its table refuses is
    a bug in the agent's row builder and is logged as an error with the row.
    """

    def __init__(self, sink: BatchingSink, what: str, on_empty: Callable[[], None] | None = None) -> None:
        self.sink = sink
        self.what = what  # the rows' name in the log: "router rows", "positions_snapshots rows"
        self._on_empty = on_empty  # called when a flush leaves nothing queued
        self.flush_failures = 0

    async def add(
        self, rows: Iterable[tuple[str, Mapping[str, Any]]], topic: str, partition: int, offset: int
    ) -> None:
        """Queue ``(table, row)`` pairs under the input's (topic, partition, offset)."""
        for table, row in rows:
            while True:
                try:
                    self.sink.add(row, table=table, topic=topic, partition=partition, offset=offset)
                    break
                except SinkBackpressure as exc:
                    log.warning("%s not written, holding the stream: %s", self.what, exc)
                    await asyncio.sleep(exc.retry_after_ms / 1000)
                    self.flush(force=True)
        for bad in self.sink.take_dead_letters():
            log.error("%s: a row refused by %s: %s (%s)", self.what, bad.table, bad.error, dict(bad.row))

    def flush(self, force: bool) -> bool:
        """Write the queued rows (all of them, or only the batches due); True when none is left."""
        try:
            self.sink.flush() if force else self.sink.flush_due()
        except SinkBackpressure as exc:
            self.flush_failures += 1
            log.warning("%s not written yet, kept for retry: %s", self.what, exc)
        empty = self.sink.pending_rows() == 0
        if empty and self._on_empty is not None:
            self._on_empty()
        return empty


def _check_key(topic: str, raw_key: bytes | None, model: BaseModel) -> str:
    expected = key_for(topic, model)
    if expected is not None and raw_key != expected:
        raise ValueError(f"record key {raw_key!r} is not {expected.decode()!r}, the record's own key")
    return (raw_key or b"").decode("utf-8")


def _ms(timestamp_s: float | None) -> int | None:
    return round(timestamp_s * 1000) if timestamp_s else None  # Faust gives seconds
