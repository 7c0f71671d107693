"""The trading path end to end on the real stack: one ``chimera worker`` running S2, S3, S4 and S6
(``features,strategy,router,positions``) on Apache Kafka, Redis and clickhouse-server, under a
topic prefix, a Redis key prefix and a ClickHouse database of the test's own; the input a slice of
the recorded BTC perpetual month as ``chimera replay`` publishes it (one 60 s batch per bar).

The replay is *paced*: a market batch is published only once the worker has finished everything
it produced so far (``GET /router/progress/``: nothing in flight, every record it sent to a topic
it consumes consumed by all its agents) and the previous batch. Each batch's consequences —
features, decisions, intents, orders, fills, stops — are then complete before the next batch moves
the paper venue, so the same input gives the same orders, fills and positions.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis
from confluent_kafka import Consumer, Producer, TopicPartition

from agents.config.cli import DEFAULT_BUNDLE
from agents.config.kafka import KafkaEventSender
from agents.config.store import ConfigStore
from agents.connectors.marketdata import MicroBatcher
from agents.connectors.recordings import load_file
from agents.connectors.replay import replay_records
from agents.demo.kafka import Publisher
from chimera.model import LiveClock
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import Keyspace, make_client
from tests.agents.connectors.market_fixtures import BTC_MONTH
from tests.agents.worker_kit import POLL_S, Reader, Worker, committed_offsets, worker_env
from topics.trading import CancelIntent, IntentMessage, OrderIntent, OrderResult, PositionEvent

DAY_MS = 86_400_000
START = 1_641_772_800_000  # 2022-01-10 00:00 UTC
DAYS = float(os.environ.get("CHIMERA_TEST_PIPELINE_DAYS", "0.5"))  # 720 batches, ~25 positions
SERVICES = "features,strategy,router,positions"
SYMBOL = "BTCUSDT"
STEP_TIMEOUT_S = 60.0  # one batch's consequences; a restart's recovery counts against it
MAX_STALLS = 4  # restarts of a stalled worker per barrier before the test gives up
WORKER_ID = "w"
STALL_S = 15.0  # idle with work left this long: stalled (see PacedReplay.barrier)
PAPER_USDT = Decimal(10_000)  # each paper wallet's start (agents.router.agent.PAPER_USDT)


def pipeline_bundle() -> dict[str, Any]:
    """The demo's default bundle, its model given time enough that a loaded machine never falls
    back (the timeout is wall clock: a fallback in one run and not the other would differ)."""
    doc = json.loads(DEFAULT_BUNDLE.read_text())
    doc["bundle_id"] = "pipeline"
    doc["strategy"]["model"]["timeout_ms"] = 5_000
    return dict(doc)


def replay_messages(start: int = START, days: float = DAYS) -> list[tuple[str, bytes, bytes]]:
    """``(logical topic, key, value)`` as ``chimera replay`` publishes the slice (60 s batches)."""
    end = start + int(days * DAY_MS)
    records = (r for r in load_file(BTC_MONTH) if start <= r.ts < end)
    out: list[tuple[str, bytes, bytes]] = []

    def send(topic: str, key: str, value: bytes) -> None:
        out.append((topic, key.encode(), value))

    replay_records(records, send, MicroBatcher(60_000, 256, 5), "")
    return out


@dataclass
class Stack:
    """One test's names on the shared services."""

    bootstrap: str
    prefix: str
    redis_url: str
    clickhouse_url: str
    database: str
    data_dir: Path
    readers: list[Reader] = field(default_factory=list)

    @property
    def keyspace(self) -> Keyspace:
        return Keyspace(self.prefix)

    def topic(self, name: str) -> str:
        return self.prefix + name

    @property
    def group(self) -> str:
        """The workers' consumer group (the Faust app id)."""
        return self.topic(WORKER_ID)

    def env(self) -> dict[str, str]:
        env = worker_env(self.bootstrap, self.prefix, WORKER_ID, self.data_dir)
        env.update(
            {
                "CHIMERA_REDIS_URL": self.redis_url,
                "CHIMERA_REDIS_KEY_PREFIX": self.prefix,
                "CHIMERA_CLICKHOUSE_BACKEND": "server",
                "CHIMERA_CLICKHOUSE_URL": self.clickhouse_url,
                "CHIMERA_CLICKHOUSE_DATABASE": self.database,
                "CHIMERA_SINK_FLUSH_MS": "1000",
            }
        )
        return env

    # ---- the config and inputs S3 reads ------------------------------------------------------------
    async def _activate(self, doc: dict[str, Any]) -> None:
        client = make_client(url=self.redis_url)
        backend = ServerBackend(self.clickhouse_url, self.database)
        try:
            store = ConfigStore(
                backend, client, self.keyspace, KafkaEventSender(self.bootstrap, self.prefix), LiveClock()
            )
            loaded = await store.load(json.dumps(doc))
            await store.activate(loaded.bundle.bundle_id, loaded.bundle.rev)
        finally:
            backend.close()
            await client.aclose()

    def prepare(self, doc: dict[str, Any] | None = None) -> None:
        """Activate the bundle; regime NORMAL and health GREEN (no S11 or regime job runs here)."""
        asyncio.run(self._activate(doc or pipeline_bundle()))
        with self.redis() as r:
            r.set(self.keyspace.regime_market_state(), json.dumps({"regime": "NORMAL", "expires_at": 2**62}))
            r.set(self.keyspace.health_system_state(), "GREEN")

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, decode_responses=True)

    # ---- reading the record ------------------------------------------------------------------------
    def query(self, sql: str) -> list[dict[str, Any]]:
        backend = ServerBackend(self.clickhouse_url, self.database)
        try:
            res = backend.query(sql)
        finally:
            backend.close()
        return [dict(zip(res.columns, row, strict=True)) for row in res.rows]

    def reader(self, name: str) -> Reader:
        r = Reader(self.bootstrap, self.topic(name))
        self.readers.append(r)
        return r

    def close(self) -> None:
        for r in self.readers:
            r.close()


