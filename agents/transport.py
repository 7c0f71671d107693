"""Faust's aiokafka transport with two fixes the embedded broker (Tansu) needs.

1. **Fetch wait from our settings.** Faust passes ``fetch_max_wait_ms=1500`` to every worker
   consumer and has no setting for it. On Tansu that is the latency of every hop, because Tansu
   answers a fetch only when the wait expires, even when data is there (DESIGN §2). aiokafka reads
   the value from the consumer's ``_fetch_max_wait_ms`` when it builds its fetcher in ``start()``,
   so we set it on the consumer Faust has just built, before it starts (the attribute is private:
   we fail loudly if aiokafka renames it).

2. **True end offsets for table recovery.** Tansu 0.6 answers ListOffsets(latest) with the *base*
   offset of the partition's last record batch plus one, not its last offset plus one: after a
   batch of 10 records the "end" is 1. Faust recovers a table up to that end, so it stopped at the
   first of the last batch's changelog records and recovered a stale value (measured). Before
   trusting an end, we read the batch at ``end - 1`` and take its last offset; on Kafka that is
   the record at ``end - 1`` and the end stays as it was.

3. **No input skipped around a recovery** (agents/stream_positions.py): aiokafka is asked for the
   records of Faust's live active partitions through a filter that is never read as "all", and
   Faust's seek to the committed offsets also seeks at offset 0 and where nothing is committed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar, cast

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT

from agents.stream_positions import LiveFilter, seek_to_committed

DEFAULT_FETCH_WAIT_MS = 1500  # Faust's hard-coded value
PROBE_TIMEOUT_S = 10.0


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        if not hasattr(consumer, "_fetch_max_wait_ms"):
            raise RuntimeError("AIOKafkaConsumer._fetch_max_wait_ms is gone: update agents/transport.py")
        consumer._fetch_max_wait_ms = fetch_wait_ms(self.app)
        return consumer

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[TP] | None,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        live = None if active_partitions is None else LiveFilter(active_partitions)
        return await super()._fetch_records(consumer, cast(set[TP], live), timeout, max_records)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        consumer, faust_consumer = self._ensure_consumer(), self.consumer
        offsets = await self.call_thread(
            seek_to_committed,
            consumer,
            faust_consumer._is_changelog_tp,
            self.app.conf.consumer_auto_offset_reset,
        )
        return cast(Mapping[TP, int], offsets)  # None where nothing is committed, as aiokafka's

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        ends = dict(await super()._highwaters(partitions))
        if self.consumer.in_transaction or not any(end and end > 0 for end in ends.values()):
            return ends
        conf, transport = self.app.conf, cast(faust_aiokafka.Transport, self.transport)
        probe = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=faust_aiokafka.server_list(transport.url, transport.default_port),
            client_id=f"{conf.broker_client_id}-end-probe",
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=fetch_wait_ms(self.app),
            **faust_aiokafka.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
        )
        await probe.start()
        try:
            return await last_batch_ends(probe, ends)
        finally:
            await probe.stop()


async def last_batch_ends(probe: aiokafka.AIOKafkaConsumer, ends: Mapping[TP, int]) -> dict[TP, int]:
    """``ends`` corrected to one past the last offset of the record batch at ``end - 1``."""
    out = dict(ends)
    pending = {
        aiokafka.TopicPartition(tp.topic, tp.partition): tp for tp, end in ends.items() if end and end > 0
    }
    probe.assign(list(pending))
    for tp, faust_tp in pending.items():
        probe.seek(tp, ends[faust_tp] - 1)
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    while pending and time.monotonic() < deadline:
        fetched = await probe.getmany(*pending, timeout_ms=200)
        for tp, records in fetched.items():
            if records:
                faust_tp = pending.pop(tp)
                out[faust_tp] = max(out[faust_tp], records[-1].offset + 1)
    # a partition that gave nothing in time (e.g. its tail was deleted) keeps the broker's answer
    return out


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport whose worker consumer uses the app's ``fetch_wait_ms``."""

    Consumer: ClassVar[type[ConsumerT]] = _Consumer


def fetch_wait_ms(app: Any) -> int:
    """The fetch wait an app asks for (``ChimeraApp.fetch_wait_ms``), else Faust's default."""
    return int(getattr(app, "fetch_wait_ms", DEFAULT_FETCH_WAIT_MS))
