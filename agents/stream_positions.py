"""Two fixes that keep a worker from skipping input it was handed around a table recovery.

Found by the S2 redelivery test (tests/agents/features/test_features_agent.py): a worker restarted on
a group rewound to offset 0 recovered its table, said Ready, and then never read the 33 batches of
its backlog (1 run in ~15 under load; traced in the worker). The two causes, both in how Faust
0.15 drives aiokafka 0.14:

1. **An empty partition filter is read as "every partition".** Faust asks aiokafka's fetcher for
   the records of its *live* set of active partitions. Recovery pauses the changelog partitions
   once it has read them, with the stream partitions not resumed yet, so the set is empty for a
   moment; aiokafka's ``fetched_records`` reads an empty filter as no filter (``if partitions and
   tp not in partitions``) and hands over the stream partitions' buffered records. Faust then drops
   them (not active), but aiokafka has moved the position past them. :class:`LiveFilter` keeps the
   live set and is never falsy.

2. **A committed offset of 0 (or none) is not sought to.** After recovery Faust seeks every stream
   partition to its committed offset, which is what should give such dropped records back. aiokafka's
   ``seek_to_committed`` seeks only ``if offset and offset > 0``: at 0 (a group rewound to the start,
   or one that committed before its first record) and with no commit at all (a new group), the
   position stays wherever the fetcher left it. :func:`seek_to_committed` seeks at 0 too and, with no
   commit, resets as ``auto_offset_reset`` says. Changelog partitions keep aiokafka's rule: Faust
   never commits them and positions them itself when it recovers.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping

import aiokafka
from aiokafka import TopicPartition


class LiveFilter:
    """A live set of partitions as aiokafka's ``fetched_records`` filter: membership follows the set
    as Faust pauses and resumes partitions, and an empty set selects none."""

    __slots__ = ("_tps",)

    def __init__(self, tps: Container[object]) -> None:
        self._tps = tps

    def __bool__(self) -> bool:
        return True  # aiokafka skips the filter when it is falsy

    def __contains__(self, tp: object) -> bool:
        return tp in self._tps


async def seek_to_committed(
    consumer: aiokafka.AIOKafkaConsumer, is_changelog: Callable[[TopicPartition], bool], reset: str
) -> Mapping[TopicPartition, int | None]:
    """Seek every assigned stream partition to its committed offset, 0 included; one without a
    commit to its start (``reset`` "earliest") or end ("latest"). Returns the committed offsets, as
    aiokafka's ``seek_to_committed`` does (None where there is none)."""
    committed: dict[TopicPartition, int | None] = {}
    unset: list[TopicPartition] = []
    for tp in consumer.assignment():
        offset = committed[tp] = await consumer.committed(tp)
        if is_changelog(tp):
            if offset:  # aiokafka's own rule, for the partitions Faust positions itself
                consumer.seek(tp, offset)
        elif offset is None:
            unset.append(tp)
        else:
            consumer.seek(tp, offset)
    if unset and reset == "earliest":
        await consumer.seek_to_beginning(*unset)
    elif unset and reset == "latest":
        await consumer.seek_to_end(*unset)
    return committed