def get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


class PacedReplay:
    """Publish the messages one at a time, each once the worker is done with everything before it."""

    def __init__(
        self, stack: Stack, messages: list[tuple[str, bytes, bytes]], worker: Callable[[], Worker]
    ) -> None:
        self.stack = stack
        self.messages = messages
        self.worker = worker
        self.next = 0
        self.sent: dict[str, dict[int, int]] = {}  # physical topic -> partition -> last offset sent
        self.partition: dict[str, int] = {}
        self._publisher = Publisher(stack.bootstrap)  # the demo driver's: one at a time, acked, murmur2
        self.waited_s = 0.0
        self.last: tuple[str, int, int] | None = None  # where the last message went
        self.on_stall: Callable[[], None] | None = None
        self.stalls: list[str] = []

    def finished(self, topic: str, partition: int, offset: int) -> bool:
        """The worker has finished ``topic[partition]@offset`` and everything it produced so far."""
        w = self.worker()
        if w.proc is None or w.proc.poll() is not None:
            return False
        p = get_json(f"{w.web}/router/progress/")
        return p is not None and bool(p["quiet"]) and p["done"].get(f"{topic}:{partition}", -1) >= offset

    def committed_past(self, topic: str, partition: int, offset: int) -> bool:
        """The workers' group has committed past ``offset``: an earlier (killed) worker finished the
        record and its consequences were acked, so the one now running never reads it again."""
        return committed_offsets(self.stack.bootstrap, self.stack.group, topic).get(partition, -1) > offset

    def barrier(self, topic: str, partition: int, offset: int, timeout_s: float = STEP_TIMEOUT_S) -> None:
        """Wait until :meth:`finished` (a restarted worker's recovery counts against the timeout).

        A worker that is up and idle, has finished nothing new for ``STALL_S`` and still not this
        record has either nothing to do — the record was finished and committed by the worker a kill
        replaced (the group's committed offset is past it) — or is stalled: Faust 0.15.3 can drop the
        records it fetches while it seeks to the committed offsets after a rebalance, and then waits
        for new ones. With ``on_stall`` set, a stall calls it (a restart), is counted, and the wait
        starts again; more than ``MAX_STALLS`` in one barrier fail the test."""
        began = last_change = time.monotonic()
        last_done: Any = None
        stalls = 0
        while not self.finished(topic, partition, offset):
            now = time.monotonic()
            w = self.worker()
            progress = get_json(f"{w.web}/router/progress/") if w.proc is not None else None
            done = None if progress is None else progress["done"]
            if done != last_done:
                last_done, last_change = done, now
            elif progress is not None and progress["quiet"] and now - last_change > STALL_S:
                if self.committed_past(topic, partition, offset):
                    break
                if self.on_stall is not None:
                    stalls += 1
                    if stalls > MAX_STALLS:
                        raise AssertionError(
                            f"the worker stalled {stalls} times on {topic}:{partition}@{offset}: "
                            f"{progress}\n{w.log_tail()}"
                        )
                    self.stalls.append(f"{topic}:{partition}@{offset} (done {done})")
                    self.on_stall()
                    began = last_change = time.monotonic()
                    continue
            if now - began > timeout_s:
                raise AssertionError(
                    f"the worker did not finish {topic}:{partition}@{offset} in {timeout_s} s: {progress}\n"
                    f"{w.log_tail()}"
                )
            time.sleep(POLL_S / 10)
        self.waited_s += time.monotonic() - began

    def publish_next(self) -> tuple[str, int, int]:
        """Publish the next message without waiting for the worker; return where it went."""
        logical, key, value = self.messages[self.next]
        topic = self.stack.topic(logical)
        partition, offset = self._publisher.send(topic, key, value)
        self.partition[logical] = partition
        self.sent.setdefault(topic, {})[partition] = offset
        self.next += 1
        self.last = (topic, partition, offset)
        return self.last

    def step(self) -> None:
        self.barrier(*self.publish_next())

    def run(self, until: int | None = None, between: Callable[[int], None] | None = None) -> None:
        end = len(self.messages) if until is None else until
        while self.next < end:
            self.step()
            if between is not None:
                between(self.next)

    def __iter__(self) -> Iterator[int]:
        while self.next < len(self.messages):
            self.step()
            yield self.next


