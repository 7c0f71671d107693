"""Wire a TreasuryService from its parts, or from Settings (one Redis client, ClickHouse sink, producer)."""

from __future__ import annotations

from confluent_kafka import Producer

from agents.connectors.port import Venue
from agents.connectors.treasury.audit import OPS_EVENTS, KafkaAudit
from agents.connectors.treasury.daily import DailyLedger
from agents.connectors.treasury.journal import TransferJournal
from agents.connectors.treasury.policy import TreasuryPolicy
from agents.connectors.treasury.records import TransferRecords
from agents.connectors.treasury.service import ServiceConfig, TreasuryService
from chimera.model import Clock
from chimera.settings import Settings
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.factory import open_backend
from sinks.clickhouse.sink import BatchingSink
from sinks.redis import Keyspace, Locks, RedisClient, make_client
from topics.producer import make_producer


def audit_producer(bootstrap: str, client_id: str) -> Producer:
    # idempotent producer: a retried send after a lost ack does not duplicate an audit record
    producer: Producer = make_producer(
        bootstrap, **{"client.id": client_id, "enable.idempotence": True, "linger.ms": 5}
    )
    return producer


def build_service(
    *,
    policy: TreasuryPolicy,
    venue: Venue,
    redis: RedisClient,
    keyspace: Keyspace,
    backend: ClickHouseBackend,
    producer: Producer,
    topic: str,
    clock: Clock,
    config: ServiceConfig | None = None,
) -> TreasuryService:
    config = config or ServiceConfig()
    # a request's rows are flushed by the service itself; the sink's own triggers are a backstop
    sink = BatchingSink(backend, clock, batch_rows=500, flush_ms=1_000)
    return TreasuryService(
        policy=policy,
        venue=venue,
        records=TransferRecords(redis, keyspace, config.idempotency_ttl_ms),
        ledger=DailyLedger(redis, keyspace),
        locks=Locks(redis),
        keyspace=keyspace,
        # offsets name the sink's batches (insert tokens): start past any earlier run's
        journal=TransferJournal(sink, first_offset=clock.now_ms() * 1_000),
        audit=KafkaAudit(producer, topic),
        clock=clock,
        config=config,
    )


def open_service(settings: Settings, venue: Venue, policy: TreasuryPolicy, clock: Clock) -> TreasuryService:
    """The production wiring: every endpoint from ``settings``."""
    name = f"{settings.worker_id}.treasury"
    return build_service(
        policy=policy,
        venue=venue,
        redis=make_client(settings, client_name=name),
        keyspace=Keyspace.from_settings(settings),
        backend=open_backend(settings),
        producer=audit_producer(settings.kafka_bootstrap, name),
        topic=settings.topic(OPS_EVENTS),
        clock=clock,
        config=ServiceConfig(worker_id=settings.worker_id),
    )
