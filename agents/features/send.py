"""Feature events out as whole record batches: one aiokafka ``send_batch`` per partition and window.

Faust's ``Topic.send`` costs more per message than S2's core costs per bar (measured with py-spy on
the worker: ~14% of its time in ``Topic.send`` against ~10% in ``step``, and every message then goes
through aiokafka's accumulator one by one). A window's events for a partition are appended to
one ``BatchBuilder`` (a new one when full) and handed to the producer Faust runs, so Faust's
``producer.flush()`` before each offset commit still covers them.

Batches are up to ``BATCH_BYTES``, not the producer's 16 KiB: aiokafka puts ONE batch per partition
in a produce request and has one request in flight per broker, so a window of 300 input batches
(5,000 events, 3.5 MB) in 16 KiB batches was ~220 round trips one after the other before the
window's acks were in (measured on the BTC month: ~720 µs per input batch in the worker).

The producer is Faust's aiokafka one, reached through its driver's ``_ensure_producer``, and its
batches are built as aiokafka's ``create_batch`` builds them but for the size (its accumulator's
codec and transactional flag): private, so their absence is an error naming this module rather
than a silent fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

from agents.app import ChimeraApp

BATCH_BYTES = 512 * 1024  # well under the broker's message.max.bytes and the 1 MB request limit


def kafka_producer(app: ChimeraApp) -> AIOKafkaProducer:
    ensure = getattr(app.producer, "_ensure_producer", None)
    if ensure is None:
        raise RuntimeError("Faust's producer has no _ensure_producer: update agents/features/send.py")
    producer = ensure()
    assert isinstance(producer, AIOKafkaProducer)
    return producer


def new_batch(producer: AIOKafkaProducer) -> BatchBuilder:
    """``producer.create_batch()``, of ``BATCH_BYTES``."""
    acc = getattr(producer, "_message_accumulator", None)
    if acc is None or not hasattr(acc, "_compression_type") or not hasattr(acc, "_txn_manager"):
        raise RuntimeError("aiokafka's accumulator changed: update agents/features/send.py")
    txn = acc._txn_manager
    transactional = txn is not None and txn.transactional_id is not None
    return BatchBuilder(BATCH_BYTES, acc._compression_type, is_transactional=transactional)


class BatchSender:
    """Records for one topic gathered per partition, sent as batches by :meth:`send`."""

    def __init__(self, app: ChimeraApp, topic: str) -> None:
        self.app, self.topic = app, topic  # physical name
        self.pending: dict[int, list[tuple[bytes, bytes]]] = {}
        self.records = 0

    def add(self, partition: int, key: bytes, value: bytes) -> None:
        self.pending.setdefault(partition, []).append((key, value))
        self.records += 1

    def extend(self, partition: int, key: bytes, values: list[bytes]) -> None:
        """:meth:`add` of several values under one key (a batch's events)."""
        if not values:  # an empty batch would be acked without an offset (aiokafka's done_noack)
            return
        self.pending.setdefault(partition, []).extend([(key, v) for v in values])
        self.records += len(values)

    async def send(self) -> list[Awaitable[Any]]:
        """Hand every pending record to the producer; the futures of their batches' acks."""
        producer = kafka_producer(self.app)
        futures: list[Awaitable[Any]] = []
        for partition, records in self.pending.items():
            batch, n = new_batch(producer), 0
            for key, value in records:
                if batch.append(timestamp=None, key=key, value=value) is None:  # full: send it
                    futures.append(await self._send(producer, batch, partition, n))
                    batch, n = new_batch(producer), 0
                    if batch.append(timestamp=None, key=key, value=value) is None:
                        raise ValueError(f"{self.topic}: a {len(value)}-byte record exceeds a whole batch")
                n += 1
            futures.append(await self._send(producer, batch, partition, n))
        self.pending.clear()
        self.records = 0
        return futures

    async def _send(self, producer: AIOKafkaProducer, batch: Any, partition: int, n: int) -> Awaitable[Any]:
        """One batch, told to the app's sensors as one send whose offset is its last record's:
        Faust's ``Topic.send`` tells them of every message, and the replay barrier
        (``agents.router.agent.Progress``: what was produced, what is consumed) counts on it; a
        batch it never heard of let a paced replay publish the next market batch before S3 had
        decided on these events (found by the Kafka-path vs in-process demo test)."""
        sensors = self.app.sensors
        state = sensors.on_send_initiated(producer, self.topic, None, 0, 0)  # type: ignore[arg-type]
        fut = await producer.send_batch(batch, self.topic, partition=partition)

        def told(f: asyncio.Future[Any]) -> None:
            exc = None if f.cancelled() else f.exception()
            if f.cancelled() or exc is not None:
                sensors.on_send_error(producer, exc or asyncio.CancelledError(), state)
            else:
                meta = f.result()
                sensors.on_send_completed(producer, state, meta._replace(offset=meta.offset + n - 1))

        fut.add_done_callback(told)
        return cast(Awaitable[Any], fut)