class Made:
    """Stacks and workers made for a test (or a module); ``close`` kills and drops them all."""

    def __init__(self, bootstrap: str, redis_url: str, clickhouse_url: str, base: str, tmp: Path) -> None:
        self.args = (bootstrap, redis_url, clickhouse_url)
        self.base, self.tmp = base, tmp
        self.stacks: list[Stack] = []
        self.workers: list[Worker] = []

    def stack(self, name: str = "") -> Stack:
        bootstrap, redis_url, clickhouse_url = self.args
        db = f"{self.base}{name}"
        backend = ServerBackend(clickhouse_url, db)
        try:
            migrate(backend)
        finally:
            backend.close()
        s = Stack(bootstrap, f"{db}.", redis_url, clickhouse_url, db, self.tmp / f"data{name}")
        self.stacks.append(s)
        return s

    def worker(self, stack: Stack) -> Worker:
        w = Worker(stack.env(), self.tmp / f"worker{len(self.workers)}.log")
        self.workers.append(w)
        return w

    def close(self) -> None:
        for w in self.workers:
            w.close()
        for s in self.stacks:
            s.close()
            backend = ServerBackend(s.clickhouse_url, s.database)
            try:
                backend.execute(f"DROP DATABASE IF EXISTS {s.database}")
            finally:
                backend.close()
            with s.redis() as client:
                for key in client.scan_iter(match=f"{s.prefix}*", count=500):
                    client.unlink(key)


# ---- the outcome ---------------------------------------------------------------------------------
def orders_latest(stack: Stack) -> list[dict[str, Any]]:
    """Each order's newest row (``orders`` holds one row per state change)."""
    return stack.query(
        "SELECT * FROM orders FINAL WHERE (client_order_id, version) IN "
        "(SELECT client_order_id, max(version) FROM orders GROUP BY client_order_id) "
        "ORDER BY client_order_id"
    )


def fills(stack: Stack) -> list[dict[str, Any]]:
    return stack.query("SELECT * FROM fills FINAL ORDER BY ts, trade_id")


def outcome(stack: Stack) -> dict[str, Any]:
    """What a run ends with, in a form two runs can be compared by (no wall-clock values)."""
    orders = orders_latest(stack)
    keep = ("client_order_id", "intent_id", "exchange_order_id", "side", "order_type", "status",
            "reduce_only", "price", "stop_price", "qty", "filled_qty", "avg_price", "reason", "ts",
            "version")  # fmt: skip
    snaps = stack.query(
        "SELECT pos_id, seq, status, qty, entry_price, realized_pnl, fees_paid, sl_price, ts "
        "FROM positions_snapshots FINAL ORDER BY pos_id, seq"
    )
    return {
        "orders": [{k: str(o[k]) for k in keep} for o in orders],
        "fills": [{k: str(v) for k, v in f.items() if k != "slippage_bps"} for f in fills(stack)],
        "snapshots": [{k: str(v) for k, v in s.items()} for s in snaps],
    }


