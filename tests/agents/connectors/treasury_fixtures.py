"""Test kit for the treasury service on the real stack: Redis (single node or Cluster), ClickHouse
(chdb in this process or clickhouse-server 18.16), Apache Kafka for ops.events, SimVenue as venue.

``make_rig`` builds a TreasuryService whose every part is real; tests own a unique Redis key
prefix, a unique ops.events topic and unique transfer_ids (the ClickHouse databases are per
session). A second ``rig.restart()`` shares all of it, as a restarted process would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from simvenue_fixtures import make_config

from agents.connectors.port import TransferResult
from agents.connectors.simvenue import SimVenue
from agents.connectors.treasury.factory import audit_producer, build_service
from agents.connectors.treasury.policy import TreasuryPolicy
from agents.connectors.treasury.service import ServiceConfig, TreasuryService
from chimera.model import Market, TestClock
from sinks.clickhouse.backend import ClickHouseBackend, quote_string
from sinks.clickhouse.chdb_backend import ChdbBackend, current_store
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import Keyspace, RedisClient, make_client
from topics.ops import OpsEvent

D = Decimal
T0 = 1_735_689_600_000

POLICY = TreasuryPolicy.model_validate(
    {
        "limits": {
            "USDT": {"step": "0.00000001", "max_per_transfer": "5000", "max_per_day": "8000"},
            "BTC": {"step": "0.00000001", "max_per_transfer": "1", "max_per_day": "2"},
        },
        "routes": [
            {"from_account": "SPOT", "to_account": "FUT", "asset": "USDT"},
            {"from_account": "FUT", "to_account": "SPOT", "asset": "USDT"},
        ],
    }
)

# two stacks cover all four backends: Redis single + chdb, Redis Cluster + clickhouse-server
STACKS = [
    pytest.param(("single", "chdb"), id="redis+chdb", marks=[pytest.mark.redis, pytest.mark.kafka]),
    pytest.param(
        ("cluster", "server"),
        id="cluster+chserver",
        marks=[pytest.mark.redis_cluster, pytest.mark.clickhouse, pytest.mark.kafka],
    ),
]


def body(
    tid: str, amount: str = "1500", src: str = "SPOT", dst: str = "FUT", asset: str = "USDT"
) -> dict[str, Any]:
    return {
        "transfer_id": tid,
        "from_account": src,
        "to_account": dst,
        "asset": asset,
        "amount": amount,
        "requested_by": "s6",
        "approved_by": "ops-alice",
        "reason": "need=1500 USDT on FUT",
    }


class Crash(BaseException):
    """A process dying mid-call: no ``except Exception`` handler sees it."""


@dataclass
class SpyVenue:
    """SimVenue behind a counter; ``before``/``after`` raise around the real transfer (``after``:
    the money moved and the answer was lost)."""

    sim: SimVenue
    calls: list[str] = field(default_factory=list)
    before: BaseException | None = None
    after: BaseException | None = None
    name: str = "spy"

    async def transfer(
        self, asset: str, amount: Decimal, from_wallet: Market, to_wallet: Market, transfer_id: str
    ) -> TransferResult:
        self.calls.append(transfer_id)
        await asyncio.sleep(0.01)  # the venue takes a moment: racing requests run meanwhile
        if self.before is not None:
            raise self.before
        result = await self.sim.transfer(asset, amount, from_wallet, to_wallet, transfer_id)
        if self.after is not None:
            raise self.after
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sim, name)


@dataclass
class Rig:
    service: TreasuryService
    venue: SpyVenue
    redis: RedisClient
    keyspace: Keyspace
    backend: ClickHouseBackend
    clock: TestClock
    topic: str
    kafka: str
    policy: TreasuryPolicy
    config: ServiceConfig

    async def balance(self, market: Market, asset: str = "USDT") -> Decimal:
        balances = await self.venue.sim.balances(market)
        return balances[asset].free if asset in balances else D(0)

    def rows(self, tid: str) -> list[dict[str, Any]]:
        """Every stored row of the transfer (before merges collapse them), oldest version first.

        Synchronous on purpose: called between requests, never while the service uses the connection.
        """
        return self._select(tid, "")

    def final(self, tid: str) -> list[dict[str, Any]]:
        return self._select(tid, "FINAL")

    def _select(self, tid: str, final: str) -> list[dict[str, Any]]:
        sql = (
            "SELECT transfer_id, version, status, from_account, to_account, asset, amount, reason, "
            f"requested_by, approved_by, venue_transfer_id, created_ts, ts FROM treasury_transfers {final} "
            f"WHERE transfer_id = {quote_string(tid)} ORDER BY version"
        )
        res = self.backend.query(sql)
        return [dict(zip(res.columns, row, strict=True)) for row in res.rows]

    def audit(self, count: int, timeout_s: float = 15.0) -> list[OpsEvent]:
        """Read ``count`` ops.events records from the start of the topic (fails if fewer arrive)."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.kafka,
                "group.id": f"audit-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        consumer.assign([TopicPartition(self.topic, 0, 0)])
        got: list[OpsEvent] = []
        try:
            while len(got) < count:
                msgs = consumer.consume(num_messages=count - len(got), timeout=timeout_s)
                if not msgs:
                    break
                for msg in msgs:
                    assert msg.error() is None, msg.error()
                    got.append(OpsEvent.decode(msg.value() or b""))
        finally:
            consumer.close()
        assert len(got) == count, f"{len(got)} of {count} audit records on {self.topic}: {got}"
        return got

    def audit_all(self) -> list[OpsEvent]:
        """Everything on the topic now (after the service flushed its producer)."""
        admin_consumer = Consumer({"bootstrap.servers": self.kafka, "group.id": f"w-{uuid.uuid4().hex}"})
        try:
            _, high = admin_consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=10)
        finally:
            admin_consumer.close()
        return self.audit(high) if high else []


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture(scope="session")
def treasury_databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], ClickHouseBackend]]:
    """One migrated database per ClickHouse backend for the session, opened on first use."""
    opened: dict[str, ClickHouseBackend] = {}

    def get(kind: str) -> ClickHouseBackend:
        if kind not in opened:
            db = f"t_treasury_{uuid.uuid4().hex[:10]}"
            if kind == "chdb":
                store: Path = current_store() or tmp_path_factory.mktemp("chdb")
                conn: ClickHouseBackend = ChdbBackend(store, db)
            else:
                conn = ServerBackend(request.getfixturevalue("clickhouse_url"), db)
            migrate(conn)
            opened[kind] = conn
        return opened[kind]

    yield get
    for conn in opened.values():
        conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
        conn.close()


