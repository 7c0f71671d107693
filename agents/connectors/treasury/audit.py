"""The ops.events audit trail of treasury transfers: one ``topics.ops.OpsEvent`` per state change.

``kind`` is ``TRANSFER_<STATUS>`` (TRANSFER_PENDING … TRANSFER_DONE), plus TRANSFER_OUTCOME_UNKNOWN
when the venue could not say whether money moved; ``event_id`` is ``<transfer_id>.v<version>.<kind>``
so a consumer can drop a record it saw twice; ``subject`` is the transfer_id. The topic is keyed
"none" with one partition (its registry entry), so the trail has one total order.

The audit never decides a transfer: once the venue has moved money the answer stands, so a record
Kafka did not take is logged and counted (``undelivered``), not raised. treasury_transfers in
ClickHouse is the record a lost audit can be rebuilt from.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Protocol

from confluent_kafka import KafkaError, Message, Producer

from agents.connectors.treasury.machine import Transfer
from topics.ops import OpsEvent

log = logging.getLogger(__name__)

OPS_EVENTS = "ops.events"  # logical name; Settings.topic() adds the prefix
SOURCE = "connectors"
_NAME = re.compile(r"^\S{1,200}$")  # topics.base.Name: who did it, when it can be said in one word


def audit_event(t: Transfer, kind: str, message: str, ts: int) -> OpsEvent:
    o = t.order
    actor = o.approved_by or o.requested_by
    return OpsEvent(
        event_id=f"{o.transfer_id}.v{t.version}.{kind}",
        kind=kind,
        source=SOURCE,
        actor=actor if _NAME.fullmatch(actor) else None,
        subject=o.transfer_id,
        detail={
            "status": str(t.status),
            "version": t.version,
            "from_account": str(o.from_account),
            "to_account": str(o.to_account),
            "asset": o.asset,
            "amount": format(o.amount, "f"),  # a decimal string: money never travels as a float
            "message": message,
            "requested_by": o.requested_by,
            "approved_by": o.approved_by,
            "venue_transfer_id": t.venue_transfer_id,
        },
        ts=ts,
    )


class AuditLog(Protocol):
    async def emit(self, event: OpsEvent) -> None: ...

    async def flush(self) -> None: ...


class KafkaAudit:
    """Produce with confluent-kafka; ``flush`` (end of each request) waits for the broker's acks."""

    def __init__(self, producer: Producer, topic: str, flush_timeout_s: float = 10.0) -> None:
        self._producer = producer
        self.topic = topic
        self._flush_timeout_s = flush_timeout_s
        self.delivered = 0
        self.undelivered = 0

    async def emit(self, event: OpsEvent) -> None:
        value = event.encode()
        try:
            self._produce(value)
        except BufferError:  # the local queue is full: drain it once, then try again
            await self.flush()
            self._produce(value)

    def _produce(self, value: bytes) -> None:
        self._producer.produce(self.topic, value=value, on_delivery=self._on_delivery)
        self._producer.poll(0)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.undelivered += 1
        log.error("ops.events audit record not delivered (%s): %s", err, msg.value())

    async def flush(self) -> None:
        left = await asyncio.to_thread(self._producer.flush, self._flush_timeout_s)
        if left:
            log.error("%d ops.events audit record(s) still unsent after %.1f s", left, self._flush_timeout_s)