def wait_rows(
    stack: Stack, sql: str, check: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        rows = stack.query(sql)
        if check(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for rows of {sql!r}: {len(rows)} so far")
        time.sleep(0.2)


def agent_crashes(worker: Worker) -> list[str]:
    """Agents that raised (Faust restarts them, acking the record they failed on: never expected)."""
    return [line for line in worker.log_text().splitlines() if "Crashed reason=" in line]


def money(x: Any) -> Decimal:
    return Decimal(str(x))


def read_all(stack: Stack, name: str) -> list[bytes]:
    """Every record of a topic now (a fresh reader, to its end)."""
    r = Reader(stack.bootstrap, stack.topic(name))
    try:
        r.poll()
        while r.poll():
            pass
        return r.values()
    finally:
        r.close()


def intents_sent(stack: Stack) -> dict[str, OrderIntent | CancelIntent]:
    """Every intent on ``ord.intents`` by intent_id (a record delivered twice counts once)."""
    out: dict[str, OrderIntent | CancelIntent] = {}
    for v in read_all(stack, "ord.intents"):
        msg = IntentMessage.model_validate_json(v).root
        out.setdefault(msg.intent_id, msg)
    return out


def results_sent(stack: Stack) -> list[OrderResult]:
    return [OrderResult.decode(v) for v in read_all(stack, "ord.results")]


def position_events(stack: Stack) -> list[PositionEvent]:
    """S6's events, each (pos_id, seq) once."""
    seen: dict[tuple[str, int], PositionEvent] = {}
    for v in read_all(stack, "pos.events"):
        e = PositionEvent.decode(v)
        seen.setdefault((e.pos_id, e.seq), e)
    return sorted(seen.values(), key=lambda e: (e.ts, e.pos_id, e.seq))


def settle(stack: Stack, timeout_s: float = 60.0) -> None:
    """Wait until ClickHouse holds every order state and fill the router announced (the sinks write
    on Faust's commit and on a timer), and the snapshot rows stop changing."""
    results = results_sent(stack)
    want_versions: dict[str, int] = {}
    want_fills: set[str] = set()
    for r in results:
        want_versions[r.client_order_id] = max(want_versions.get(r.client_order_id, -1), r.version)
        want_fills.update(f.trade_id for f in r.fills)

    def orders_in() -> bool:
        got = stack.query("SELECT client_order_id, max(version) AS v FROM orders GROUP BY client_order_id")
        return {g["client_order_id"]: g["v"] for g in got} == want_versions

    def fills_in() -> bool:
        return {f["trade_id"] for f in stack.query("SELECT DISTINCT trade_id FROM fills")} == want_fills

    deadline = time.monotonic() + timeout_s
    while not (orders_in() and fills_in()):
        if time.monotonic() > deadline:
            raise AssertionError("ClickHouse never caught up with ord.results")
        time.sleep(0.2)
    last = None
    while time.monotonic() < deadline:
        n = stack.query("SELECT count() AS n FROM positions_snapshots")[0]["n"]
        if n == last:
            return
        last = n
        time.sleep(1.5)  # longer than the sinks' flush interval


class Duplicator(threading.Thread):
    """Delivers every record of some topics twice: each original is produced once more into its own
    partition, marked by a header so that copies are not copied again. The copy comes a little
    later than the original, as a redelivery after a rebalance or a producer retry would."""

    HEADER = "chimera-test-copy"

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.topics = topics
        self.copied = 0
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _run(self) -> None:
        consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": f"dup-{uuid.uuid4().hex[:8]}",
             "enable.auto.commit": False, "fetch.wait.max.ms": 5}
        )  # fmt: skip
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 0})
        parts = []
        for topic in self.topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            parts += [TopicPartition(topic, p, 0) for p in meta.partitions]
        consumer.assign(parts)
        try:
            while not self._halt.is_set():
                for msg in consumer.consume(500, timeout=0.05):
                    if msg.error() is not None:
                        continue
                    if any(k == self.HEADER for k, _ in msg.headers() or []):
                        continue
                    producer.produce(
                        msg.topic(),
                        msg.value(),
                        msg.key(),
                        partition=msg.partition(),
                        headers=[(self.HEADER, b"1")],
                    )
                    self.copied += 1
                producer.poll(0)
        finally:
            producer.flush(30)
            consumer.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)
        if self.error is not None:
            raise self.error


StackFactory = Callable[[str], Stack]
WorkerFactory = Callable[[Stack], Worker]
