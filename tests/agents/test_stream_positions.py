"""agents/stream_positions.py with a real aiokafka consumer on the real brokers: what aiokafka does
without each fix (so a change in aiokafka shows here), and the records given back with it."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from agents.stream_positions import LiveFilter, seek_to_committed

PER_PARTITION = 5


def topic_with_records(bootstrap: str) -> str:
    """A new two-partition topic with PER_PARTITION records on each."""
    name = f"t_positions_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 2, 1)])[name].result()
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition in (0, 1):
        for i in range(PER_PARTITION):
            producer.produce(name, f"{partition}-{i}".encode(), partition=partition)
    assert producer.flush(10) == 0
    return name


def consumer_of(bootstrap: str, group: str | None = None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,  # Tansu answers a fetch only when the wait expires
    )


async def buffered(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
    """Wait until the fetcher holds records of every partition in ``tps`` (none handed over yet)."""
    deadline = time.monotonic() + 20
    while not all(tp in consumer._fetcher._records for tp in tps):
        assert time.monotonic() < deadline, "the fetcher buffered nothing in 20 s"
        await asyncio.sleep(0.02)


async def values(consumer: AIOKafkaConsumer, want: int) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + 20
    while len(got) < want and time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            got += [r.value for r in records if r.value is not None]
    return got


async def test_an_empty_live_filter_hands_over_nothing(any_bootstrap: str) -> None:
    topic = topic_with_records(any_bootstrap)
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    consumer = consumer_of(any_bootstrap)
    await consumer.start()
    try:
        consumer.assign(tps)
        await buffered(consumer, tps)
        fetcher, active = consumer._fetcher, {tps[0]}
        assert set(await fetcher.fetched_records(LiveFilter(active), timeout=0)) == {tps[0]}
        active.clear()  # as Faust's set is between reading the changelog and resuming the streams
        assert await fetcher.fetched_records(LiveFilter(active), timeout=0) == {}
        # what Faust passed before: the empty set itself, which aiokafka reads as every partition
        assert set(await fetcher.fetched_records(set(), timeout=0)) == {tps[1]}
    finally:
        await consumer.stop()


@pytest.mark.parametrize("committed", [0, None], ids=["committed-0", "nothing-committed"])
async def test_records_handed_over_are_given_back_by_the_seek_to_committed(
    any_bootstrap: str, committed: int | None
) -> None:
    """The records were handed over (position at the end) but never processed: the seek must put
    the position back where the group's commit says, as it does for any offset above 0."""
    topic = topic_with_records(any_bootstrap)
    group = f"g_positions_{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topic, 0)
    consumer = consumer_of(any_bootstrap, group)
    await consumer.start()
    try:
        consumer.assign([tp])
        if committed is not None:
            await consumer.commit({tp: OffsetAndMetadata(committed, "")})
        assert len(await values(consumer, PER_PARTITION)) == PER_PARTITION
        assert await consumer.position(tp) == PER_PARTITION
        assert await consumer.seek_to_committed() == {tp: committed}
        assert await consumer.position(tp) == PER_PARTITION, "aiokafka now seeks here: drop the fix?"

        offsets = await seek_to_committed(consumer, lambda _tp: False, "earliest")
        assert offsets == {tp: committed}
        assert await consumer.position(tp) == 0
        assert await values(consumer, PER_PARTITION) == [f"0-{i}".encode() for i in range(PER_PARTITION)]
    finally:
        await consumer.stop()


async def test_a_changelog_partition_keeps_its_position(any_bootstrap: str) -> None:
    """Faust positions its changelog partitions itself (recovery, standbys) and never commits them."""
    topic = topic_with_records(any_bootstrap)
    tp = TopicPartition(topic, 1)
    consumer = consumer_of(any_bootstrap, f"g_positions_{uuid.uuid4().hex[:8]}")
    await consumer.start()
    try:
        consumer.assign([tp])
        assert len(await values(consumer, PER_PARTITION)) == PER_PARTITION
        assert await seek_to_committed(consumer, lambda t: t == tp, "earliest") == {tp: None}
        assert await consumer.position(tp) == PER_PARTITION
    finally:
        await consumer.stop()