@pytest.fixture(params=STACKS)
async def make_rig(
    request: pytest.FixtureRequest,
    unique_name: str,
    kafka_bootstrap: str,
    treasury_databases: Callable[[str], ClickHouseBackend],
) -> AsyncIterator[RigFactory]:
    """Factory: ``await make_rig(balances=..., **config)`` → a Rig on this test's stack."""
    topology, ch_kind = request.param
    if topology == "single":
        redis = make_client(url=request.getfixturevalue("redis_url"), client_name=unique_name)
    else:
        redis = make_client(
            cluster_nodes=request.getfixturevalue("redis_cluster_nodes"), client_name=unique_name
        )
    keyspace = Keyspace(f"{unique_name}.")
    backend = treasury_databases(ch_kind)
    topic = f"ops.events.{unique_name}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)
    producers: list[Any] = []

    async def make(
        balances: dict[str, dict[str, str]] | None = None,
        venue: SpyVenue | None = None,
        clock: TestClock | None = None,
        **config: Any,
    ) -> Rig:
        if venue is None:
            overrides = {} if balances is None else {"initial_balances": balances}
            venue = SpyVenue(SimVenue(make_config(**overrides)))
        clock = clock or TestClock(T0)
        cfg = ServiceConfig(worker_id=unique_name, **config)
        producer = audit_producer(kafka_bootstrap, unique_name)
        producers.append(producer)
        service = build_service(
            policy=POLICY,
            venue=venue,
            redis=redis,
            keyspace=keyspace,
            backend=backend,
            producer=producer,
            topic=topic,
            clock=clock,
            config=cfg,
        )
        await service.load()
        return Rig(service, venue, redis, keyspace, backend, clock, topic, kafka_bootstrap, POLICY, cfg)

    yield make
    for producer in producers:
        producer.flush(10)
    async for key in redis.scan_iter(match=f"{keyspace.prefix}*", count=500):
        await redis.unlink(key)
    await redis.aclose()
    admin.delete_topics([topic])


async def restart(rig: Rig, make_rig: RigFactory, **changes: Any) -> Rig:
    """A new service process on the same venue, Redis, ClickHouse and topic (its memory is gone)."""
    venue = SpyVenue(rig.venue.sim)
    return await make_rig(venue=venue, clock=rig.clock, **changes)
