"""``cfg.events`` both ways: announce an activation (S10) and follow them (every worker, RCU).

Following is a broadcast: every worker must see every activation, so the follower is a plain
consumer with no group, assigned the topic's one partition, reading from its end. Its start is
race-free: it takes the end offset first, then reads ``cfg:{active}`` and installs that bundle, then
applies every event from that offset on (an event about the bundle just installed is a no-op). A
bad event or a bundle that no longer validates is logged and skipped: the worker keeps the bundle
it has (an activation is refused by the store before it is announced, so this is a corrupt record).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agents.config.active import ActiveBundle, ActiveConfig
from agents.config.bundle import Bundle
from agents.config.store import ActiveRef, ConfigStore
from chimera.settings import Settings
from topics.codec import decode, encode, key_for
from topics.ops import ConfigEvent

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0
TOPIC = "cfg.events"
SCOPES = frozenset({"global", "strategy"})  # what S3 applies; other scopes configure other services


class KafkaEventSender:
    """Send ConfigEvents with confluent-kafka, creating the topic (and its DLQ twin) once."""

    def __init__(
        self, bootstrap: str, prefix: str = "", replication: int = 1, timeout_s: float = 15.0
    ) -> None:
        self._bootstrap, self._prefix, self._replication = bootstrap, prefix, replication
        self._timeout = timeout_s
        self._ensured = False

    def __call__(self, event: ConfigEvent) -> None:
        from topics.admin import ensure_topics
        from topics.producer import make_producer

        if not self._ensured:
            ensure_topics(
                self._bootstrap, self._prefix, 1, self._replication, names=[TOPIC], timeout=self._timeout
            )
            self._ensured = True
        errors: list[str] = []
        producer = make_producer(self._bootstrap, acks="all")
        producer.produce(
            self._prefix + TOPIC,
            encode(event, TOPIC),
            key_for(TOPIC, event),
            on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
        )
        left = producer.flush(self._timeout)
        if left or errors:
            raise RuntimeError(f"{self._prefix}{TOPIC}: config event not delivered ({errors or 'timeout'})")


Fetch = Callable[[str, str], Awaitable[Bundle]]
ActiveNow = Callable[[], Awaitable[ActiveRef | None]]


class ConfigFollower:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        holder: ActiveConfig,
        fetch: Fetch,
        active_now: ActiveNow,
        fetch_wait_ms: int = 100,
    ) -> None:
        self.topic = topic
        self.holder = holder
        self._bootstrap = bootstrap
        self._fetch = fetch
        self._active_now = active_now
        self._wait_ms = fetch_wait_ms
        self.applied: list[str] = []  # revs installed, in order (tests and logs read it)
        self.rejected = 0

    @classmethod
    def for_worker(cls, settings: Settings, holder: ActiveConfig, store: ConfigStore) -> ConfigFollower:
        """A worker's follower of ``cfg.events`` into ``holder``, bundles read from ``store``."""
        return cls(
            settings.kafka_bootstrap,
            settings.topic(TOPIC),
            holder,
            store.fetch,
            store.active,
            fetch_wait_ms=max(settings.fetch_wait_ms, 50),
        )

    async def install(self, bundle_id: str, rev: str) -> bool:
        try:
            bundle = await self._fetch(bundle_id, rev)
        except Exception as exc:  # a bad record must not stop the worker: keep the current bundle
            self.rejected += 1
            log.error("config %s rev %s not installed, keeping %s: %s", bundle_id, rev, self._cur(), exc)
            return False
        if self.holder.swap(ActiveBundle.of(bundle)) is not self.holder.peek():
            self.applied.append(bundle.rev)
            log.info("config bundle %s rev %s is active", bundle.bundle_id, bundle.rev)
        return True

    def _cur(self) -> str:
        snap = self.holder.peek()
        return "nothing" if snap is None else f"{snap.bundle_id} rev {snap.rev}"

    async def run(self, started: asyncio.Event | None = None) -> None:
        """Follow until cancelled; ``started`` is set once the starting bundle (if any) is in."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=self._wait_ms,
        )
        await consumer.start()
        try:
            tp = TopicPartition(self.topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_end(tp)
            await consumer.position(tp)  # resolve the end now: events after it are the news
            ref = await self._active_now()
            if ref is not None:
                await self.install(ref.bundle_id, ref.rev)
            if started is not None:
                started.set()
            while True:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for msg in batch.get(tp, []):
                    await self._apply(msg.value)
        finally:
            await consumer.stop()

    async def run_forever(self, started: asyncio.Event | None = None) -> None:
        """:meth:`run`, restarted after a failure (e.g. the topic not there yet) until cancelled."""
        backoff = 0.2
        while True:
            try:
                await self.run(started)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s follower stopped (%s); again in %.1f s", self.topic, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)

    async def _apply(self, raw: bytes | None) -> None:
        try:
            event = decode(self.topic, raw)
        except ValueError as exc:
            self.rejected += 1
            log.error("%s: unreadable config event skipped: %s", self.topic, exc)
            return
        assert isinstance(event, ConfigEvent)
        if event.scope in SCOPES:
            await self.install(event.bundle_id, event.rev)
